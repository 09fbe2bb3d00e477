//! Bytes → the request's envelope, with the objects left as raw JSON until
//! the dispatcher knows which type they are; then raw JSON → the typed
//! k8s-openapi object the rules read. Errors name the field and never quote
//! a value.
//!
//! kube's `AdmissionReview<DynamicObject>` would build a `serde_json::Value`
//! of every object (through a flattened map), to be converted again into a
//! typed object: measured at twice the CPU of the rest of a Pod review. The
//! envelope here mirrors kube's `AdmissionRequest` field for field and hands
//! one back, with `object`/`oldObject` taken out as raw JSON.

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::core::admission::{AdmissionRequest, Operation};
use kube::core::{DynamicObject, GroupVersionKind, GroupVersionResource, TypeMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::documents::{self, describe_serde_message};
use crate::policy::secret::EncodedSecret;

/// The review versions secretgate answers.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// A request that cannot be reviewed at all. Over HTTP this is a 400; in
/// `secretgate review` it is exit status 2. The text never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// A decoded review: kube's request (without objects) and the objects.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The request; `object` and `old_object` are `None`, see the fields below.
    pub request: AdmissionRequest<DynamicObject>,
    /// `request.object`.
    pub object: Slot<'a>,
    /// `request.oldObject`.
    pub old_object: Slot<'a>,
}

/// An object of the request: absent, raw JSON, or already typed.
#[derive(Debug)]
pub enum Slot<'a> {
    /// Absent or `null`.
    Absent,
    /// Undecoded JSON.
    Raw(&'a RawValue),
    /// A Secret, values still base64.
    Secret(Box<EncodedSecret>),
    /// A Pod.
    Pod(Box<Pod>),
    /// A ConfigMap, `binaryData` still base64.
    ConfigMap(Box<crate::policy::configmap::ConfigMapObject>),
}

impl Slot<'_> {
    /// Whether there is an object.
    pub fn is_present(&self) -> bool {
        !matches!(self, Slot::Absent)
    }
}

/// Decode a review, parsing its objects into the types `choose` picks
/// (one pass over the body); falls back to [`decode`] for anything unusual.
pub(crate) fn decode_for<'a>(body: &'a [u8], choose: super::single_pass::Chooser<'_>) -> Result<Decoded<'a>, Unusable> {
    match super::single_pass::decode(body, choose) {
        Some(decoded) if check_envelope(&decoded.request.types.api_version, &decoded.request.types.kind).is_ok() => {
            Ok(decoded)
        }
        _ => decode(body),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", rename = "AdmissionReview")]
struct RawReview<'a> {
    api_version: String,
    kind: String,
    #[serde(borrow)]
    request: Option<RawRequest<'a>>,
}

/// kube's `AdmissionRequest`, with the objects borrowed as raw JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", rename = "AdmissionRequest")]
struct RawRequest<'a> {
    uid: String,
    kind: GroupVersionKind,
    resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    request_kind: Option<GroupVersionKind>,
    #[serde(default)]
    request_resource: Option<GroupVersionResource>,
    #[serde(default)]
    request_sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    user_info: UserInfo,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    options: Option<RawExtension>,
}

/// Decode an AdmissionReview body.
pub fn decode<'a>(body: &'a [u8]) -> Result<Decoded<'a>, Unusable> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(Unusable("the body is empty".into())),
        Some(b'{') => {}
        Some(_) => return Err(Unusable("not an AdmissionReview: the body is not a JSON object".into())),
    }
    let review: RawReview<'a> = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(_) => return Err(explain(body)),
    };
    check_envelope(&review.api_version, &review.kind)?;
    let Some(r) = review.request else {
        return Err(Unusable("the AdmissionReview has no request".into()));
    };
    let slot = |raw: Option<&'a RawValue>| match raw.filter(|v| v.get() != "null") {
        Some(raw) => Slot::Raw(raw),
        None => Slot::Absent,
    };
    Ok(Decoded {
        object: slot(r.object),
        old_object: slot(r.old_object),
        request: AdmissionRequest {
            types: TypeMeta { api_version: review.api_version, kind: review.kind },
            uid: r.uid,
            kind: r.kind,
            resource: r.resource,
            sub_resource: r.sub_resource,
            request_kind: r.request_kind,
            request_resource: r.request_resource,
            request_sub_resource: r.request_sub_resource,
            name: r.name,
            namespace: r.namespace,
            operation: r.operation,
            user_info: r.user_info,
            object: None,
            old_object: None,
            dry_run: r.dry_run,
            options: r.options,
        },
    })
}

