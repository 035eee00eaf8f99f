#!/bin/bash
# The image's HEALTHCHECK: `GET /ping` on the port `backupman serve` listens on, read from
# its own command line (-p/--port, --bind), with bash's /dev/tcp because the image has no
# curl. Any other command (a one-shot `run`, `restore`, ...) does not listen, and passes.
# BACKUPMAN_HEALTHCHECK_PID names another process than the container's first (for tests).
set -u

mapfile -d '' args < "/proc/${BACKUPMAN_HEALTHCHECK_PID:-1}/cmdline"
serving=false
port=8080
host=127.0.0.1
for ((i = 1; i < ${#args[@]}; i++)); do
    arg=${args[i]}
    next=${args[i + 1]:-}
    case $arg in
        serve) serving=true ;;
        -p | --port) port=$next ;;
        --port=*) port=${arg#--port=} ;;
        -p*) port=${arg#-p} ;;
        --bind) host=$next ;;
        --bind=*) host=${arg#--bind=} ;;
    esac
done
$serving || exit 0
# A wildcard bind answers on loopback; a specific address only on itself.
case $host in
    0.0.0.0) host=127.0.0.1 ;;
    ::) host=::1 ;;
esac

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
response=$(cat <&3)
[[ $response == "HTTP/1.0 200"* || $response == "HTTP/1.1 200"* ]] && [[ $response == *pong* ]]
