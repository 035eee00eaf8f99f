//! [`LatencyProxy`]: a loopback TCP relay in front of any server that holds every byte for a
//! fixed one-way delay in each direction, as a distant store would, and notes the request
//! line of every HTTP request it relays, so a test can count what was asked (e.g. that a run
//! of five sources lists incomplete uploads once per drive, or that no manifest was read).
//!
//! It runs on a thread of its own with its own runtime, so it works the same from a plain
//! `#[test]`, a `#[tokio::test]` and a benchmark; dropping it stops it and closes every
//! connection. With an enormous delay it is a server that accepts connections but never
//! answers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A delaying, request-counting TCP relay on `127.0.0.1`; stopped when dropped.
#[derive(Debug)]
pub struct LatencyProxy {
    /// The port clients connect to.
    pub port: u16,
    /// The delay added to every byte in each direction.
    pub one_way: Duration,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LatencyProxy {
    /// Starts relaying `127.0.0.1:<port>` to `127.0.0.1:upstream`, each direction delayed
    /// by `one_way` (so a request and its answer take `2 × one_way` longer).
    pub fn start(upstream: u16, one_way: Duration) -> Self {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind a loopback port for the latency proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("the proxy's address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let seen = requests.clone();
        let thread = std::thread::Builder::new()
            .name(format!("latency-proxy-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the latency proxy's runtime");
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(listener).expect("a tokio listener for the proxy");
                    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream));
                    tokio::select! {
                        _ = stopped => {}
                        () = accept_loop(listener, upstream, one_way, seen) => {}
                    }
                });
                // Dropping the runtime drops every relay task, which closes their sockets.
            })
            .expect("spawn the latency proxy's thread");
        Self {
            port,
            one_way,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give a client instead of the server's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines seen so far (`GET /bucket?uploads HTTP/1.1`), in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// How many request lines seen so far `matches`.
    pub fn count(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.lock().iter().filter(|line| matches(line)).count()
    }

    /// How many requests with this method (`GET`, `PUT`, …) were seen so far.
    pub fn count_method(&self, method: &str) -> usize {
        self.count(|line| line.split(' ').next() == Some(method))
    }

    /// Forgets the requests seen so far, so a test can count those of one step.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // Each change is one push or a clear: a panic elsewhere cannot leave it half-done.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    one_way: Duration,
    seen: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let mut requests = Requests::new(seen);
            let up = relay(client_read, server_write, one_way, move |bytes| {
                requests.feed(bytes);
            });
            let down = relay(server_read, client_write, one_way, |_| {});
            tokio::join!(up, down);
        });
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; the chunks already
/// read keep flowing while they wait, so throughput is not cut, only latency added. The end
/// of the stream is passed on after the same delay.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    mut observe: impl FnMut(&[u8]),
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if bytes.is_empty() || to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let due = Instant::now() + delay;
            if n == 0 {
                let _ = tx.send((due, Vec::new()));
                break;
            }
            observe(&buf[..n]);
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}

/// Finds the request lines in the bytes a client sends: heads, then bodies skipped by their
/// `Content-Length` or `Transfer-Encoding: chunked` framing.
struct Requests {
    seen: Arc<Mutex<Vec<String>>>,
    state: Parse,
    line: Vec<u8>,
    head: Vec<String>,
}

enum Parse {
    /// Reading the head's lines.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk's size line.
    ChunkSize,
    /// Skipping a chunk and its CRLF.
    Chunk(u64),
    /// Reading trailer lines up to the empty one.
    Trailers,
}

impl Requests {
    fn new(seen: Arc<Mutex<Vec<String>>>) -> Self {
        Self {
            seen,
            state: Parse::Head,
            line: Vec::new(),
            head: Vec::new(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                Parse::Body(left) | Parse::Chunk(left) => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *left -= take as u64;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        self.state = match self.state {
                            Parse::Chunk(_) => Parse::ChunkSize,
                            _ => Parse::Head,
                        };
                    }
                }
                Parse::Head | Parse::ChunkSize | Parse::Trailers => {
                    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(bytes);
                        return;
                    };
                    self.line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let line = String::from_utf8_lossy(&self.line)
                        .trim_end_matches('\r')
                        .to_owned();
                    self.line.clear();
                    self.on_line(line);
                }
            }
        }
    }

    fn on_line(&mut self, line: String) {
        match self.state {
            Parse::Head if line.is_empty() && self.head.is_empty() => {}
            Parse::Head if line.is_empty() => self.end_of_head(),
            Parse::Head => self.head.push(line),
            Parse::ChunkSize => {
                let size = line.split(';').next().unwrap_or_default().trim();
                self.state = match u64::from_str_radix(size, 16) {
                    Ok(0) => Parse::Trailers,
                    Ok(n) => Parse::Chunk(n + 2),
                    // Not HTTP framing we understand: count nothing more rather than wrongly.
                    Err(_) => Parse::Body(u64::MAX),
                };
            }
            Parse::Trailers if line.is_empty() => self.state = Parse::Head,
            _ => {}
        }
    }

    fn end_of_head(&mut self) {
        let head = std::mem::take(&mut self.head);
        let header = |name: &str| {
            head.iter().skip(1).find_map(|h| {
                let (n, v) = h.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some(request_line) = head.into_iter().next() {
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(request_line);
        }
        self.state = if chunked {
            Parse::ChunkSize
        } else if length > 0 {
            Parse::Body(length)
        } else {
            Parse::Head
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server answering every request on a connection with `ok`.
    fn echo_server() -> (u16, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            // Answer once the last request is in.
            while !seen.ends_with(b"list-type=2 HTTP/1.1\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .unwrap();
        });
        (port, thread)
    }

    #[test]
    fn delays_each_way_and_counts_requests_past_their_bodies() {
        let (upstream, server) = echo_server();
        let proxy = LatencyProxy::start(upstream, Duration::from_millis(150));
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        let started = std::time::Instant::now();
        // A body that looks like a request line must not be counted as one.
        let body = "GET /not-a-request HTTP/1.1\r\n\r\n";
        write!(
            conn,
            "PUT /b/k HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        conn.write_all(b"POST /b/k?uploads HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b?list-type=2 HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let took = started.elapsed();
        assert!(answer.ends_with("ok"), "{answer}");
        assert!(took >= Duration::from_millis(300), "two delays: {took:?}");
        assert_eq!(
            proxy.requests(),
            [
                "PUT /b/k HTTP/1.1",
                "POST /b/k?uploads HTTP/1.1",
                "GET /b?list-type=2 HTTP/1.1"
            ]
        );
        assert_eq!(proxy.count_method("GET"), 1);
        assert_eq!(proxy.count(|l| l.contains("?uploads")), 1);
        server.join().unwrap();
    }

    #[test]
    fn dropped_it_stops_listening() {
        let proxy = LatencyProxy::start(9, Duration::from_secs(3600));
        let port = proxy.port;
        let held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        drop(proxy);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        drop(held);
    }
}
