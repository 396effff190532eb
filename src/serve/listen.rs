//! The serving loop: accepts connections within the caps of [`Slots`] and serves each
//! with hyper's HTTP/1 connection, bounded in time where a client could stall it.
//!
//! - headers: hyper's `header_read_timeout`, which runs from the moment a connection
//!   waits for a request (on connect, and after each answer), so it also ends idle
//!   keep-alive connections and connections that trickle header bytes;
//! - body: the handlers read bodies under `body_read_timeout_secs` (see `api::read_body`);
//! - idle: a connection where no byte moves while no handler runs is closed (a client
//!   that stops reading its answer); a long poll is a running handler, so it never is.
//!
//! `axum::serve` has none of these (issue 10, point 2).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use super::slots::{self, Conn, Refused, Slots};
use super::Config;

/// Room kept for everything else the process opens: the database and its WAL, stdio,
/// the runtime's own descriptors, the bunker's relays, a token's files.
const FD_RESERVE: u64 = 64;
/// Refused connections are answered and drained briefly, this many at once (others
/// are just closed), so refusing cannot itself exhaust descriptors.
const MAX_REFUSING: usize = 16;
/// A request's headers may not exceed this (a NIP-98 header is about 1 KiB).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// How long connections get to finish at shutdown (pending long polls answer at once).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits in effect, after the open-file limit has had its say.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

impl Limits {
    /// The configured limits, with `max_connections` lowered (and a note on stderr)
    /// when the open-file limit cannot hold that many. Raises the soft open-file limit
    /// toward the hard one first, as far as needed.
    pub fn for_config(c: &Config) -> Result<Limits, super::Error> {
        let wanted =
            c.max_connections as u64 + FD_RESERVE + (MAX_REFUSING + slots::MAX_EVICTING) as u64;
        let mut max_connections = c.max_connections;
        if let Some(limit) = open_file_limit(wanted) {
            let room =
                limit.saturating_sub(FD_RESERVE + (MAX_REFUSING + slots::MAX_EVICTING) as u64);
            if room < 16 {
                return Err(super::Error::Setting {
                    key: "max_connections",
                    detail: format!(
                        "the open-file limit ({limit}) leaves room for fewer than 16 \
                         connections; raise it (ulimit -n)"
                    ),
                });
            }
            if (max_connections as u64) > room {
                tracing::warn!(
                    "passport serve: max_connections lowered from {max_connections} to {room}: \
                     the open-file limit is {limit} (raise it with ulimit -n)"
                );
                max_connections = room as usize;
            }
        }
        Ok(Limits {
            header_read: Duration::from_secs(c.header_read_timeout_secs),
            idle: Duration::from_secs(c.idle_timeout_secs),
            max_connections,
            max_connections_per_ip: c.max_connections_per_ip.min(max_connections),
        })
    }
}

/// The soft limit on open files after trying to raise it to `wanted` (at most the hard
/// limit); `None` when there is no limit or it cannot be read.
#[cfg(unix)]
fn open_file_limit(wanted: u64) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let current = now.current?;
    if current >= wanted {
        return Some(current);
    }
    let target = now.maximum.map_or(wanted, |max| max.min(wanted));
    let raised = Rlimit {
        current: Some(target),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(_) => Some(current),
    }
}

#[cfg(not(unix))]
fn open_file_limit(_: u64) -> Option<u64> {
    None
}

/// Accepts and serves until `stop` resolves, then lets open connections finish
/// (bounded by [`SHUTDOWN_GRACE`]). `shutdown` flips to true when stopping, which ends
/// pending long polls and asks each connection to close after its current answer.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
    stop: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let slots = Slots::new(
        limits.max_connections,
        limits.max_connections_per_ip,
        (limits.header_read / 2).min(Duration::from_secs(1)),
    );
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut complained = None::<Instant>;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut stop => break,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (the cap is below the limit, but other things
                // open files too): say so now and then, and let some close.
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    if complained.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::error!("passport serve: cannot accept connections: {e}");
                        complained = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        match slots.admit(remote.ip(), Instant::now()) {
            Ok(slot) => {
                let (app, shutdown) = (app.clone(), shutdown.clone());
                tokio::spawn(async move {
                    connection(stream, remote, &slot.conn, app, limits, shutdown).await;
                    drop(slot);
                });
            }
            Err(why) => {
                if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream, why).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.drained()).await;
    Ok(())
}

/// Serves one connection until it closes, is closed for room, idles out, or the
/// server stops.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    conn: &Arc<Conn>,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: Arc::clone(conn),
    });
    let state = Arc::clone(conn);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let app = app.clone();
        let (handling, request) = state.begin();
        async move {
            let res = app.oneshot(req).await;
            drop(handling);
            // The request lasts until its answer is written (the body is dropped then).
            res.map(|r| {
                r.map(|b| {
                    axum::body::Body::new(b.map_err(move |e| {
                        let _ = &request;
                        e
                    }))
                })
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(MAX_HEAD_BYTES);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let check = (limits.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(check);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    if *shutdown.borrow() {
        served.as_mut().graceful_shutdown();
        stopping = true;
    }
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            () = conn.evicted() => return,
            _ = tick.tick() => {
                if conn.idle_for(Instant::now()) >= limits.idle {
                    return;
                }
            }
            r = shutdown.changed(), if !stopping => {
                if r.is_err() || *shutdown.borrow() {
                    served.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

/// Answers a refused connection (before reading its request: it may never come),
/// then drains what it sent so closing does not reset the answer away.
async fn refuse(mut stream: TcpStream, why: Refused) {
    let (status, kind, message) = match why {
        Refused::PerIp => (
            "429 Too Many Requests",
            "rate-limited",
            "too many open connections from this address; close some and retry",
        ),
        Refused::Total => (
            "503 Service Unavailable",
            "unavailable",
            "the server has too many open connections; retry shortly",
        ),
    };
    let body = serde_json::json!({ "error": kind, "message": message }).to_string();
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left = 64usize << 10;
        while left > 0 {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        io::Result::Ok(())
    })
    .await;
}

/// A socket that records when bytes last moved.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
