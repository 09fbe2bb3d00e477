//! The AdmissionReview protocol adapter: decode a review, dispatch it to the
//! policy by kind, subresource and operation, and encode the answer.
//!
//! Built on kube's admission types. Knows no HTTP: the server and the
//! `review` command both call [`Admission::review`] (or its three steps,
//! when a live view confirms lookups between them).

pub mod decode;
mod dispatch;
pub mod redact;
pub mod respond;

pub use decode::{Unusable, decode};
pub use dispatch::{Admission, Answer, Evaluation, KindLabel, Outcome, Prepared, Summary, Webhook};

use kube::core::admission::AdmissionResponse;

/// Serialize an answer as the AdmissionReview the API server expects, in
/// the request's apiVersion.
pub fn encode(response: AdmissionResponse) -> Vec<u8> {
    serde_json::to_vec(&response.into_review()).expect("an AdmissionReview always serializes")
}

/// [`encode`], pretty-printed for people.
pub fn encode_pretty(response: AdmissionResponse) -> Vec<u8> {
    serde_json::to_vec_pretty(&response.into_review()).expect("an AdmissionReview always serializes")
}
