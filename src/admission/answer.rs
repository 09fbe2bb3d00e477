//! The one path from request bytes to an answer, shared by the server and
//! `secretgate review`: decode, dispatch, evaluate, confirm misses with a
//! live view (then evaluate again), respond.

use tracing::Span;

use super::decode::Unusable;
use super::dispatch::{Admission, Answer};
use super::labels::Webhook;
use crate::cluster::View;

/// Answer one AdmissionReview body. Records the request's identity on the
/// current span (fields `uid`, `kind`, `namespace`, `name`, `operation`).
pub async fn answer(
    admission: &Admission,
    webhook: Webhook,
    body: &[u8],
    view: &View,
    now_unix: i64,
) -> Result<Answer, Unusable> {
    let decoded = admission.decode(webhook, body)?;
    // a Namespace created just before its first Pods may not be in the view yet:
    // its labels decide which overrides apply, so look it up once
    let namespace = decoded.request.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default");
    if admission.policy().selects_by_labels() && view.cluster().namespace(namespace).is_none() {
        view.confirm_namespace(namespace).await;
    }
    let prepared = admission.prepare(webhook, decoded, view.cluster())?;
    let span = Span::current();
    span.record("uid", prepared.uid());
    span.record("kind", prepared.kind().as_str());
    span.record("namespace", prepared.namespace());
    span.record("name", prepared.name());
    span.record("operation", prepared.operation());
    let mut evaluation = admission.evaluate(&prepared, view.cluster(), now_unix);
    if !evaluation.unresolved.is_empty() && view.confirm(&evaluation.unresolved).await > 0 {
        // informer lag: what the cache missed exists after all
        evaluation = admission.evaluate(&prepared, view.cluster(), now_unix);
    }
    Ok(admission.respond(&prepared, evaluation))
}
