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
use crate::server::activity::Guarded;
use crate::server::budget::{Budget, Share};

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
    /// Bytes of bodies and answers in memory at once.
    pub budget: Budget,
}

/// How long a request waits for its share of the memory budget (the API
/// server gives up after its own timeout, 30 s at most).
const BUDGET_WAIT: Duration = Duration::from_secs(20);

/// The webhook Router.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .fallback(|State(state): State<WebhookState>| async move {
            http_error(&state, StatusCode::NOT_FOUND, "no such path: use POST /validate or POST /mutate".into())
        })
        .method_not_allowed_fallback(|State(state): State<WebhookState>| async move {
            http_error(&state, StatusCode::METHOD_NOT_ALLOWED, "use POST".into())
        })
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
    // the body's share of the memory budget, held until the answer is sent:
    // its declared length up front, or taken as it arrives (a body too large
    // to read takes none)
    let limit = state.max_body_bytes as u64;
    let mut shares = Shares::new(&state.budget);
    let first = match declared {
        Some(n) if n > limit => 0,
        Some(n) => n * DECODED,
        None => UNDECLARED_STEP,
    };
    if first > 0 && !shares.grow_to(first).await {
        return busy(&state);
    }
    let read = read_body(request.into_body(), state.max_body_bytes, declared, &mut shares);
    let body = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(BodyError::TooLarge)) => {
            let mut response = http_error(&state, StatusCode::PAYLOAD_TOO_LARGE, too_large(state.max_body_bytes));
            // whatever of the body was not drained must not be read as the next request
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        Ok(Err(BodyError::Busy)) => return busy(&state),
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
            let mut encoded = crate::admission::encode(&answer.response);
            // the Vec grew by doubling: an answer held until sent keeps only its bytes
            if encoded.capacity() - encoded.len() > 1024 {
                encoded.shrink_to_fit();
            }
            drop(body);
            // the answer keeps as much of the body's share as its own size, or
            // takes one of its own size when larger
            let size = encoded.len() as u64;
            if size > shares.bytes {
                shares = Shares::new(&state.budget);
                let _ = shares.grow_to(size).await;
            }
            held_until_sent(json(StatusCode::OK, encoded), shares.keep(size))
        }
        Err(unusable) => {
            span.in_scope(|| tracing::warn!(reason = %unusable, "Unusable review"));
            http_error(&state, StatusCode::BAD_REQUEST, unusable.to_string())
        }
    }
}

/// A body without a declared length takes its share in steps of this much.
const UNDECLARED_STEP: u64 = 64 * 1024;
/// A body's share is this many times its length: decoded into typed objects it
/// takes up to that much memory until its answer is made (measured: a Secret
/// of 100,000 small keys, the worst case per byte, about five times).
const DECODED: u64 = 6;

/// A request's shares of the memory budget.
struct Shares<'a> {
    budget: &'a Budget,
    held: Vec<Share>,
    bytes: u64,
}

impl<'a> Shares<'a> {
    fn new(budget: &'a Budget) -> Self {
        Shares { budget, held: Vec::new(), bytes: 0 }
    }

    /// Hold at least `bytes`, waiting up to `BUDGET_WAIT`; false if it stayed in use.
    async fn grow_to(&mut self, bytes: u64) -> bool {
        // a request never holds more than the whole budget (it would wait for itself)
        let bytes = bytes.min(self.budget.total());
        if bytes <= self.bytes {
            return true;
        }
        let more = bytes - self.bytes;
        match self.budget.take(more, BUDGET_WAIT).await {
            Some(share) => {
                self.held.push(share);
                self.bytes += more;
                true
            }
            None => false,
        }
    }

    /// Keep `bytes` of the shares, giving the rest back.
    fn keep(self, bytes: u64) -> Vec<Share> {
        let mut need = bytes;
        let mut kept = Vec::new();
        for share in self.held {
            if need == 0 {
                continue;
            }
            let size = share.bytes();
            kept.extend(share.shrink_to(need.min(size)));
            need -= need.min(size);
        }
        kept
    }
}

fn busy(state: &WebhookState) -> Response {
    let message = format!(
        "busy: the memory budget for requests in flight (--max-in-flight-bytes) stayed in use for {BUDGET_WAIT:?}"
    );
    http_error(state, StatusCode::TOO_MANY_REQUESTS, message)
}

/// `response`, with `shares` given back once its body is sent.
fn held_until_sent(response: Response, shares: Vec<Share>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(Guarded::new(body, shares)))
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
    /// Its share of the memory budget stayed in use.
    Busy,
}

/// After deciding a body is too large, keep reading (and discarding) the
/// rest of it, for at most `LINGER_TIME`, before answering 413: closing a
/// connection with unread bytes makes the peer's TCP stack reset it, and the
/// 413 is lost. The rest is the declared length less what was read, or up to
/// `LINGER_BYTES` without a declared length; a body declared longer than the
/// limit plus `LINGER_BYTES` is refused at once. A client that stops sending
/// gets its 413 when the time is up.
const LINGER_BYTES: u64 = 4 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Read a body of at most `limit` bytes. Frames are kept as they arrive
/// (hyper's own buffers) and joined once at the end: a large buffer filled
/// across many awaits, times sixteen connections, costs page faults.
async fn read_body(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
    shares: &mut Shares<'_>,
) -> Result<axum::body::Bytes, BodyError> {
    use http_body_util::BodyExt;
    let limit = limit as u64;
    if declared.is_some_and(|n| n > limit + LINGER_BYTES) {
        // far too large to linger for: answer at once
        return Err(BodyError::TooLarge);
    }
    let mut total = 0u64;
    if declared.is_none_or(|n| n <= limit) {
        let mut frames: Vec<axum::body::Bytes> = Vec::new();
        let mut over = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else { continue };
            total += data.len() as u64;
            if total > limit {
                over = Some(data.len() as u64);
                break;
            }
            // a body without a declared length takes its share as it arrives;
            // while it waits, flow control holds the sender back
            if total * DECODED > shares.bytes
                && !shares.grow_to((total * DECODED).max(shares.bytes + UNDECLARED_STEP).min(limit * DECODED)).await
            {
                return Err(BodyError::Busy);
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
    let rest = declared.map_or(LINGER_BYTES, |n| n.saturating_sub(total));
    let drain = async {
        let mut discarded = 0u64;
        while discarded < rest
            && let Some(Ok(frame)) = body.frame().await
        {
            discarded += frame.into_data().map_or(0, |d| d.len() as u64);
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
