//! The TLS accept loop: TCP_NODELAY, a handshake deadline, HTTP/1.1 and
//! HTTP/2 (ALPN) with a header-read timeout, and a graceful drain: on
//! shutdown the listener closes, in-flight requests finish (HTTP/2 gets a
//! GOAWAY), bounded by the grace period.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
}

/// Serve `app` over TLS on `listener` until `shutdown` turns true, then drain.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
    app: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
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
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "Connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(connections = graceful.count(), "Draining connections");
    if tokio::time::timeout(limits.grace_period, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_period = ?limits.grace_period, "Grace period over; closing the remaining connections");
    }
}
