//! Redaction of objects before anything of them is logged: Secret `data`
//! and `stringData` values become `<redacted>`, keys stay.

use serde_json::Value;

/// The placeholder written where a Secret value was.
pub const REDACTED: &str = "<redacted>";

/// A copy of an AdmissionReview that is safe to log: its `object` and
/// `oldObject` redacted.
pub fn redacted_review(review: &Value) -> Value {
    let mut copy = review.clone();
    for field in ["object", "oldObject"] {
        if let Some(object) = copy.get_mut("request").and_then(|r| r.get_mut(field)) {
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

fn redact_in_place(object: &mut Value) {
    let Some(map) = object.as_object_mut() else { return };
    if let Some(Value::Array(items)) = map.get_mut("items") {
        items.iter_mut().for_each(redact_in_place);
    }
    if map.get("kind").and_then(Value::as_str) == Some("Secret")
        || map.contains_key("data")
        || map.contains_key("stringData")
    {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = map.get_mut(field) {
                values.values_mut().for_each(|v| *v = Value::String(REDACTED.into()));
            } else if let Some(value) = map.get_mut(field) {
                *value = Value::String(REDACTED.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn lists_and_odd_shapes_are_covered() {
        let list = json!({"kind": "List", "items": [{"kind": "Secret", "data": {"a": "c2VjcmV0"}}]});
        assert!(!redacted(&list).to_string().contains("c2VjcmV0"));
        let odd = json!({"data": ["c2VjcmV0"]});
        assert!(!redacted(&odd).to_string().contains("c2VjcmV0"));
    }
}
