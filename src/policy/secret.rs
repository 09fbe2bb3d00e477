//! Secret rules (policy.md §1). Every rule reads the Secret as the API server
//! sees it after conversion: `stringData` folded into `data` (a `stringData`
//! key wins) and an empty `type` defaulted to `Opaque`.
//!
//! Messages follow upstream's field-error rendering
//! (`<path>: <Type text>[: <bad value>][: <detail>]`) and never contain a value.

mod go_json;
mod hygiene;
mod immutable;
mod keys;
mod legacy_token;
mod size;
mod types;
mod value;

pub(crate) use value::eliding_large_values;
pub use value::{Base64, DataValue, EncodedSecret, SecretValue, is_base64};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::decision::Report;
use super::rules::RuleId;
use super::{Context, Operation};

/// A Secret as the rules read it: values borrowed, `stringData` folded in.
pub(crate) struct SecretData<'a> {
    /// `type`, defaulted to `Opaque`.
    pub secret_type: &'a str,
    /// Every data key with its value.
    pub data: BTreeMap<&'a str, SecretValue<'a>>,
    /// `immutable: true`.
    pub immutable: bool,
    /// `metadata.annotations`.
    pub annotations: Option<&'a BTreeMap<String, String>>,
}

fn default_type(type_: Option<&str>) -> &str {
    match type_ {
        None | Some("") => "Opaque",
        Some(t) => t,
    }
}

impl<'a> SecretData<'a> {
    /// A decoded k8s-openapi Secret, `stringData` folded into `data`
    /// exactly as the API server's conversion does (a `stringData` key wins).
    pub fn of(secret: &'a Secret) -> Self {
        let data = secret.data.iter().flatten().map(|(k, v)| (k.as_str(), SecretValue::Bytes(&v.0)));
        let fields = (secret.type_.as_deref(), secret.immutable, &secret.metadata);
        Self::assemble(data, secret.string_data.as_ref(), fields)
    }

    /// A Secret as it arrives, values still base64.
    pub fn of_encoded(secret: &'a EncodedSecret) -> Self {
        let data = secret.data.iter().flatten().map(|(k, v)| (k.as_str(), v.value()));
        let fields = (secret.type_.as_deref(), secret.immutable, &secret.metadata);
        Self::assemble(data, secret.string_data.as_ref(), fields)
    }

    /// `data`, then `stringData` over it; type, immutable and metadata.
    fn assemble(
        data: impl Iterator<Item = (&'a str, SecretValue<'a>)>,
        string_data: Option<&'a BTreeMap<String, String>>,
        (secret_type, immutable, metadata): (Option<&'a str>, Option<bool>, &'a ObjectMeta),
    ) -> Self {
        let mut data: BTreeMap<&str, SecretValue<'a>> = data.collect();
        for (k, v) in string_data.into_iter().flatten() {
            data.insert(k, SecretValue::Bytes(v.as_bytes()));
        }
        SecretData {
            secret_type: default_type(secret_type),
            data,
            immutable: immutable == Some(true),
            annotations: metadata.annotations.as_ref(),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<SecretValue<'a>> {
        self.data.get(key).copied()
    }

    /// The key names.
    #[cfg(test)]
    pub fn keys(&self) -> std::collections::BTreeSet<&'a str> {
        self.data.keys().copied().collect()
    }
}

/// Validate a Secret on CREATE or UPDATE (`old` is the stored Secret on UPDATE).
pub fn validate_secret(secret: &Secret, old: Option<&Secret>, operation: Operation, ctx: &Context<'_>) -> Report {
    validate(&SecretData::of(secret), old.map(SecretData::of).as_ref(), operation, ctx)
}

/// [`validate_secret`] for a Secret as it arrives, values still base64.
pub fn validate_encoded_secret(
    secret: &EncodedSecret,
    old: Option<&EncodedSecret>,
    operation: Operation,
    ctx: &Context<'_>,
) -> Report {
    validate(&SecretData::of_encoded(secret), old.map(SecretData::of_encoded).as_ref(), operation, ctx)
}

fn validate(new: &SecretData<'_>, old: Option<&SecretData<'_>>, operation: Operation, ctx: &Context<'_>) -> Report {
    let settings = ctx.settings;
    let mut report = Report::default();
    if settings.enabled(RuleId::SecretSize) {
        report.findings.extend(size::check(new, settings.max_secret_bytes));
    }
    if settings.enabled(RuleId::SecretKeys) {
        report.findings.extend(keys::check(new));
    }
    if settings.enabled(RuleId::SecretType) {
        report.findings.extend(types::check(new));
    }
    if settings.enabled(RuleId::SecretImmutable)
        && operation == Operation::Update
        && let Some(old) = old
    {
        report.findings.extend(immutable::check(new, old));
    }
    if settings.enabled(RuleId::SecretHygiene) {
        report.findings.extend(hygiene::check(new, ctx.now_unix, settings.cert_expiry_warning_days));
    }
    if settings.enabled(RuleId::SecretLegacyToken) && operation == Operation::Create {
        report.findings.extend(legacy_token::check(new));
    }
    report
}

