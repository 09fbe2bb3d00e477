//! The fast path of decoding: one pass over the body that parses `object`
//! and `oldObject` straight into the typed subject, chosen from the fields
//! that precede them (the API server writes `kind`, `subResource` and
//! `operation` before `object`). Large Secrets are then scanned once instead
//! of twice. Any surprise (another field order, an error) is left to the
//! two-pass decoder in `decode.rs`, which also words every error.

use std::fmt;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::core::admission::{AdmissionRequest, Operation};
use kube::core::{GroupVersionKind, GroupVersionResource, TypeMeta};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::decode::{Decoded, Slot};
use crate::policy::configmap::ConfigMapObject;
use crate::policy::secret::{EncodedSecret, eliding_large_values};

/// What `object` should be parsed into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// An [`EncodedSecret`].
    Secret,
    /// A Pod.
    Pod,
    /// A [`ConfigMapObject`].
    ConfigMap,
    /// Leave it raw (workloads, unhandled kinds).
    Raw,
}

/// Decides the target from (kind, subresource, operation).
pub(crate) type Chooser<'c> = &'c dyn Fn(&GroupVersionKind, &str, &Operation) -> Target;

/// Decode in one pass; `None` when the fast path does not apply.
pub(crate) fn decode<'a>(body: &'a [u8], choose: Chooser<'_>) -> Option<Decoded<'a>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let decoded = ReviewSeed { choose }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    decoded
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ReviewField {
    ApiVersion,
    Kind,
    Request,
    #[serde(other)]
    Other,
}

struct ReviewSeed<'c> {
    choose: Chooser<'c>,
}

