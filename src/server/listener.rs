//! The TLS accept loop: TCP_NODELAY, a handshake deadline, HTTP/1.1 and
//! HTTP/2 (ALPN) with a header-read timeout, an idle timeout, and a graceful
//! drain: on shutdown the listener closes, in-flight requests finish (HTTP/1.1
//! answers carry `connection: close`, HTTP/2 gets a GOAWAY), bounded by the
//! grace period.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::tls::TlsReloader;

/// Limits of the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ListenerLimits {
    /// Time for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a client to send a request's headers (HTTP/1.1).
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub grace_period: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

/// Requests in flight on one connection, and when the last one ended.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

/// Marks one request in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Activity { in_flight: AtomicUsize::new(0), last: Mutex::new(Instant::now()) })
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Resolves once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            if !busy && last.elapsed() >= limit {
                return;
            }
            let wake = if busy { Instant::now() + limit } else { last + limit };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// Serve `app` over TLS on `listener` until `shutdown` turns true, then drain.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
    app: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    // each connection task holds a sender: their count is the open
    // connections, and the drain ends when all are dropped
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // e.g. out of file descriptors: back off instead of spinning
                tracing::error!(%error, "Accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor();
        let builder = builder.clone();
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        let open_tx = open_tx.clone();
        tokio::spawn(async move {
            let _open = open_tx;
            let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            };
            if let Some(stream) = stream {
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                serve_connection(stream, http2, peer, &builder, app, limits, &mut shutdown).await;
            }
        });
    }
    drop(listener);
    tracing::info!(connections = open_tx.strong_count() - 1, "Draining connections");
    drop(open_tx);
    if tokio::time::timeout(limits.grace_period, open_rx.recv()).await.is_err() {
        tracing::warn!(grace_period = ?limits.grace_period, "Grace period over; closing the remaining connections");
    }
}

/// How long an HTTP/1.1 connection may stay idle once shutdown began.
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// Serve one TLS connection until the client closes it, it idles out, or
/// shutdown asks it to finish.
///
/// At shutdown an HTTP/2 connection gets a GOAWAY at once (the client learns
/// which streams were taken, no race). An HTTP/1.1 connection is not closed
/// while idle, which races a request the client may be sending at that
/// moment (its POST then fails, and Go's client does not retry a POST): its
/// next answer carries `connection: close` instead, and only a connection
/// idle for `DRAIN_IDLE` is closed.
#[allow(clippy::too_many_arguments)]
async fn serve_connection<S>(
    stream: S,
    http2: bool,
    peer: std::net::SocketAddr,
    builder: &Builder<TokioExecutor>,
    app: Router,
    limits: ListenerLimits,
    shutdown: &mut watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let tracked = activity.clone();
    let draining = Arc::new(AtomicBool::new(false));
    let closing_answers = draining.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = tracked.start();
        let mut app = app.clone();
        let closing_answers = closing_answers.clone();
        async move {
            let mut response = tower::Service::call(&mut app, request.map(axum::body::Body::new)).await;
            if closing_answers.load(Ordering::Acquire)
                && let Ok(response) = &mut response
            {
                response
                    .headers_mut()
                    .insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            }
            drop(in_flight);
            response
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    let mut drain = !http2 && *shutdown.borrow();
    if http2 && *shutdown.borrow() {
        closing = true;
        connection.as_mut().graceful_shutdown();
    }
    draining.store(drain, Ordering::Release);
    loop {
        let idle_limit = if drain { DRAIN_IDLE } else { limits.idle_timeout };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "Connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed(), if !closing && !drain => {
                if http2 {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                } else {
                    // the idle clock restarts: a request already on its way is answered
                    drain = true;
                    draining.store(true, Ordering::Release);
                    activity.touch();
                }
            }
            () = activity.idle_for(idle_limit), if !closing => {
                tracing::debug!(%peer, idle = ?idle_limit, "Closing an idle connection");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
