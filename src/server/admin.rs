//! The admin Router (plain HTTP): `/livez`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::cluster::View;
use crate::metrics::Metrics;

/// What the admin handlers read.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The cluster view (readiness, object counts).
    pub view: View,
    /// Metrics.
    pub metrics: Metrics,
    /// Set once the TLS listener serves; cleared when shutting down.
    pub serving: Arc<AtomicBool>,
}

/// The admin Router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if !state.serving.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: the webhook listener is not serving\n".to_string())
    } else if let Some(reason) = state.view.not_ready_reason() {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n"))
    } else {
        (StatusCode::OK, "ready\n".to_string())
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    state.metrics.set_cluster(state.view.is_ready(), &state.view.counts());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
