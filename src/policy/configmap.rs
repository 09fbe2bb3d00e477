//! ConfigMap rules (policy.md §4): `configmap-credentials`, a credential in
//! a `data` or `binaryData` value. Each value is scanned once; a finding
//! names the key and the kind of credential, never the value.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Context;
use super::credentials;
use super::decision::{Finding, Report};
use super::names::shown;
use super::rules::RuleId;
use super::secret::{Base64, SecretValue};

/// The most findings one ConfigMap gives: a value can hold every kind, a
/// ConfigMap can hold thousands of keys; an answer stays small.
pub const MAX_FINDINGS: usize = 64;

/// A ConfigMap as it arrives: `binaryData` still base64 (decoded only to be scanned).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapObject {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `data`.
    #[serde(default)]
    pub data: Option<BTreeMap<String, String>>,
    /// `binaryData`, base64.
    #[serde(default)]
    pub binary_data: Option<BTreeMap<String, Base64>>,
}

impl From<k8s_openapi::api::core::v1::ConfigMap> for ConfigMapObject {
    /// A listed ConfigMap (`binaryData` decoded by k8s-openapi, encoded again: it is rare and small).
    fn from(configmap: k8s_openapi::api::core::v1::ConfigMap) -> Self {
        use base64::Engine;
        let encode = |b: k8s_openapi::ByteString| Base64(base64::engine::general_purpose::STANDARD.encode(b.0));
        ConfigMapObject {
            metadata: configmap.metadata,
            data: configmap.data,
            binary_data: configmap.binary_data.map(|m| m.into_iter().map(|(k, v)| (k, encode(v))).collect()),
        }
    }
}

/// Validate a ConfigMap on CREATE, or on UPDATE against the `old` one: an
/// UPDATE is judged by the values it adds or changes, so a credential that
/// was already there (a rule turned to `deny` later) never blocks an
/// unrelated change such as a label; the audit still reports it.
pub fn validate_configmap(configmap: &ConfigMapObject, old: Option<&ConfigMapObject>, ctx: &Context<'_>) -> Report {
    let mut report = Report::default();
    if !ctx.settings.enabled(RuleId::ConfigmapCredentials) {
        return report;
    }
    let old_text = old.and_then(|o| o.data.as_ref());
    let old_binary = old.and_then(|o| o.binary_data.as_ref());
    let text = configmap
        .data
        .iter()
        .flatten()
        .filter(|(k, v)| old_text.and_then(|o| o.get(*k)) != Some(*v))
        .map(|(k, v)| ("data", k, SecretValue::Bytes(v.as_bytes())));
    let binary = configmap
        .binary_data
        .iter()
        .flatten()
        .filter(|(k, v)| old_binary.and_then(|o| o.get(*k)) != Some(*v))
        .map(|(k, v)| ("binaryData", k, SecretValue::Base64(&v.0)));
    for (field, key, value) in text.chain(binary) {
        for kind in credentials::scan(&value.bytes()) {
            if report.findings.len() == MAX_FINDINGS {
                return report;
            }
            report.findings.push(Finding::violation(
                RuleId::ConfigmapCredentials,
                format!("{field}[{}]", shown(key)),
                format!("looks like {}; credentials belong in a Secret, not a ConfigMap", kind.describe()),
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Inventory, Settings};

    fn findings(configmap: serde_json::Value, settings: &Settings) -> Vec<String> {
        let configmap: ConfigMapObject = serde_json::from_value(configmap).unwrap();
        let ctx = Context { settings, view: &Inventory::default(), now_unix: 0 };
        validate_configmap(&configmap, None, &ctx).findings.iter().map(Finding::text).collect()
    }

    #[test]
    fn an_update_is_judged_by_the_values_it_adds_or_changes() {
        let url = |password: &str| format!("postgres://app:{password}@db/app");
        let old: ConfigMapObject = serde_json::from_value(serde_json::json!({
            "data": {"DATABASE_URL": url("0ld-pa55"), "plain": "a"},
            "binaryData": {"key.pem": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD, format!("-----BEGIN {} KEY-----\nx", "PRIVATE"))}}))
        .unwrap();
        let settings = Settings::default();
        let ctx = Context { settings: &settings, view: &Inventory::default(), now_unix: 0 };
        let texts = |new: &ConfigMapObject| -> Vec<String> {
            validate_configmap(new, Some(&old), &ctx).findings.iter().map(Finding::text).collect()
        };
        // a label change, or any change to a clean value: the credentials already there are not judged again
        let mut relabelled = old.clone();
        relabelled.data.as_mut().unwrap().insert("plain".into(), "b".into());
        assert!(texts(&relabelled).is_empty());
        // a changed value and a new key are
        let mut changed = old.clone();
        changed.data.as_mut().unwrap().insert("DATABASE_URL".into(), url("n3w-pa55"));
        changed.data.as_mut().unwrap().insert("CACHE_URL".into(), format!("redis://:{}@cache", "s3cr3t"));
        let found = texts(&changed);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("data[CACHE_URL]") && found[1].contains("data[DATABASE_URL]"), "{found:?}");
        // on CREATE (no old object) everything is
        assert_eq!(validate_configmap(&old, None, &ctx).findings.len(), 2);
    }

    #[test]
    fn names_the_key_and_kind_never_the_value() {
        let id = format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE");
        let binary = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("-----BEGIN EC {} KEY-----\nx", "PRIVATE"),
        );
        let texts = findings(
            serde_json::json!({"metadata": {"name": "c"},
                "data": {"app.properties": format!("aws.key={id}\n"), "plain": "hello"},
                "binaryData": {"key.pem": binary}}),
            &Settings::default(),
        );
        assert_eq!(
            texts,
            [
                "[configmap-credentials] data[app.properties]: looks like an AWS access key id; credentials belong in a Secret, not a ConfigMap",
                "[configmap-credentials] binaryData[key.pem]: looks like a PEM private key; credentials belong in a Secret, not a ConfigMap",
            ]
        );
        assert!(!texts.concat().contains("IOSFODNN"), "no part of the value");
    }

    #[test]
    fn off_scans_nothing_and_findings_are_bounded() {
        let off = Settings::default().with_action(RuleId::ConfigmapCredentials, crate::policy::Action::Off);
        let data: serde_json::Map<String, serde_json::Value> =
            (0..500).map(|i| (format!("k{i}"), serde_json::Value::from("postgres://u:p4ss@db/x"))).collect();
        let cm = serde_json::json!({"data": data});
        assert!(findings(cm.clone(), &off).is_empty());
        assert_eq!(findings(cm, &Settings::default()).len(), MAX_FINDINGS);
    }
}
