//! The webhook Router: `POST /validate` and `POST /mutate`. HTTP only: the
//! answer comes from `crate::admission::answer`, the same path as `review`.
//! Errors are JSON (`{"error": "..."}`): 400 unusable review, 404 unknown
//! path, 405 wrong method, 408 body too slow, 413 body too large. The query
//! string (`?timeout=10s`) is ignored.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::{Instrument, field::Empty};

use crate::admission::{Admission, Outcome, Webhook, answer};
use crate::cluster::{EventSink, View};
use crate::metrics::Metrics;

/// What the webhook handlers share.
#[derive(Clone, Debug)]
pub struct WebhookState {
    /// The admission adapter with its settings.
    pub admission: Admission,
    /// The cluster view.
    pub view: View,
    /// Metrics.
    pub metrics: Metrics,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// A body must arrive within this time, or 408.
    pub body_timeout: Duration,
    /// Where Event intents go (never waited for).
    pub events: EventSink,
}

/// The webhook Router.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such path: use POST /validate or POST /mutate") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "use POST") })
        .with_state(state)
}

async fn validate(State(state): State<WebhookState>, request: Request) -> Response {
    review(state, Webhook::Validate, request).await
}

async fn mutate(State(state): State<WebhookState>, request: Request) -> Response {
    review(state, Webhook::Mutate, request).await
}

async fn review(state: WebhookState, webhook: Webhook, request: Request) -> Response {
    let start = Instant::now();
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let read = read_body(request.into_body(), state.max_body_bytes, declared);
    let body = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(BodyError::TooLarge)) => {
            return http_error(&state, StatusCode::PAYLOAD_TOO_LARGE, too_large(state.max_body_bytes));
        }
        Ok(Err(BodyError::Unreadable)) => {
            return http_error(&state, StatusCode::BAD_REQUEST, "the request body could not be read".into());
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {:?}", state.body_timeout);
            return http_error(&state, StatusCode::REQUEST_TIMEOUT, message);
        }
    };
    let span = tracing::info_span!(
        "review",
        webhook = webhook.as_str(),
        uid = Empty,
        kind = Empty,
        namespace = Empty,
        name = Empty,
        operation = Empty,
        decision = Empty,
    );
    if tracing::enabled!(tracing::Level::TRACE)
        && let Ok(review) = serde_json::from_slice::<serde_json::Value>(&body)
    {
        let review = crate::admission::redact::redacted_review(&review);
        span.in_scope(|| tracing::trace!(%review, "Request"));
    }
    let now = crate::app::now_unix();
    let result = answer(&state.admission, webhook, &body, &state.view, now).instrument(span.clone()).await;
    match result {
        Ok(mut answer) => {
            state.events.emit(std::mem::take(&mut answer.events));
            let elapsed = start.elapsed();
            state.metrics.record(&answer.summary, elapsed.as_secs_f64());
            let summary = &answer.summary;
            span.record("decision", summary.outcome.as_str());
            span.in_scope(|| match summary.outcome {
                Outcome::Denied => {
                    tracing::info!(violations = summary.tally.len(), elapsed_us = elapsed.as_micros() as u64, "Denied")
                }
                Outcome::Mutated => tracing::debug!(warnings = summary.warnings, "Mutated"),
                Outcome::Allowed => tracing::debug!(warnings = summary.warnings, "Allowed"),
            });
            json(StatusCode::OK, crate::admission::encode(&answer.response))
        }
        Err(unusable) => {
            span.in_scope(|| tracing::warn!(reason = %unusable, "Unusable review"));
            http_error(&state, StatusCode::BAD_REQUEST, unusable.to_string())
        }
    }
}

fn too_large(max: usize) -> String {
    format!("the request body is larger than --max-body-bytes ({max} bytes)")
}

/// Why a body was not read.
enum BodyError {
    /// Over `--max-body-bytes`.
    TooLarge,
    /// The stream failed.
    Unreadable,
}

/// After deciding a body is too large, keep reading (and discarding) up to
/// this much, for at most `LINGER_TIME`, before answering 413: closing a
/// connection with unread bytes makes the peer's TCP stack reset it, and the
/// 413 is lost. A client that stops sending gets its 413 when the time is up.
const LINGER_BYTES: u64 = 4 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_millis(500);

/// Read a body of at most `limit` bytes. Frames are kept as they arrive
/// (hyper's own buffers) and joined once at the end: a large buffer filled
/// across many awaits, times sixteen connections, costs page faults.
async fn read_body(mut body: Body, limit: usize, declared: Option<u64>) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt;
    let limit = limit as u64;
    if declared.is_some_and(|n| n > limit + LINGER_BYTES) {
        // far too large to linger for: answer at once
        return Err(BodyError::TooLarge);
    }
    if declared.is_none_or(|n| n <= limit) {
        let mut frames: Vec<axum::body::Bytes> = Vec::new();
        let mut total = 0u64;
        let mut over = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else { continue };
            total += data.len() as u64;
            if total > limit {
                over = Some(data.len() as u64);
                break;
            }
            frames.push(data);
        }
        if over.is_none() {
            return Ok(match frames.len() {
                0 => axum::body::Bytes::new(),
                1 => frames.pop().expect("one frame"),
                _ => frames.concat().into(),
            });
        }
    }
    let drain = async {
        let mut discarded = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            discarded += frame.into_data().map_or(0, |d| d.len() as u64);
            if discarded > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    Err(BodyError::TooLarge)
}

fn http_error(state: &WebhookState, status: StatusCode, message: String) -> Response {
    state.metrics.record_http_error(status.as_u16());
    error(status, &message)
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::to_vec(&serde_json::json!({"error": message})).expect("a string serializes"))
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
