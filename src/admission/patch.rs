//! The JSON Patch of a mutation: the difference between the typed Pod as
//! received and the Pod the policy intends, both serialized by k8s-openapi.
//!
//! Diffing two typed serializations means fields k8s-openapi does not model
//! appear on neither side, so the patch never touches them: applied to the
//! exact JSON the API server sent, it changes only what the policy changed.

use json_patch::Patch;
use serde::Serialize;

/// The RFC 6902 operations turning `before` into `after` (empty when equal).
pub fn diff<T: Serialize>(before: &T, after: &T) -> Patch {
    let before = serde_json::to_value(before).expect("k8s-openapi objects always serialize");
    let after = serde_json::to_value(after).expect("k8s-openapi objects always serialize");
    json_patch::diff(&before, &after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_keys_with_slashes_are_escaped() {
        let before = json!({"metadata": {"annotations": {"a": "1"}}});
        let after = json!({"metadata": {"annotations": {"a": "1", "secretgate.io/injected-secrets": "db"}}});
        let patch = serde_json::to_value(diff(&before, &after)).unwrap();
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/metadata/annotations/secretgate.io~1injected-secrets", "value": "db"}])
        );
    }

    #[test]
    fn equal_objects_give_an_empty_patch() {
        assert!(diff(&json!({"a": [1, 2]}), &json!({"a": [1, 2]})).0.is_empty());
    }
}
