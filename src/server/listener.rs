//! The accept loop of both listeners: a connection cap that evicts the
//! idlest connection, TLS (webhook) or plain HTTP/1.1 (admin), and per
//! connection the timers of [`Activity`]: a first request within the
//! header-read timeout, a request head within it too, the idle timeout
//! between requests, and the stall timeout while an answer cannot be sent.
//! A graceful drain on shutdown: the listener closes, in-flight requests
//! finish (HTTP/1.1 answers carry `connection: close`, HTTP/2 gets a GOAWAY),
//! bounded by the grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::activity::{Activity, Expiry, Guarded, Tracked};
use super::registry::{Admitted, Registry};
use super::tls::TlsReloader;

/// Limits of the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ListenerLimits {
    /// Time for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a new connection's first request, and for any request's
    /// headers once their first byte arrived (HTTP/1.1).
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub grace_period: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// A connection with answers to send that moves no byte for this long is
    /// closed (a client that never opens its window or never reads).
    pub stall_timeout: Duration,
    /// Open connections at most; at the cap the idlest makes room.
    pub max_connections: usize,
}

/// How a listener's connections are carried.
#[derive(Clone, Debug)]
pub enum Transport {
    /// TLS with the current serving pair; HTTP/1.1 or HTTP/2 by ALPN.
    Tls(Arc<TlsReloader>),
    /// Plain HTTP/1.1 (the admin port).
    Plain,
}

/// Serve `app` on `listener` until `shutdown` turns true, then drain.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    transport: Transport,
    app: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    // each connection task holds a sender: their count is the open
    // connections, and the drain ends when all are dropped
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let builder = Arc::new(builder(&transport, &limits));
    let registry = Registry::new(limits.max_connections);
    let mut refusals = Refusals::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // e.g. out of file descriptors: back off instead of spinning
                tracing::error!(listener = name, %error, "Accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let registered = match registry.admit() {
            Admitted::Room(registered) => registered,
            Admitted::Evicted(registered) => {
                tracing::debug!(listener = name, %peer, "At the connection cap; closed the idlest connection");
                registered
            }
            Admitted::Full => {
                refusals.note(name, limits.max_connections);
                continue; // dropping the socket closes it
            }
        };
        let _ = tcp.set_nodelay(true);
        let transport = transport.clone();
        let builder = builder.clone();
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        let open_tx = open_tx.clone();
        tokio::spawn(async move {
            let _open = open_tx;
            let activity = registered.activity.clone();
            let _registered = registered;
            match transport {
                Transport::Plain => {
                    serve_connection(tcp, false, peer, &builder, app, limits, &mut shutdown, activity).await;
                }
                Transport::Tls(tls) => {
                    let handshake = tokio::time::timeout(limits.handshake_timeout, tls.acceptor().accept(tcp));
                    let stream = tokio::select! {
                        result = handshake => match result {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        () = activity.evict.notified() => return,
                    };
                    let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    serve_connection(stream, http2, peer, &builder, app, limits, &mut shutdown, activity).await;
                }
            }
        });
    }
    drop(listener);
    tracing::info!(listener = name, connections = registry.len(), "Draining connections");
    drop(open_tx);
    if tokio::time::timeout(limits.grace_period, open_rx.recv()).await.is_err() {
        tracing::warn!(listener = name, grace_period = ?limits.grace_period, "Grace period over; closing the remaining connections");
    }
}

/// Bytes an HTTP/2 stream may send before its body is read (RFC 9113's initial
/// window). The connection's window is this times the stream limit, plus one.
pub const H2_STREAM_WINDOW: u32 = 128 * 1024;

fn builder(transport: &Transport, limits: &ListenerLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // request heads are timed by `Activity` (hyper's timer would also close
    // kept-alive connections after the header timeout, not the idle timeout)
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    // HTTP/2 carries every request of a connection (the API server multiplexes its
    // webhook calls): a stream waiting for its share of the memory budget does not
    // read its body, and its unread data counts against the connection's window. With
    // hyper's defaults (1 MiB for a stream and for the connection) one such stream
    // stalled every other stream of the connection, the ones holding the budget
    // included: no answer at all for 16 concurrent 1 MiB Secrets. A connection window
    // that holds a full stream window for every stream, and one more, means waiting
    // streams can never take the capacity that streams being read need.
    let streams = limits.max_concurrent_streams;
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(streams)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_STREAM_WINDOW.saturating_mul(streams.saturating_add(1)))
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    match transport {
        Transport::Plain => builder.http1_only(),
        Transport::Tls(_) => builder,
    }
}

