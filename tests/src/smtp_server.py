"""The SMTP server of backupman's test kit (see smtp.rs): aiosmtpd on a loopback port, in
plain, STARTTLS or implicit-TLS mode, that writes every message it accepts to a folder as
JSON, already parsed by Python's email package so that tests can assert on each part.

Usage: smtp_server.py MODE DIR [--cert C --key K] [--login USER --password-file F] [--reject]

It listens on 127.0.0.1 on a port the system picks and writes that port to DIR/port once it
accepts connections. With --reject it answers every message with a temporary failure (451)
and counts the attempts in DIR/attempts.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def part(message, subtype):
    body = message.get_body(preferencelist=(subtype,))
    return None if body is None else body.get_content()


class Handler:
    def __init__(self, folder, reject):
        self.folder = folder
        self.reject = reject
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if self.reject:
            write_atomically(os.path.join(self.folder, "attempts"), str(self.count))
            return "451 4.3.0 test server: try again later"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": None if session.auth_data is None else session.auth_data.login.decode(),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "content_type": message.get_content_type(),
            "text": part(message, "plain"),
            "html": part(message, "html"),
            "raw": raw.decode("utf-8", errors="replace"),
        }
        name = os.path.join(self.folder, "messages", "%04d.json" % self.count)
        write_atomically(name, json.dumps(record))
        return "250 OK"


def main():
    args = argparse.ArgumentParser()
    args.add_argument("mode", choices=["plain", "starttls", "implicit"])
    args.add_argument("dir")
    args.add_argument("--cert")
    args.add_argument("--key")
    args.add_argument("--login")
    args.add_argument("--password-file")
    args.add_argument("--reject", action="store_true")
    opts = args.parse_args()
    os.makedirs(os.path.join(opts.dir, "messages"), exist_ok=True)

    context = None
    if opts.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(opts.cert, opts.key)

    kwargs = {}
    if opts.login:
        with open(opts.password_file, encoding="utf-8") as f:
            password = f.read()

        def authenticate(server, session, envelope, mechanism, data):
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == opts.login
                and data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        kwargs["authenticator"] = authenticate
        kwargs["auth_required"] = True
    if opts.mode == "starttls":
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = True
    if opts.mode == "implicit" or (opts.mode == "plain" and opts.login):
        # aiosmtpd counts only STARTTLS as TLS; an implicit-TLS connection is encrypted from
        # the first byte. (A plain server with AUTH lets a test show that credentials never
        # cross a plain connection.)
        kwargs["auth_require_tls"] = False

    handler = Handler(opts.dir, opts.reject)
    loop = asyncio.new_event_loop()
    server_ssl = context if opts.mode == "implicit" else None
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(handler, hostname="localhost", **kwargs),
            host="127.0.0.1",
            port=0,
            ssl=server_ssl,
        )
    )
    port = server.sockets[0].getsockname()[1]
    write_atomically(os.path.join(opts.dir, "port"), str(port))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