/// The error path: decode again, slowly, to name what is wrong.
#[cold]
fn explain(body: &[u8]) -> Unusable {
    // Say what is wrong with the envelope first: a v2 review with a
    // strange request is a version problem, not a missing field.
    if let Ok(envelope) = serde_json::from_slice::<TypeMeta>(body)
        && let Err(unusable) = check_envelope(&envelope.api_version, &envelope.kind)
    {
        return unusable;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, RawReview<'_>>(&mut de) {
        Ok(_) => Unusable("not an AdmissionReview".into()),
        Err(e) => {
            let path = e.path().to_string();
            let reason = documents::json_error(e.inner()).to_string();
            if path == "." || path == "?" || path.is_empty() {
                Unusable(format!("not an AdmissionReview: {reason}"))
            } else {
                Unusable(format!("not an AdmissionReview: {path}: {reason}"))
            }
        }
    }
}

fn check_envelope(api_version: &str, kind: &str) -> Result<(), Unusable> {
    if kind != "AdmissionReview" || !API_VERSIONS.contains(&api_version) {
        return Err(Unusable(format!(
            "not an AdmissionReview: apiVersion {api_version:?} kind {kind:?}; expected kind AdmissionReview in {}",
            API_VERSIONS.join(" or ")
        )));
    }
    Ok(())
}

/// Parse the raw `object` (named `field` in messages, e.g. `request.object`)
/// into `K`, straight from its JSON text.
pub fn typed<K: DeserializeOwned>(object: &RawValue, field: &str) -> Result<K, Unusable> {
    serde_json::from_str(object.get()).map_err(|_| explain_object::<K>(object, field))
}

#[cold]
fn explain_object<K: DeserializeOwned>(object: &RawValue, field: &str) -> Unusable {
    let mut de = serde_json::Deserializer::from_str(object.get());
    match serde_path_to_error::deserialize::<_, K>(&mut de) {
        Ok(_) => Unusable(format!("{field} could not be read")),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let reason = if message.starts_with("Invalid") || message.contains("padding") {
                // base64 errors from k8s-openapi's ByteString
                "not valid base64".to_string()
            } else {
                describe_serde_message(&message)
            };
            if path == "." || path == "?" {
                Unusable(format!("{field}: {reason}"))
            } else {
                Unusable(format!("{field}.{path}: {reason}"))
            }
        }
    }
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
        "data":{"password":"aHVudGVyMg=="}},"oldObject":null}"#;

    #[test]
    fn decodes_a_v1_review() {
        let body = review(REQUEST);
        let decoded = decode(body.as_bytes()).unwrap();
        assert_eq!(decoded.request.uid, "u1");
        assert_eq!(decoded.request.types.api_version, "admission.k8s.io/v1");
        assert!(!decoded.old_object.is_present(), "null is no object");
        let Slot::Raw(raw) = decoded.object else { panic!("raw") };
        let secret: Secret = typed(raw, "request.object").unwrap();
        assert_eq!(secret.data.unwrap()["password"].0, b"hunter2");
        assert_eq!(secret.metadata.name.as_deref(), Some("s"));
    }

    #[test]
    fn refuses_what_is_not_a_review() {
        let cases = [
            ("", "the body is empty"),
            ("{", "not an AdmissionReview: unexpected end of input"),
            ("[]", "not an AdmissionReview: the body is not a JSON object"),
            ("42", "not an AdmissionReview: the body is not a JSON object"),
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
        assert!(err.starts_with("not an AdmissionReview: request.operation: "), "{err}");
    }

    #[test]
    fn bad_base64_is_named_without_the_value() {
        let body = review(&REQUEST.replace("aHVudGVyMg==", "hunter2!!"));
        let decoded = decode(body.as_bytes()).unwrap();
        let Slot::Raw(raw) = decoded.object else { panic!("raw") };
        let err = typed::<Secret>(raw, "request.object").unwrap_err().0;
        assert_eq!(err, "request.object.data.password: not valid base64");
    }

    #[test]
    fn wrong_value_types_do_not_echo() {
        let body = review(&REQUEST.replace(r#""data":{"password":"aHVudGVyMg=="}"#, r#""data":["hunter2"]"#));
        let decoded = decode(body.as_bytes()).unwrap();
        let Slot::Raw(raw) = decoded.object else { panic!("raw") };
        let err = typed::<Secret>(raw, "request.object").unwrap_err().0;
        assert!(err.starts_with("request.object.data: invalid type: sequence"), "{err}");
        assert!(!err.contains("hunter2"));
    }
}