/// When the certificate of a `kubernetes.io/tls` Secret expires (unix
/// seconds); `None` for other types or when `tls.crt` is not a certificate.
pub fn certificate_not_after(secret: &Secret) -> Option<i64> {
    hygiene::certificate_not_after(&SecretData::of(secret))
}

/// [`certificate_not_after`] for a Secret whose values are still base64.
pub fn encoded_certificate_not_after(secret: &EncodedSecret) -> Option<i64> {
    hygiene::certificate_not_after(&SecretData::of_encoded(secret))
}

/// `data[<key>]` with over-long keys shortened.
pub(crate) fn data_path(key: &str) -> String {
    format!("data[{}]", super::names::shown(key))
}

#[cfg(test)]
pub(crate) mod test_support {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// A Secret of `type_` with the given data.
    pub fn secret(type_: &str, data: &[(&str, &[u8])]) -> Secret {
        Secret {
            metadata: ObjectMeta { name: Some("s".into()), namespace: Some("default".into()), ..Default::default() },
            type_: Some(type_.to_string()),
            data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.to_vec()))).collect()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::secret;
    use super::*;
    use crate::policy::settings::Settings;
    use crate::policy::view::Inventory;

    #[test]
    fn string_data_wins_over_data() {
        let mut s = secret("Opaque", &[("a", b"old"), ("b", b"kept")]);
        s.string_data = Some([("a".to_string(), "new".to_string())].into());
        let d = SecretData::of(&s);
        assert_eq!(d.get("a").unwrap().bytes(), &b"new"[..]);
        assert_eq!(d.get("b").unwrap().bytes(), &b"kept"[..]);
        assert_eq!(d.keys().len(), 2);
        let encoded: EncodedSecret =
            serde_json::from_str(r#"{"data": {"a": "b2xk", "b": "a2VwdA=="}, "stringData": {"a": "new"}}"#).unwrap();
        let d = SecretData::of_encoded(&encoded);
        assert_eq!(d.get("a").unwrap().bytes(), &b"new"[..]);
        assert_eq!(d.get("b").unwrap().bytes(), &b"kept"[..]);
    }

    #[test]
    fn encoded_and_decoded_secrets_get_the_same_findings() {
        let view = Inventory::default();
        let settings = Settings::default();
        let ctx = Context { settings: &settings, view: &view, now_unix: 0 };
        let json = r#"{"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "W10=", "bad key": "eAo=", "big": "AAAA"}}"#;
        let decoded: Secret = serde_json::from_str(json).unwrap();
        let encoded: EncodedSecret = serde_json::from_str(json).unwrap();
        let a = validate_secret(&decoded, None, Operation::Create, &ctx);
        let b = validate_encoded_secret(&encoded, None, Operation::Create, &ctx);
        assert!(!a.findings.is_empty());
        assert_eq!(a, b);
    }

    #[test]
    fn empty_type_defaults_to_opaque() {
        let mut s = secret("", &[]);
        assert_eq!(SecretData::of(&s).secret_type, "Opaque");
        s.type_ = None;
        assert_eq!(SecretData::of(&s).secret_type, "Opaque");
    }

    #[test]
    fn rules_that_are_off_are_not_evaluated() {
        let view = Inventory::default();
        let s = secret("kubernetes.io/tls", &[("bad key", b"x")]);
        let mut settings = Settings::default();
        let ctx = Context { settings: &settings, view: &view, now_unix: 0 };
        let report = validate_secret(&s, None, Operation::Create, &ctx);
        let rules: std::collections::BTreeSet<_> = report.findings.iter().map(|f| f.rule).collect();
        assert!(rules.contains(&RuleId::SecretKeys) && rules.contains(&RuleId::SecretType));
        settings.set_action(RuleId::SecretKeys, crate::policy::Action::Off);
        settings.set_action(RuleId::SecretType, crate::policy::Action::Off);
        let ctx = Context { settings: &settings, view: &view, now_unix: 0 };
        assert!(
            validate_secret(&s, None, Operation::Create, &ctx).findings.iter().all(|f| f.rule == RuleId::SecretHygiene)
        );
    }
}
