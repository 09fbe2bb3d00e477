//! The fuzz harness: what each target does with its input and the
//! properties it checks. The cargo-fuzz targets in `fuzz_targets/` call
//! these; `tests/fuzz_corpus.rs` replays the kept corpus through the same
//! functions (and mutates it a bounded number of times) in `cargo test`.
//!
//! Properties, beyond "no panic, no hang":
//! - an answered review encodes to an AdmissionReview whose `uid` is the
//!   request's, with warnings within the API server's budget (256 each, 4096 in all);
//! - a mutation's patch applies to the request's object with json-patch, the
//!   result is still a Pod, and mutating that result again patches nothing;
//! - a body that is not JSON is refused as unusable, never answered
//!   half-way (bytes that are not UTF-8 inside skipped strings excepted: the
//!   API server's Go decoder reads them as U+FFFD too).

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use secretgate::admission::{Admission, Webhook, encode};
use secretgate::cluster::Snapshot;
use serde_json::{Value, json};

/// A fixed clock: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

/// The fixture cluster (Namespaces, ServiceAccounts, Secrets of the tests).
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let mut snapshot = Snapshot::default();
        let text = include_str!("../../tests/fixtures/cluster/default.yaml");
        snapshot.add_text(Path::new("default.yaml"), text).expect("the fixture cluster loads");
        snapshot
    })
}

fn admission() -> &'static Admission {
    static ADMISSION: OnceLock<Admission> = OnceLock::new();
    ADMISSION.get_or_init(Admission::default)
}

/// Raw bytes as an AdmissionReview body, to both webhooks.
pub fn review(data: &[u8]) {
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        answer_and_check(webhook, data);
    }
}

/// JSON bytes as the `object` of a Pod review: CREATE to both webhooks, and
/// UPDATE against the Pod with its first container dropped.
pub fn pod_object(data: &[u8]) {
    let Ok(object) = serde_json::from_slice::<Value>(data) else { return };
    let create = wrap("Pod", "CREATE", &object, None);
    answer_and_check(Webhook::Validate, &create);
    answer_and_check(Webhook::Mutate, &create);
    let mut old = object.clone();
    if let Some(containers) = old.pointer_mut("/spec/containers").and_then(Value::as_array_mut)
        && !containers.is_empty()
    {
        containers.remove(0);
    }
    answer_and_check(Webhook::Validate, &wrap("Pod", "UPDATE", &object, Some(&old)));
}

/// JSON bytes as the `object` of a Secret review: CREATE, and UPDATE
/// against itself and against an immutable empty Secret.
pub fn secret_object(data: &[u8]) {
    let Ok(object) = serde_json::from_slice::<Value>(data) else { return };
    answer_and_check(Webhook::Validate, &wrap("Secret", "CREATE", &object, None));
    answer_and_check(Webhook::Validate, &wrap("Secret", "UPDATE", &object, Some(&object)));
    let old = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}, "immutable": true});
    answer_and_check(Webhook::Validate, &wrap("Secret", "UPDATE", &object, Some(&old)));
}

/// Text as a snapshot file: loads or is refused with an error.
pub fn snapshot_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut snapshot = Snapshot::default();
    if snapshot.add_text(Path::new("fuzz.yaml"), text).is_ok() {
        for note in &snapshot.notes {
            assert!(!note.is_empty());
        }
    }
}

/// An AdmissionReview v1 around `object`.
pub fn wrap(kind: &str, operation: &str, object: &Value, old: Option<&Value>) -> Vec<u8> {
    let resource = format!("{}s", kind.to_lowercase());
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "f0000000-0000-0000-0000-000000000000",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": resource},
            "namespace": "team-a",
            "operation": operation,
            "userInfo": {"username": "fuzz"},
            "object": object,
            "oldObject": old,
        }
    }))
    .expect("a Value serializes")
}

fn answer_and_check(webhook: Webhook, body: &[u8]) {
    let Ok(answer) = admission().review(webhook, body, &snapshot().inventory, NOW) else { return };
    let encoded: Value = serde_json::from_slice(&encode(&answer.response)).expect("the answer is JSON");
    // Bytes that are not UTF-8 inside strings the decoder skips are accepted,
    // as Go's decoder in the API server accepts them (as U+FFFD); read the
    // request the same way.
    let request: Value = serde_json::from_str(&String::from_utf8_lossy(body)).expect("an answered body was JSON");
    let response = &encoded["response"];
    assert_eq!(response["uid"], request["request"]["uid"], "the answer carries the request's uid");
    assert!(response["allowed"].is_boolean());
    if let Some(warnings) = response["warnings"].as_array() {
        let mut total = 0;
        for warning in warnings {
            let warning = warning.as_str().expect("warnings are strings");
            assert!(warning.chars().count() <= 256, "a warning over 256 characters: {warning}");
            total += warning.chars().count();
        }
        assert!(total <= 4096, "warnings total {total} characters");
    }
    let Some(patch) = response["patch"].as_str() else { return };
    assert_eq!(webhook, Webhook::Mutate, "only the mutating webhook patches");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD.decode(patch).expect("the patch is base64");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("the patch is a JSON Patch");
    let mut object = request["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).expect("the patch applies to the object it was made for");
    serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(object.clone()).expect("the patched object is a Pod");
    // idempotent: the mutated Pod needs no further mutation
    let mut again = request.clone();
    again["request"]["object"] = object;
    let again = serde_json::to_vec(&again).expect("a Value serializes");
    let answer = admission().review(Webhook::Mutate, &again, &snapshot().inventory, NOW).expect("still a review");
    assert!(answer.response.patch.is_none(), "mutating the mutated Pod patched again");
}
