//! A store that fails some requests: an HTTP proxy on loopback in front of a real S3 server
//! that, for a chosen share of requests, drops the connection mid-request (no answer),
//! answers `503 SlowDown` as S3 does when overloaded, or stalls longer than the client waits.
//! The rest are forwarded untouched. Each connection carries one request (the proxy asks
//! both sides to close after it), so every request is decided on its own. Dropped, the proxy
//! stops accepting; a connection it is serving ends by itself.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Shares of requests to fail, each between 0 and 1 (together at most 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Read half the request, then close the connection without an answer.
    pub drop: f64,
    /// Answer `503 SlowDown` without forwarding.
    pub slow_down: f64,
    /// Read the request, then answer nothing for `stall_for`, then close.
    pub stall: f64,
    /// How long a stalled request hangs (make it longer than the client's timeout).
    pub stall_for: Duration,
}

/// What the proxy did, request by request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests seen.
    pub requests: u64,
    /// Forwarded to the server.
    pub forwarded: u64,
    /// Dropped mid-request.
    pub dropped: u64,
    /// Answered 503 SlowDown.
    pub slowed: u64,
    /// Stalled.
    pub stalled: u64,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Faults>,
    tally: Mutex<Tally>,
    /// The request line of every request seen, in order.
    lines: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// xorshift state: the same seed makes the same choices, request by request.
    rng: AtomicU64,
}

/// The running proxy.
#[derive(Debug)]
pub struct FaultProxy {
    /// The loopback port it listens on.
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, faults: Faults, seed: u64) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults),
            rng: AtomicU64::new(seed.max(1)),
            ..Shared::default()
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            while !accepting.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = accepting.clone();
                        thread::spawn(move || serve(client, upstream, &shared));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, shared }
    }

    /// The endpoint to configure instead of the server's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes the shares of requests to fail from now on.
    pub fn set(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// What the proxy did so far.
    pub fn tally(&self) -> Tally {
        self.shared.tally.lock().unwrap().clone()
    }

    /// The request lines seen so far (`PUT /bucket/key?partNumber=1&uploadId=… HTTP/1.1`).
    pub fn request_lines(&self) -> Vec<String> {
        self.shared.lines.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

enum Fate {
    Forward,
    Drop,
    SlowDown,
    Stall(Duration),
}

fn choose(shared: &Shared) -> Fate {
    let mut x = shared.rng.load(Ordering::Relaxed);
    loop {
        let mut next = x;
        next ^= next << 13;
        next ^= next >> 7;
        next ^= next << 17;
        match shared
            .rng
            .compare_exchange(x, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {
                x = next;
                break;
            }
            Err(current) => x = current,
        }
    }
    let roll = (x >> 11) as f64 / (1u64 << 53) as f64;
    let f = *shared.faults.lock().unwrap();
    if roll < f.drop {
        Fate::Drop
    } else if roll < f.drop + f.slow_down {
        Fate::SlowDown
    } else if roll < f.drop + f.slow_down + f.stall {
        Fate::Stall(f.stall_for)
    } else {
        Fate::Forward
    }
}

/// One request's head, as bytes with `Connection: close` in place of any Connection
/// header, and the length of its body.
fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, String, u64, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = client.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let mut head = format!("{request_line}\r\n");
    let mut length = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
        if !name.eq_ignore_ascii_case("connection") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    Some((head.into_bytes(), request_line, length, buf[end..].to_vec()))
}

/// Reads `length` body bytes (some already read), passing each piece to `sink`.
fn read_body(
    client: &mut TcpStream,
    length: u64,
    already: Vec<u8>,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> bool {
    let mut left = length.saturating_sub(already.len() as u64);
    if !already.is_empty() && !sink(&already) {
        return false;
    }
    let mut chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = chunk.len().min(left as usize);
        match client.read(&mut chunk[..want]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                left -= n as u64;
                if !sink(&chunk[..n]) {
                    return false;
                }
            }
        }
    }
    true
}

fn serve(mut client: TcpStream, upstream: u16, shared: &Shared) {
    let _ = client.set_nonblocking(false);
    let Some((head, request_line, length, already)) = read_head(&mut client) else {
        return;
    };
    shared.lines.lock().unwrap().push(request_line);
    shared.tally.lock().unwrap().requests += 1;
    match choose(shared) {
        Fate::Drop => {
            shared.tally.lock().unwrap().dropped += 1;
            let half = length / 2;
            let mut seen = already.len() as u64;
            read_body(&mut client, half, already, |piece| {
                seen += piece.len() as u64;
                seen < half
            });
            let _ = client.shutdown(Shutdown::Both);
        }
        Fate::SlowDown => {
            shared.tally.lock().unwrap().slowed += 1;
            read_body(&mut client, length, already, |_| true);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            let answer = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes());
            let _ = client.shutdown(Shutdown::Both);
        }
        Fate::Stall(how_long) => {
            shared.tally.lock().unwrap().stalled += 1;
            read_body(&mut client, length, already, |_| true);
            thread::sleep(how_long);
            let _ = client.shutdown(Shutdown::Both);
        }
        Fate::Forward => {
            shared.tally.lock().unwrap().forwarded += 1;
            let Ok(mut server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
                return;
            };
            if server.write_all(&head).is_err() {
                return;
            }
            let complete = read_body(&mut client, length, already, |piece| {
                server.write_all(piece).is_ok()
            });
            if !complete {
                return;
            }
            let mut answer = server;
            let _ = std::io::copy(&mut answer, &mut client);
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}
