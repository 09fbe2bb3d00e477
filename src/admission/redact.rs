//! Redaction of objects before anything of them is logged: Secret `data`
//! and `stringData` values become `<redacted>`, keys stay. Every annotation
//! value of a Secret is redacted too: annotations can embed the whole object
//! (`kubectl.kubernetes.io/last-applied-configuration`, written by every
//! client-side `kubectl apply`, holds its `data` and `stringData`).
//! ConfigMap values (`data`, `binaryData`) and literal `env[].value`s of any
//! object are redacted as well: `configmap-credentials` finds credentials
//! there, and a credential is a Secret value wherever it was pasted; so is
//! every object's last-applied annotation, which copies them.

use serde_json::Value;

/// The placeholder written where a Secret value was.
pub const REDACTED: &str = "<redacted>";

/// A copy of an AdmissionReview that is safe to log: its `object` and
/// `oldObject` redacted, as Secrets whatever they say of themselves when the
/// request is about Secrets.
pub fn redacted_review(review: &Value) -> Value {
    let mut copy = review.clone();
    let Some(request) = copy.get_mut("request") else { return copy };
    let about_secrets = request.pointer("/kind/kind").and_then(Value::as_str) == Some("Secret")
        || request.pointer("/resource/resource").and_then(Value::as_str) == Some("secrets");
    for field in ["object", "oldObject"] {
        if let Some(object) = request.get_mut(field) {
            if about_secrets {
                redact_secret(object);
            }
            redact_in_place(object);
        }
    }
    copy
}

/// A copy of `object` that is safe to log: if it is a Secret (or a list of
/// them), every value of `data` and `stringData` is replaced.
pub fn redacted(object: &Value) -> Value {
    let mut copy = object.clone();
    redact_in_place(&mut copy);
    copy
}

/// The annotation every client-side `kubectl apply` writes: a copy of the object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn redact_in_place(object: &mut Value) {
    redact_env_literals(object, 0);
    let Some(map) = object.as_object_mut() else { return };
    if let Some(Value::String(copy)) = map
        .get_mut("metadata")
        .and_then(|m| m.pointer_mut(&format!("/annotations/{}", LAST_APPLIED.replace('/', "~1"))))
    {
        *copy = REDACTED.into();
    }
    if let Some(Value::Array(items)) = map.get_mut("items") {
        items.iter_mut().for_each(redact_in_place);
    }
    if map.get("kind").and_then(Value::as_str) == Some("Secret")
        || map.contains_key("data")
        || map.contains_key("stringData")
        || map.contains_key("binaryData")
    {
        redact_secret(object);
    }
}

/// Redact `object` as a Secret: `data`, `stringData` and every annotation value.
fn redact_secret(object: &mut Value) {
    let Some(map) = object.as_object_mut() else { return };
    for field in ["data", "stringData", "binaryData"] {
        redact_values(map.get_mut(field));
    }
    redact_values(map.get_mut("metadata").and_then(|m| m.get_mut("annotations")));
}

/// Every literal `env[].value` under `value` (containers, init and ephemeral
/// containers, workload templates): names stay, values go.
fn redact_env_literals(value: &mut Value, depth: usize) {
    // the parser bounds nesting already; this keeps the walk bounded regardless
    if depth > 64 {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(vars)) = map.get_mut("env") {
                for var in vars.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(literal) = var.get_mut("value") {
                        *literal = Value::String(REDACTED.into());
                    }
                }
            }
            map.values_mut().for_each(|v| redact_env_literals(v, depth + 1));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_env_literals(v, depth + 1)),
        _ => {}
    }
}

/// Every value of an object (keys stay), or the whole value if it is not one.
fn redact_values(value: Option<&mut Value>) {
    match value {
        Some(Value::Object(values)) => values.values_mut().for_each(|v| *v = Value::String(REDACTED.into())),
        Some(value) => *value = Value::String(REDACTED.into()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configmap_values_env_literals_and_last_applied_copies_are_replaced() {
        let configmap = json!({"kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"url": "postgres://u:hunter2@db/x"}, "binaryData": {"k": "aHVudGVyMg=="}});
        let out = redacted(&configmap).to_string();
        assert!(!out.contains("hunter2") && !out.contains("aHVudGVyMg") && out.contains("\"url\""), "{out}");
        let pod = json!({"kind": "Pod", "metadata": {"annotations": {LAST_APPLIED: "{\"env\": \"hunter2\"}", "team": "kept"}},
            "spec": {"containers": [{"name": "c", "env": [{"name": "DB_URL", "value": "mysql://r:hunter2@db"}]}]}});
        let out = redacted(&pod).to_string();
        assert!(!out.contains("hunter2") && out.contains("DB_URL") && out.contains("kept"), "{out}");
    }

    #[test]
    fn secret_values_are_replaced_and_keys_kept() {
        let secret = json!({"kind": "Secret", "data": {"p": "aHVudGVyMg=="}, "stringData": {"q": "hunter2"}, "metadata": {"name": "s"}});
        let out = redacted(&secret).to_string();
        assert!(!out.contains("aHVudGVyMg") && !out.contains("hunter2"));
        assert!(out.contains("\"p\":\"<redacted>\"") && out.contains("\"name\":\"s\""));
    }

    #[test]
    fn reviews_are_redacted_in_object_and_old_object() {
        let review = json!({"request": {"object": {"kind": "Secret", "data": {"a": "bmV3"}}, "oldObject": {"kind": "Secret", "data": {"a": "b2xk"}}}});
        let out = redacted_review(&review).to_string();
        assert!(!out.contains("bmV3") && !out.contains("b2xk"), "{out}");
    }

    #[test]
    fn annotations_of_secrets_are_values_too() {
        let applied = r#"{"apiVersion":"v1","data":{"p":"aHVudGVyMg=="},"kind":"Secret","stringData":{"q":"hunter2"}}"#;
        let secret = json!({"kind": "Secret", "metadata": {"name": "s", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": applied, "team.example/note": "hunter3"}}});
        let out = redacted(&secret).to_string();
        assert!(!out.contains("aHVudGVyMg") && !out.contains("hunter2") && !out.contains("hunter3"), "{out}");
        assert!(out.contains("\"team.example/note\":\"<redacted>\""), "{out}");
        // a review about Secrets redacts its objects even when they do not say what they are
        let review =
            json!({"request": {"kind": {"kind": "Secret"}, "object": {"metadata": {"annotations": {"a": "hunter4"}}}}});
        assert!(!redacted_review(&review).to_string().contains("hunter4"));
        // other kinds keep their annotations: they are what an operator debugs
        let pod = json!({"kind": "Pod", "metadata": {"annotations": {"a": "visible"}}});
        assert!(redacted(&pod).to_string().contains("visible"));
    }

    #[test]
    fn lists_and_odd_shapes_are_covered() {
        let list = json!({"kind": "List", "items": [{"kind": "Secret", "data": {"a": "c2VjcmV0"}}]});
        assert!(!redacted(&list).to_string().contains("c2VjcmV0"));
        let odd = json!({"data": ["c2VjcmV0"]});
        assert!(!redacted(&odd).to_string().contains("c2VjcmV0"));
    }
}
