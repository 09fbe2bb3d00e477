//! Bytes → `AdmissionRequest<DynamicObject>`, and a `DynamicObject` → the
//! typed k8s-openapi object the rules read. Errors name the field and never
//! quote a value.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::documents::{self, describe_serde_message};

/// The review versions secretgate answers.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// A request that cannot be reviewed at all. Over HTTP this is a 400; in
/// `secretgate review` it is exit status 2. The text never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// Decode an AdmissionReview body and take its request out.
pub fn decode(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, Unusable> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Unusable("the body is empty".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let review: AdmissionReview<DynamicObject> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Say what is wrong with the envelope first: a v2 review with a
        // strange request is a version problem, not a missing field.
        if let Ok(envelope) = serde_json::from_slice::<kube::core::TypeMeta>(body)
            && let Err(unusable) = check_envelope(&envelope)
        {
            return unusable;
        }
        let path = e.path().to_string();
        let inner = e.into_inner();
        let reason = documents::json_error(&inner).to_string();
        if path == "." || path == "?" || path.is_empty() {
            Unusable(format!("not an AdmissionReview: {reason}"))
        } else {
            Unusable(format!("not an AdmissionReview: {path}: {reason}"))
        }
    })?;
    check_envelope(&review.types)?;
    review.try_into().map_err(|_| Unusable("the AdmissionReview has no request".into()))
}

fn check_envelope(types: &kube::core::TypeMeta) -> Result<(), Unusable> {
    if types.kind != "AdmissionReview" || !API_VERSIONS.contains(&types.api_version.as_str()) {
        return Err(Unusable(format!(
            "not an AdmissionReview: apiVersion {:?} kind {:?}; expected kind AdmissionReview in {}",
            types.api_version,
            types.kind,
            API_VERSIONS.join(" or ")
        )));
    }
    Ok(())
}

/// Convert `object` (named `field` in messages, e.g. `request.object`) into
/// `K`, moving its content rather than copying it: a Secret may be 1 MiB.
pub fn typed<K: DeserializeOwned>(object: DynamicObject, field: &str) -> Result<K, Unusable> {
    let DynamicObject { types, metadata, data } = object;
    let mut value = match data {
        Value::Object(map) => map,
        Value::Null => serde_json::Map::new(),
        _ => return Err(Unusable(format!("{field} is not an object"))),
    };
    let metadata = serde_json::to_value(metadata).map_err(|e| Unusable(format!("{field}.metadata: {e}")))?;
    value.insert("metadata".into(), metadata);
    if let Some(types) = types {
        value.insert("apiVersion".into(), types.api_version.into());
        value.insert("kind".into(), types.kind.into());
    }
    serde_path_to_error::deserialize(Value::Object(value)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let reason = if message.starts_with("Invalid") || message.contains("padding") {
            // base64 errors from k8s-openapi's ByteString
            "not valid base64".to_string()
        } else {
            describe_serde_message(&message)
        };
        Unusable(format!("{field}.{path}: {reason}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;

    fn review(request: &str) -> String {
        format!(r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#)
    }

    const REQUEST: &str = r#"{"uid":"u1","kind":{"group":"","version":"v1","kind":"Secret"},
        "resource":{"group":"","version":"v1","resource":"secrets"},"namespace":"default","operation":"CREATE",
        "userInfo":{"username":"me"},"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},
        "data":{"password":"aHVudGVyMg=="}}}"#;

    #[test]
    fn decodes_a_v1_review() {
        let req = decode(review(REQUEST).as_bytes()).unwrap();
        assert_eq!(req.uid, "u1");
        let secret: Secret = typed(req.object.unwrap(), "request.object").unwrap();
        assert_eq!(secret.data.unwrap()["password"].0, b"hunter2");
        assert_eq!(secret.metadata.name.as_deref(), Some("s"));
    }

    #[test]
    fn refuses_what_is_not_a_review() {
        let cases = [
            ("", "the body is empty"),
            ("{", "not an AdmissionReview: unexpected end of input"),
            (
                "[]",
                "not an AdmissionReview: invalid type: sequence, expected struct AdmissionReview at line 1 column 0",
            ),
            (
                r#"{"apiVersion":"v1","kind":"Pod"}"#,
                "not an AdmissionReview: apiVersion \"v1\" kind \"Pod\"; expected kind AdmissionReview in admission.k8s.io/v1 or admission.k8s.io/v1beta1",
            ),
            (r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "the AdmissionReview has no request"),
            (
                r#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{}}"#,
                "not an AdmissionReview: apiVersion \"admission.k8s.io/v2\" kind \"AdmissionReview\"; expected kind AdmissionReview in admission.k8s.io/v1 or admission.k8s.io/v1beta1",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(decode(body.as_bytes()).unwrap_err().0, want, "{body}");
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let body = review(&REQUEST.replace(r#""operation":"CREATE""#, r#""operation":5"#));
        let err = decode(body.as_bytes()).unwrap_err().0;
        assert!(err.starts_with("not an AdmissionReview: request.operation: invalid JSON at line"), "{err}");
    }

    #[test]
    fn bad_base64_is_named_without_the_value() {
        let body = review(&REQUEST.replace("aHVudGVyMg==", "hunter2!!"));
        let req = decode(body.as_bytes()).unwrap();
        let err = typed::<Secret>(req.object.unwrap(), "request.object").unwrap_err().0;
        assert_eq!(err, "request.object.data.password: not valid base64");
    }

    #[test]
    fn wrong_value_types_do_not_echo() {
        let body = review(&REQUEST.replace(r#""data":{"password":"aHVudGVyMg=="}"#, r#""data":["hunter2"]"#));
        let req = decode(body.as_bytes()).unwrap();
        let err = typed::<Secret>(req.object.unwrap(), "request.object").unwrap_err().0;
        assert!(err.starts_with("request.object.data: invalid type: sequence"), "{err}");
        assert!(!err.contains("hunter2"));
    }
}
