//! The HTTP connections, on an open network: our own accept loop around hyper, because
//! `axum::serve` neither limits connections nor times them out.
//!
//! - a connection has `header_timeout` to send a request's head, counted from when it opens
//!   or its previous answer ends (hyper's header read timeout): a half-sent request
//!   (slowloris) or an idle keep-alive connection is closed after it;
//! - a connection on which no byte moves either way for `idle_timeout` (a stalled upload or
//!   a download nobody reads) is closed, unless a request is being worked on;
//! - at most `max_connections` are open: when full, the oldest connection with no request
//!   in progress is closed to make room, so a flood of idle connections never keeps `/ping`
//!   out; when every connection is busy, new ones wait in the listen queue.
//!
//! Every loop ends on the shutdown token: no more accepting, and each connection finishes
//! the request it is answering and closes.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use backupman_core::CancellationToken;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// What an open network may not exceed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// For a request's head, from the connection's start or its previous answer's end.
    pub header_timeout: Duration,
    /// With no byte moving either way, outside a request being worked on.
    pub idle_timeout: Duration,
}

impl Limits {
    pub(crate) fn of(http: &backupman_config::HttpConfig) -> Self {
        Self {
            max_connections: usize::try_from(http.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(http.header_timeout_seconds),
            idle_timeout: Duration::from_secs(http.idle_timeout_seconds),
        }
    }
}

/// Answers `router` on `listener` within `limits` until `stop` is cancelled, then waits for
/// the open connections to finish their requests (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Open::default());
    let mut connections = JoinSet::new();
    'accept: loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin on it.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let permit = loop {
            if let Ok(permit) = permits.clone().try_acquire_owned() {
                break permit;
            }
            open.close_oldest_idle();
            // Retried: a busy connection may turn idle (its answer sent) while we wait.
            tokio::select! {
                _ = stop.cancelled() => break 'accept,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => break permit,
                    Err(_) => break 'accept,
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        let state = open.add();
        let router = router.clone();
        let stop = stop.clone();
        let open = open.clone();
        connections.spawn(async move {
            let id = state.id;
            connection(stream, peer, router, limits, state, stop).await;
            open.remove(id);
            drop(permit);
        });
    }
    while connections.join_next().await.is_some() {}
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Open {
    next_id: AtomicU64,
    connections: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Open {
    fn add(&self) -> Arc<Connection> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(Connection::new(id));
        self.lock().insert(id, state.clone());
        state
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the oldest connection that is not answering a request.
    fn close_oldest_idle(&self) {
        let open = self.lock();
        if let Some(idle) = open
            .values()
            .find(|c| c.in_flight.load(Ordering::Acquire) == 0 && !c.close.is_cancelled())
        {
            tracing::debug!("closing an idle connection to make room for a new one");
            idle.close.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        // The map stays consistent whatever panicked while holding it.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One connection's state, shared by its task, its requests and its I/O.
#[derive(Debug)]
struct Connection {
    id: u64,
    opened: Instant,
    /// Requests being answered, their bodies included.
    in_flight: AtomicUsize,
    /// Requests whose handler is still working (before the answer's body).
    handling: AtomicUsize,
    /// Milliseconds after `opened` of the last byte moved or request ended.
    last_activity: AtomicU64,
    /// Cancelled to close the connection at once (to make room).
    close: CancellationToken,
}

impl Connection {
    fn new(id: u64) -> Self {
        Self {
            id,
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            handling: AtomicUsize::new(0),
            last_activity: AtomicU64::new(0),
            close: CancellationToken::new(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    state: Arc<Connection>,
    stop: CancellationToken,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let service = {
        let state = state.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // The status page slows repeated failed sign-ins per client address.
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut busy = Busy::enter(state.clone());
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(Body::new)).await;
                busy.handled();
                response.map(|r| r.map(|body| Guarded { body, _busy: busy }))
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    // Idleness is checked a few times per period: closed within a quarter of it late.
    let mut tick = tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(50)));
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(err) = ended {
                    tracing::debug!("connection ended: {err}");
                }
                break;
            }
            _ = stop.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = state.close.cancelled() => break,
            _ = tick.tick() => {
                if state.handling.load(Ordering::Acquire) == 0
                    && state.idle_for() >= limits.idle_timeout
                {
                    tracing::debug!("closing a connection idle for {:?}", limits.idle_timeout);
                    break;
                }
            }
        }
    }
}

/// A request being answered on a connection, from its head until its answer's body ends
/// or is dropped.
#[derive(Debug)]
struct Busy {
    state: Arc<Connection>,
    handling: bool,
}

impl Busy {
    fn enter(state: Arc<Connection>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.handling.fetch_add(1, Ordering::AcqRel);
        Self {
            state,
            handling: true,
        }
    }

    /// The handler is done; the answer's body may still be streaming.
    fn handled(&mut self) {
        if std::mem::take(&mut self.handling) {
            self.state.handling.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.handled();
        self.state.touch();
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request counted as in progress until it ends.
#[derive(Debug)]
struct Guarded {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when bytes move.
#[derive(Debug)]
struct Watched {
    inner: TcpStream,
    state: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.state.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.state.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use axum::routing::get;

    use super::*;

    const MIB: usize = 1024 * 1024;

    /// The server on a loopback port with `limits`: a 256 MiB download, and a handler that
    /// works 2 s before answering.
    async fn start(limits: Limits) -> (u16, CancellationToken, tokio::task::JoinHandle<()>) {
        let router = Router::new()
            .route(
                "/big",
                get(|| async {
                    let chunk = Bytes::from(vec![0u8; MIB]);
                    let chunks = futures::stream::iter(
                        (0..256).map(move |_| Ok::<_, io::Error>(chunk.clone())),
                    );
                    Body::from_stream(chunks)
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router, limits, stop.clone()));
        (port, stop, task)
    }

    fn limits() -> Limits {
        Limits {
            max_connections: 8,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(1),
        }
    }

    fn request(port: u16, path: &str) -> std::net::TcpStream {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // `close`: the answer ends with the connection, so it reads to its end.
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        conn
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_download_nobody_reads_is_closed_after_the_idle_timeout() {
        let (port, stop, task) = start(limits()).await;
        let received = tokio::task::spawn_blocking(move || {
            let mut conn = request(port, "/big");
            let mut head = [0u8; 12];
            conn.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            // Stop reading: the socket buffers fill and nothing moves any more.
            std::thread::sleep(Duration::from_secs(4));
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
            rest.len()
        })
        .await
        .unwrap();
        assert!(received < 200 * MIB, "{received} bytes: never cut");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_still_working_is_not_cut_by_the_idle_timeout() {
        let (port, stop, task) = start(limits()).await;
        let answer = tokio::task::spawn_blocking(move || {
            let mut conn = request(port, "/slow");
            let mut answer = String::new();
            let _ = conn.read_to_string(&mut answer);
            answer
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_limit_the_oldest_idle_connection_makes_room() {
        let (port, stop, task) = start(limits()).await;
        let (first_closed, answer) = tokio::task::spawn_blocking(move || {
            let idle: Vec<_> = (0..8)
                .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
                .collect();
            // Let the server take them all before the next one comes.
            std::thread::sleep(Duration::from_millis(300));
            let mut conn = request(port, "/slow");
            let mut answer = String::new();
            let _ = conn.read_to_string(&mut answer);
            let mut first = &idle[0];
            first
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let closed = matches!(first.read(&mut [0u8; 1]), Ok(0));
            (closed, answer)
        })
        .await
        .unwrap();
        assert!(answer.ends_with("done"), "{answer}");
        assert!(first_closed, "the oldest idle connection was closed");
        stop.cancel();
        task.await.unwrap();
    }
}