impl<'de, 'c> DeserializeSeed<'de> for ReviewSeed<'c> {
    type Value = Option<Decoded<'de>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, 'c> Visitor<'de> for ReviewSeed<'c> {
    type Value = Option<Decoded<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut api_version, mut kind, mut request) = (None, None, None);
        while let Some(field) = map.next_key::<ReviewField>()? {
            match field {
                ReviewField::ApiVersion => api_version = Some(map.next_value::<String>()?),
                ReviewField::Kind => kind = Some(map.next_value::<String>()?),
                ReviewField::Request => request = map.next_value_seed(RequestSeed { choose: self.choose })?,
                ReviewField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (Some(api_version), Some(kind), Some(mut decoded)) = (api_version, kind, request) else {
            return Ok(None);
        };
        decoded.request.types = TypeMeta { api_version, kind };
        Ok(Some(decoded))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum RequestField {
    Uid,
    Kind,
    Resource,
    SubResource,
    RequestKind,
    RequestResource,
    RequestSubResource,
    Name,
    Namespace,
    Operation,
    UserInfo,
    Object,
    OldObject,
    DryRun,
    Options,
    #[serde(other)]
    Other,
}

struct RequestSeed<'c> {
    choose: Chooser<'c>,
}

impl<'de, 'c> DeserializeSeed<'de> for RequestSeed<'c> {
    type Value = Option<Decoded<'de>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, 'c> Visitor<'de> for RequestSeed<'c> {
    type Value = Option<Decoded<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionRequest")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut uid: Option<String> = None;
        let mut kind: Option<GroupVersionKind> = None;
        let mut resource: Option<GroupVersionResource> = None;
        let mut sub_resource: Option<String> = None;
        let mut request_kind = None;
        let mut request_resource = None;
        let mut request_sub_resource = None;
        let mut name = String::new();
        let mut namespace = None;
        let mut operation: Option<Operation> = None;
        let mut user_info: Option<UserInfo> = None;
        let (mut object, mut old_object) = (Slot::Absent, Slot::Absent);
        let mut dry_run = false;
        let mut options: Option<RawExtension> = None;
        while let Some(field) = map.next_key::<RequestField>()? {
            match field {
                RequestField::Uid => uid = Some(map.next_value()?),
                RequestField::Kind => kind = Some(map.next_value()?),
                RequestField::Resource => resource = Some(map.next_value()?),
                RequestField::SubResource => sub_resource = map.next_value()?,
                RequestField::RequestKind => request_kind = map.next_value()?,
                RequestField::RequestResource => request_resource = map.next_value()?,
                RequestField::RequestSubResource => request_sub_resource = map.next_value()?,
                RequestField::Name => name = map.next_value::<Option<String>>()?.unwrap_or_default(),
                RequestField::Namespace => namespace = map.next_value()?,
                RequestField::Operation => operation = Some(map.next_value()?),
                RequestField::UserInfo => user_info = Some(map.next_value()?),
                RequestField::Object | RequestField::OldObject => {
                    let target = match (&kind, &operation) {
                        (Some(kind), Some(operation)) => {
                            (self.choose)(kind, sub_resource.as_deref().unwrap_or_default(), operation)
                        }
                        _ => Target::Raw,
                    };
                    let slot = match target {
                        Target::Secret => {
                            // a CREATE's object: large values no rule reads stay in the body
                            let create =
                                matches!(field, RequestField::Object) && matches!(operation, Some(Operation::Create));
                            let secret = match create {
                                true => eliding_large_values(|| map.next_value::<Option<EncodedSecret>>())?,
                                false => map.next_value::<Option<EncodedSecret>>()?,
                            };
                            secret.map_or(Slot::Absent, |s| Slot::Secret(Box::new(s)))
                        }
                        Target::Pod => {
                            map.next_value::<Option<Pod>>()?.map_or(Slot::Absent, |p| Slot::Pod(Box::new(p)))
                        }
                        Target::ConfigMap => map
                            .next_value::<Option<ConfigMapObject>>()?
                            .map_or(Slot::Absent, |c| Slot::ConfigMap(Box::new(c))),
                        Target::Raw => map.next_value::<Option<&'de RawValue>>()?.map_or(Slot::Absent, Slot::Raw),
                    };
                    if matches!(field, RequestField::Object) {
                        object = slot;
                    } else {
                        old_object = slot;
                    }
                }
                RequestField::DryRun => dry_run = map.next_value::<Option<bool>>()?.unwrap_or_default(),
                RequestField::Options => options = map.next_value()?,
                RequestField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (Some(uid), Some(kind), Some(resource), Some(operation), Some(user_info)) =
            (uid, kind, resource, operation, user_info)
        else {
            return Ok(None);
        };
        Ok(Some(Decoded {
            request: AdmissionRequest {
                types: TypeMeta::default(),
                uid,
                kind,
                resource,
                sub_resource,
                request_kind,
                request_resource,
                request_sub_resource,
                name,
                namespace,
                operation,
                user_info,
                object: None,
                old_object: None,
                dry_run,
                options,
            },
            object,
            old_object,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_FIRST_KIND: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",
        "kind":{"group":"","version":"v1","kind":"Secret"},"resource":{"group":"","version":"v1","resource":"secrets"},
        "operation":"CREATE","userInfo":{},"object":{"metadata":{"name":"s"},"data":{"k":"aGk="}},"oldObject":null}}"#;

    fn choose(kind: &GroupVersionKind, _: &str, _: &Operation) -> Target {
        if kind.kind == "Secret" { Target::Secret } else { Target::Raw }
    }

    #[test]
    fn api_server_ordered_reviews_are_typed_in_one_pass() {
        let decoded = decode(SECRET_FIRST_KIND.as_bytes(), &choose).expect("the fast path applies");
        assert!(matches!(decoded.object, Slot::Secret(_)), "{:?}", decoded.object);
        assert!(matches!(decoded.old_object, Slot::Absent));
        assert_eq!(decoded.request.uid, "u");
        assert_eq!(decoded.request.types.kind, "AdmissionReview");
    }

    #[test]
    fn a_create_keeps_large_values_no_rule_reads_as_their_length_an_update_keeps_all() {
        use crate::policy::secret::DataValue;
        let big = "QUJD".repeat(100_000); // 300,000 bytes decoded
        let review = |operation: &str| {
            SECRET_FIRST_KIND
                .replace(r#""data":{"k":"aGk="}"#, &format!(r#""data":{{"k":"{big}","tls.crt":"{big}"}}"#))
                .replace(r#""oldObject":null"#, &format!(r#""oldObject":{{"data":{{"k":"{big}"}}}}"#))
                .replace("CREATE", operation)
        };
        let data = |slot: &Slot<'_>| match slot {
            Slot::Secret(secret) => secret.data.clone().unwrap(),
            other => panic!("{other:?}"),
        };
        let create = review("CREATE");
        let decoded = decode(create.as_bytes(), &choose).unwrap();
        assert_eq!(data(&decoded.object)["k"], DataValue::Elided(300_000));
        assert!(matches!(data(&decoded.object)["tls.crt"], DataValue::Text(_)), "a key a rule reads is kept");
        let update = review("UPDATE");
        let decoded = decode(update.as_bytes(), &choose).unwrap();
        assert!(matches!(data(&decoded.object)["k"], DataValue::Text(_)), "an UPDATE compares values: all kept");
        assert!(matches!(data(&decoded.old_object)["k"], DataValue::Text(_)));
    }

    #[test]
    fn objects_before_their_kind_stay_raw() {
        let reordered = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
            "object":{"metadata":{"name":"s"}},"uid":"u","kind":{"group":"","version":"v1","kind":"Secret"},
            "resource":{"group":"","version":"v1","resource":"secrets"},"operation":"CREATE","userInfo":{}}}"#;
        let decoded = decode(reordered.as_bytes(), &choose).unwrap();
        assert!(matches!(decoded.object, Slot::Raw(_)));
    }

    #[test]
    fn anything_wrong_leaves_it_to_the_two_pass_decoder() {
        let bad_base64 = SECRET_FIRST_KIND.replace("aGk=", "hunter2!");
        assert!(decode(bad_base64.as_bytes(), &choose).is_none());
        assert!(decode(b"{\"apiVersion\":1}", &choose).is_none());
        assert!(decode(b"{} trailing", &choose).is_none());
    }
}
