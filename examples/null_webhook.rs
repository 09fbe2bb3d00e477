//! The benchmark baseline: a webhook on exactly secretgate's TLS and HTTP
//! stack (its certificate loader and accept loop, axum, hyper, rustls) that
//! decodes the AdmissionReview with kube's types and answers "allowed", with
//! no policy at all. `bench/run.sh` measures secretgate against it.
//!
//! cargo run --release --example null_webhook -- LISTEN CERT KEY

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use secretgate::metrics::Metrics;
use secretgate::server::listener::{self, ListenerLimits};
use secretgate::server::tls::{TlsFiles, TlsReloader};

async fn allow(body: Bytes) -> impl IntoResponse {
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let Ok(request): Result<AdmissionRequest<DynamicObject>, _> = review.try_into() else {
        return (StatusCode::BAD_REQUEST, "no request").into_response();
    };
    let answer = serde_json::to_vec(&AdmissionResponse::from(&request).into_review()).unwrap();
    ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, cert, key] = args.as_slice() else {
        eprintln!("usage: null_webhook LISTEN CERT KEY");
        std::process::exit(2);
    };
    let files = TlsFiles { cert: cert.into(), key: key.into(), client_ca: None };
    let tls = TlsReloader::new(files, Metrics::new()).expect("a usable serving pair");
    let app = Router::new()
        .route("/validate", post(allow))
        .route("/mutate", post(allow))
        .layer(DefaultBodyLimit::max(8 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await.expect("bind");
    eprintln!("null webhook listening on {}", listener.local_addr().unwrap());
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let limits = ListenerLimits {
        handshake_timeout: Duration::from_secs(10),
        header_read_timeout: Duration::from_secs(5),
        grace_period: Duration::from_secs(1),
        max_concurrent_streams: 256,
        idle_timeout: Duration::from_secs(120),
        stall_timeout: Duration::from_secs(25),
        max_connections: 10_000,
    };
    listener::serve("webhook", listener, listener::Transport::Tls(Arc::clone(&tls)), app, limits, stop).await;
}
