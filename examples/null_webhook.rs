//! The benchmark baselines: a webhook on exactly secretgate's TLS and HTTP
//! stack (its certificate loader and accept loop, axum, hyper, rustls) that
//! answers "allowed", with no policy at all, in one of two modes:
//!
//! - `typed` (the default): decodes the whole AdmissionReview into kube's
//!   `AdmissionReview<DynamicObject>`, what a typical kube-rs webhook costs;
//! - `uid`: reads only `request.uid` (the rest of the body is scanned for
//!   well-formed JSON and skipped, nothing is copied), the stack's floor.
//!
//! `bench/run.sh` measures secretgate against both. With PATCH (a JSON Patch
//! file, typed mode only) `/mutate` answers every review with that patch:
//! `bench/apiserver.sh` gives it secretgate's own patch for its Pod, to tell
//! what the API server spends applying a mutation from what secretgate spends.
//!
//! cargo run --release --example null_webhook -- LISTEN CERT KEY [typed|uid] [PATCH]

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
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

#[derive(serde::Deserialize)]
struct UidReview<'a> {
    #[serde(borrow)]
    request: UidRequest<'a>,
}

#[derive(serde::Deserialize)]
struct UidRequest<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
}

/// Reads only `request.uid`.
async fn allow_uid(body: Bytes) -> impl IntoResponse {
    let review: UidReview<'_> = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let answer = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review.request.uid, "allowed": true},
    });
    ([(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(&answer).unwrap()).into_response()
}

/// The patch `/mutate` answers with, when one was given.
static PATCH: OnceLock<json_patch::Patch> = OnceLock::new();

/// Decodes the whole review with kube's types; the answer, allowed.
fn typed(body: &[u8]) -> Result<AdmissionResponse, String> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| "no request".to_string())?;
    Ok(AdmissionResponse::from(&request))
}

fn encode(response: Result<AdmissionResponse, String>) -> axum::response::Response {
    match response {
        Ok(response) => {
            let answer = serde_json::to_vec(&response.into_review()).unwrap();
            ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error).into_response(),
    }
}

async fn allow(body: Bytes) -> axum::response::Response {
    encode(typed(&body))
}

/// As [`allow`], with [`PATCH`] when one was given.
async fn mutate(body: Bytes) -> axum::response::Response {
    let response = typed(&body);
    match PATCH.get() {
        Some(patch) => encode(response.map(|r| r.with_patch(patch.clone()).expect("a serialisable patch"))),
        None => encode(response),
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let (listen, cert, key, mode, patch) = match args.as_slice() {
        [_, listen, cert, key] => (listen, cert, key, "typed", None),
        [_, listen, cert, key, mode] if mode == "typed" || mode == "uid" => (listen, cert, key, mode.as_str(), None),
        [_, listen, cert, key, mode, patch] if mode == "typed" => (listen, cert, key, "typed", Some(patch)),
        _ => {
            eprintln!("usage: null_webhook LISTEN CERT KEY [typed|uid] [PATCH (typed only)]");
            std::process::exit(2);
        }
    };
    if let Some(path) = patch {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let parsed: json_patch::Patch =
            serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path}: not a JSON Patch: {e}"));
        let _ = PATCH.set(parsed);
    }
    let files = TlsFiles { cert: cert.into(), key: key.into(), client_ca: None };
    let tls = TlsReloader::new(files, Metrics::new()).expect("a usable serving pair");
    let app = match mode {
        "uid" => Router::new().route("/validate", post(allow_uid)).route("/mutate", post(allow_uid)),
        _ => Router::new().route("/validate", post(allow)).route("/mutate", post(mutate)),
    };
    let app = app.layer(DefaultBodyLimit::max(8 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await.expect("bind");
    eprintln!("null webhook ({mode}) listening on {}", listener.local_addr().unwrap());
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