/// Refused connections, logged at most every ten seconds.
#[derive(Default)]
struct Refusals {
    count: u64,
    logged: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, name: &'static str, max: usize) {
        self.count += 1;
        if self.logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(
                listener = name,
                max_connections = max,
                refused = self.count,
                "Connection refused: every connection is busy"
            );
            self.logged = Some(Instant::now());
            self.count = 0;
        }
    }
}

/// How long an HTTP/1.1 connection may stay idle once shutdown began.
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// Serve one connection until the client closes it, a timer or an eviction
/// ends it, or shutdown asks it to finish.
///
/// At shutdown an HTTP/2 connection gets a GOAWAY at once (the client learns
/// which streams were taken, no race). An HTTP/1.1 connection is not closed
/// while idle, which races a request the client may be sending at that
/// moment (its POST then fails, and Go's client does not retry a POST): its
/// next answer carries `connection: close` instead, and only a connection
/// idle for `DRAIN_IDLE` is closed. A connection asked to close that does
/// not finish within the stall timeout (or the grace period at shutdown) is
/// dropped.
#[allow(clippy::too_many_arguments)]
async fn serve_connection<S>(
    stream: S,
    http2: bool,
    peer: std::net::SocketAddr,
    builder: &Builder<TokioExecutor>,
    app: Router,
    limits: ListenerLimits,
    shutdown: &mut watch::Receiver<bool>,
    activity: Arc<Activity>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tracked = activity.clone();
    let draining = Arc::new(AtomicBool::new(false));
    let closing_answers = draining.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = tracked.start();
        let mut app = app.clone();
        let closing_answers = closing_answers.clone();
        async move {
            let response = tower::Service::call(&mut app, request.map(axum::body::Body::new)).await;
            response.map(|response| {
                let (mut parts, body) = response.into_parts();
                if closing_answers.load(Ordering::Acquire) {
                    parts.headers.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                }
                // in flight until the answer's last byte is handed over
                hyper::Response::from_parts(parts, axum::body::Body::new(Guarded::new(body, in_flight)))
            })
        }
    });
    let io = TokioIo::new(Tracked::new(stream, activity.clone(), !http2));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut close_by: Option<Instant> = None;
    let mut drain = !http2 && *shutdown.borrow();
    if http2 && *shutdown.borrow() {
        close_by = Some(Instant::now() + limits.grace_period);
        connection.as_mut().graceful_shutdown();
    }
    draining.store(drain, Ordering::Release);
    loop {
        let idle_limit = if drain { DRAIN_IDLE } else { limits.idle_timeout };
        let closing = close_by.is_some();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "Connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed(), if !closing && !drain => {
                if http2 {
                    close_by = Some(Instant::now() + limits.grace_period);
                    connection.as_mut().graceful_shutdown();
                } else {
                    // the idle clock restarts: a request already on its way is answered
                    drain = true;
                    draining.store(true, Ordering::Release);
                    activity.touch();
                }
            }
            why = activity.expired(limits.header_read_timeout, idle_limit, limits.stall_timeout), if !closing => {
                match why {
                    Expiry::Idle => {
                        tracing::debug!(%peer, ?why, "Closing a connection");
                        close_by = Some(Instant::now() + limits.stall_timeout);
                        connection.as_mut().graceful_shutdown();
                    }
                    // never a request (hyper would wait for a half-sent head), or
                    // nothing that can be sent: nothing to finish
                    Expiry::NoRequest | Expiry::SlowHead | Expiry::Stalled => {
                        tracing::debug!(%peer, ?why, "Dropping a connection");
                        return;
                    }
                }
            }
            () = sleep_until_some(close_by) => {
                tracing::debug!(%peer, "Dropping a connection that did not finish closing");
                return;
            }
            () = activity.evict.notified() => return,
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
