//! The AdmissionReview protocol adapter: decode a review, dispatch it to the
//! policy by kind, subresource and operation, and encode the answer.
//!
//! Built on kube's admission types. Knows no HTTP: the server and the
//! `review` command both call [`Admission::review`] (or its three steps,
//! when a live view confirms lookups between them).

mod answer;
pub mod decode;
mod dispatch;
pub mod duplicates;
pub mod events;
mod labels;
pub mod patch;
pub mod redact;
pub mod respond;
mod single_pass;
mod subject;

pub use answer::answer;
pub use decode::{Unusable, decode};
pub use dispatch::{Admission, Answer, Evaluation, Prepared, Summary};
pub use events::EventIntent;
pub use labels::{KindLabel, Outcome, Webhook};

use std::collections::BTreeMap;

use base64::Engine;
use kube::core::Status;
use kube::core::admission::AdmissionResponse;
use serde::Serialize;

/// The AdmissionReview answer as the API server reads it. kube-core 5
/// serializes `patch` as an array of numbers (kube-rs/kube#1781); the wire
/// format is a base64 string, so the envelope is written here. Audit
/// annotations are sorted so that answers are byte-for-byte reproducible.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    api_version: &'a str,
    kind: &'a str,
    response: Body<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    uid: &'a str,
    allowed: bool,
    status: &'a Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Vec<String>>,
}

fn envelope(response: &AdmissionResponse) -> Envelope<'_> {
    let patch = response.patch.as_ref().map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    Envelope {
        api_version: &response.types.api_version,
        kind: "AdmissionReview",
        response: Body {
            uid: &response.uid,
            allowed: response.allowed,
            status: &response.result,
            // `with_patch` is the only way to set a patch, and it sets JSONPatch
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            audit_annotations: response.audit_annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            warnings: response.warnings.as_ref(),
        },
    }
}

/// Serialize an answer as the AdmissionReview the API server expects, in
/// the request's apiVersion.
pub fn encode(response: &AdmissionResponse) -> Vec<u8> {
    serde_json::to_vec(&envelope(response)).expect("an AdmissionReview always serializes")
}

/// [`encode`], pretty-printed for people.
pub fn encode_pretty(response: &AdmissionResponse) -> Vec<u8> {
    serde_json::to_vec_pretty(&envelope(response)).expect("an AdmissionReview always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_base64_strings_with_their_type() {
        let response = AdmissionResponse::invalid("x").with_patch(json_patch::Patch(vec![])).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&encode(&response)).unwrap();
        assert_eq!(value["response"]["patch"], "W10="); // base64 of "[]"
        assert_eq!(value["response"]["patchType"], "JSONPatch");
        assert_eq!(value["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(value["kind"], "AdmissionReview");
    }

    #[test]
    fn answers_without_patch_have_neither_field() {
        let value: serde_json::Value = serde_json::from_slice(&encode(&AdmissionResponse::invalid("x"))).unwrap();
        let response = value["response"].as_object().unwrap();
        assert!(!response.contains_key("patch") && !response.contains_key("patchType"));
    }
}
