//! Tests of the Pod rules through `validate_pod`, with an in-memory view.

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use serde_json::json;

use super::test_support::everything_pod;
use super::*;
use crate::policy::settings::{EnvNames, Settings};
use crate::policy::view::{ENFORCE_MOUNTABLE_SECRETS, Inventory, SecretSummary, ServiceAccountSummary};
use crate::policy::{Action, Severity, decide};

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})).unwrap()
}

fn view() -> Inventory {
    Inventory::default()
        .with_secret("team-a", "db", SecretSummary::with_keys("Opaque", &["username", "password"]))
        .with_secret("team-a", "env-keys", SecretSummary::with_keys("Opaque", &["1badkey", "2alsobad", "GOOD"]))
        .with_secret("team-b", "elsewhere", SecretSummary::with_keys("Opaque", &["key"]))
        .with_service_account("team-a", "default", ServiceAccountSummary::default())
}

/// The reference rules' findings: `pod-secret-env` (every env reference) has
/// its own tests below and is left out here.
fn run(pod: &Pod, view: &Inventory, settings: &Settings) -> Report {
    let settings = settings.clone().with_action(RuleId::PodSecretEnv, Action::Off);
    let ctx = Context { settings: &settings, view, now_unix: 0 };
    validate_pod(pod, "team-a", PodScope::Create, &ctx)
}

fn texts(report: &Report) -> Vec<String> {
    report.findings.iter().map(Finding::text).collect()
}

fn secret_volume(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut secret = json!({"secretName": name});
    secret.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "secret": secret}]})
}

use crate::policy::Finding;

// === pod-secret-exists ===

#[test]
fn an_existing_secret_volume_is_allowed() {
    let report = run(&pod(secret_volume("db", json!({}))), &view(), &Settings::default());
    assert!(report.findings.is_empty() && report.unresolved.is_empty());
}

#[test]
fn a_missing_secret_is_denied_naming_namespace_and_name() {
    let report = run(&pod(secret_volume("missing", json!({}))), &view(), &Settings::default());
    assert_eq!(
        texts(&report),
        vec![
            r#"[pod-secret-exists] spec.volumes[0].secret.secretName: Not found: secret "team-a/missing" does not exist in the Pod's namespace"#
        ]
    );
    assert_eq!(report.unresolved.len(), 1);
    assert!(!decide(&report.findings, |r| Settings::default().action(r)).allowed());
}

#[test]
fn an_optional_missing_secret_is_allowed() {
    let report = run(&pod(secret_volume("missing", json!({"optional": true}))), &view(), &Settings::default());
    assert!(report.findings.is_empty());
}

#[test]
fn a_secret_of_another_namespace_does_not_count() {
    let report = run(&pod(secret_volume("elsewhere", json!({}))), &view(), &Settings::default());
    assert_eq!(report.findings.len(), 1);
    assert!(report.findings[0].message.contains("team-a/elsewhere"));
}

#[test]
fn a_missing_image_pull_secret_only_warns() {
    let p = pod(json!({"containers": [{"name": "c", "image": "i"}], "imagePullSecrets": [{"name": "nope"}]}));
    let report = run(&p, &view(), &Settings::default());
    assert_eq!(report.findings[0].severity, Severity::Advisory);
    let decision = decide(&report.findings, |r| Settings::default().action(r));
    assert!(decision.allowed());
    assert_eq!(decision.warnings.len(), 1);
    assert!(decision.warnings[0].starts_with("[pod-secret-exists] spec.imagePullSecrets[0].name: Not found"));
}

#[test]
fn every_missing_reference_of_every_kind_is_reported() {
    let report = run(&everything_pod(), &Inventory::default(), &Settings::default());
    let exists: Vec<&Finding> = report.findings.iter().filter(|f| f.rule == RuleId::PodSecretExists).collect();
    // 18 references, one of them optional (the secret volume)
    assert_eq!(exists.len(), 17, "{:#?}", texts(&report));
}

// === pod-secret-keys ===

#[test]
fn a_missing_secret_key_ref_key_is_denied_unless_optional() {
    let env = |optional: bool| {
        pod(json!({"containers": [{"name": "c", "image": "i", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "token", "optional": optional}}}]}]}))
    };
    let report = run(&env(false), &view(), &Settings::default());
    assert_eq!(
        texts(&report),
        vec![
            r#"[pod-secret-keys] spec.containers[0].env[0].valueFrom.secretKeyRef.key: Not found: key "token" is not in secret "team-a/db""#
        ]
    );
    assert!(run(&env(true), &view(), &Settings::default()).findings.is_empty());
}

#[test]
fn a_missing_items_key_is_denied_unless_optional() {
    let items = json!({"items": [{"key": "password", "path": "p"}, {"key": "nope", "path": "n"}]});
    let report = run(&pod(secret_volume("db", items.clone())), &view(), &Settings::default());
    assert_eq!(
        texts(&report),
        vec![
            r#"[pod-secret-keys] spec.volumes[0].secret.items[1].key: Not found: key "nope" is not in secret "team-a/db""#
        ]
    );
    let mut optional = items;
    optional["optional"] = true.into();
    assert!(run(&pod(secret_volume("db", optional)), &view(), &Settings::default()).findings.is_empty());
}

#[test]
fn projected_items_are_checked() {
    let p =
        pod(json!({"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "projected": {"sources": [
        {"secret": {"name": "db", "items": [{"key": "nope", "path": "n"}]}}]}}]}));
    let report = run(&p, &view(), &Settings::default());
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].field, "spec.volumes[0].projected.sources[0].secret.items[0].key");
}

#[test]
fn unknown_keys_are_reported_once_as_unknown() {
    let v = Inventory::default().with_secret("team-a", "db", SecretSummary::from_metadata(&Default::default()));
    let p = pod(json!({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "a"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "b"}}}]}]}));
    let report = run(&p, &v, &Settings::default());
    let unknown: Vec<&Finding> = report.findings.iter().filter(|f| f.severity == Severity::Unknown).collect();
    assert_eq!(unknown.len(), 1, "{:?}", texts(&report));
    assert!(unknown[0].message.contains("team-a/db") && unknown[0].message.contains("not checked"));
    let decision = decide(&report.findings, |r| Settings::default().action(r));
    assert!(decision.allowed() && decision.tally.is_empty(), "unknown is neither a denial nor a counted violation");
}

// === pod-mountable-secrets ===

fn locked(annotation: &str, secrets: &[&str], pulls: &[&str]) -> ServiceAccountSummary {
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "locked", "annotations": {ENFORCE_MOUNTABLE_SECRETS: annotation}},
        "secrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
        "imagePullSecrets": pulls.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
    }))
    .unwrap();
    ServiceAccountSummary::from_service_account(&sa)
}

fn mountable_only() -> Settings {
    let mut s = Settings::default();
    for rule in RuleId::ALL.into_iter().filter(|r| *r != RuleId::PodMountableSecrets) {
        s.set_action(rule, Action::Off);
    }
    s
}

#[test]
fn go_boolean_true_values_enforce_and_others_do_not() {
    let p = pod(json!({"serviceAccountName": "locked", "containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "v", "secret": {"secretName": "db"}}]}));
    for value in ["1", "t", "T", "TRUE", "true", "True"] {
        let v = view().with_service_account("team-a", "locked", locked(value, &[], &[]));
        assert_eq!(run(&p, &v, &mountable_only()).findings.len(), 1, "{value:?} enforces");
    }
    for value in ["yes", "enabled", "false", "0", ""] {
        let v = view().with_service_account("team-a", "locked", locked(value, &[], &[]));
        assert!(run(&p, &v, &mountable_only()).findings.is_empty(), "{value:?} does not enforce");
    }
}

#[test]
fn every_violation_is_reported_in_upstream_wording() {
    let v = view().with_service_account("team-a", "locked", locked("true", &[], &[]));
    let report = run(&everything_pod(), &v, &mountable_only());
    let got = texts(&report);
    let want = [
        r#"[pod-mountable-secrets] spec.volumes[0].secret.secretName: volume with secret.secretName="vol-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.volumes[1].projected.sources[1].secret.name: volume v-projected with projected secret.name="proj-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.volumes[2].csi.nodePublishSecretRef.name: volume v-csi with csi.nodePublishSecretRef.name="csi-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.volumes[4].cephfs.secretRef.name: volume v-ceph with cephfs.secretRef.name="ceph-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.containers[0].env[1].valueFrom.secretKeyRef.name: container app with envVar PASSWORD referencing secret.secretName="env-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.containers[0].envFrom[0].secretRef.name: container app with envFrom referencing secret.secretName="envfrom-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.initContainers[0].env[0].valueFrom.secretKeyRef.name: init container init with envVar TOKEN referencing secret.secretName="init-env-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.initContainers[0].envFrom[0].secretRef.name: init container init with envFrom referencing secret.secretName="init-envfrom-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.ephemeralContainers[0].envFrom[0].secretRef.name: ephemeral container debug with envFrom referencing secret.secretName="eph-envfrom-secret" is not allowed because service account locked does not reference that secret"#,
        r#"[pod-mountable-secrets] spec.imagePullSecrets[0].name: imagePullSecrets[0].name="pull" is not allowed because service account locked does not reference that imagePullSecret"#,
    ];
    for line in want {
        assert!(got.iter().any(|g| g == line), "missing:\n{line}\nin:\n{}", got.join("\n"));
    }
    assert_eq!(got.len(), 18, "all 18 references are violations, optional ones included");
}

#[test]
fn listed_secrets_pass_and_pull_secrets_are_checked_against_image_pull_secrets() {
    let p = pod(json!({"serviceAccountName": "locked", "containers": [{"name": "c", "image": "i",
        "envFrom": [{"secretRef": {"name": "db"}}]}], "imagePullSecrets": [{"name": "regcred"}]}));
    let listed_as_secret = view().with_service_account("team-a", "locked", locked("true", &["db", "regcred"], &[]));
    let report = run(&p, &listed_as_secret, &mountable_only());
    assert_eq!(texts(&report).len(), 1);
    assert!(report.findings[0].message.contains("does not reference that imagePullSecret"));
    let listed = view().with_service_account("team-a", "locked", locked("true", &["db"], &["regcred"]));
    assert!(run(&p, &listed, &mountable_only()).findings.is_empty());
}

#[test]
fn a_missing_service_account_leaves_the_rule_silent_but_unresolved() {
    let p = pod(json!({"serviceAccountName": "ghost", "containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "v", "secret": {"secretName": "db"}}]}));
    let report = run(&p, &view(), &mountable_only());
    assert!(report.findings.is_empty());
    assert_eq!(
        report.unresolved.into_iter().collect::<Vec<_>>(),
        vec![crate::policy::ObjectKey::ServiceAccount { namespace: "team-a".into(), name: "ghost".into() }]
    );
}

#[test]
fn ephemeral_updates_check_only_the_new_ephemeral_containers() {
    let v = view().with_service_account("team-a", "locked", locked("true", &[], &[]));
    let new = everything_pod();
    let ctx = Context { settings: &mountable_only(), view: &v, now_unix: 0 };
    let mut old = new.clone();
    old.spec.as_mut().unwrap().ephemeral_containers = None;
    let report = validate_pod(&new, "team-a", PodScope::EphemeralUpdate { old: Some(&old) }, &ctx);
    let got = texts(&report);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got.iter().all(|t| t.contains("ephemeral container debug")));
    // an update that adds nothing new checks nothing
    let report = validate_pod(&new, "team-a", PodScope::EphemeralUpdate { old: Some(&new) }, &ctx);
    assert!(report.findings.is_empty());
}

// === pod-envfrom-names ===

fn envfrom(prefix: Option<&str>) -> Pod {
    let mut source = json!({"secretRef": {"name": "env-keys"}});
    if let Some(prefix) = prefix {
        source["prefix"] = prefix.into();
    }
    pod(json!({"containers": [{"name": "c", "image": "i", "envFrom": [source]}]}))
}

#[test]
fn invalid_envfrom_keys_are_one_sorted_finding() {
    let report = run(&envfrom(None), &view(), &Settings::default());
    assert_eq!(
        texts(&report),
        vec![
            "[pod-envfrom-names] spec.containers[0].envFrom[0]: Keys [1badkey, 2alsobad] from the EnvFrom secret team-a/env-keys are not valid environment variable names"
        ]
    );
    let decision = decide(&report.findings, |r| Settings::default().action(r));
    assert!(decision.allowed() && decision.warnings.len() == 1, "warn by default");
    let deny = Settings::default().with_action(RuleId::PodEnvfromNames, Action::Deny);
    assert!(!decide(&report.findings, |r| deny.action(r)).allowed());
}

#[test]
fn the_prefix_is_applied_first() {
    assert!(run(&envfrom(Some("P_")), &view(), &Settings::default()).findings.is_empty());
    let report = run(&envfrom(Some("9")), &view(), &Settings::default());
    assert!(report.findings[0].message.starts_with("Keys [91badkey, 92alsobad, 9GOOD]"), "{:?}", texts(&report));
}

#[test]
fn relaxed_names_accept_leading_digits() {
    let mut relaxed = Settings::default();
    relaxed.env_names = EnvNames::Relaxed;
    assert!(run(&envfrom(None), &view(), &relaxed).findings.is_empty());
    let v = view().with_secret("team-a", "env-keys", SecretSummary::with_keys("Opaque", &["A=B", "ok"]));
    let report = run(&envfrom(None), &v, &relaxed);
    assert_eq!(report.findings.len(), 1);
    assert!(report.findings[0].message.starts_with("Keys [A=B]"));
}

#[test]
fn each_envfrom_source_gets_its_own_finding() {
    let p = pod(json!({
        "containers": [{"name": "a", "image": "i", "envFrom": [{"secretRef": {"name": "env-keys"}}, {"secretRef": {"name": "db"}}]}],
        "initContainers": [{"name": "b", "image": "i", "envFrom": [{"secretRef": {"name": "env-keys"}}]}]
    }));
    let report = run(&p, &view(), &Settings::default());
    let fields: Vec<&str> = report.findings.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["spec.containers[0].envFrom[0]", "spec.initContainers[0].envFrom[0]"]);
}

#[test]
fn rules_that_are_off_produce_nothing() {
    let mut off = Settings::default();
    for rule in RuleId::ALL {
        off.set_action(rule, Action::Off);
    }
    let report = run(&everything_pod(), &Inventory::default(), &off);
    assert!(report.findings.is_empty() && report.unresolved.is_empty());
}

#[test]
fn service_account_name_falls_back_in_upstream_order() {
    let mut spec = k8s_openapi::api::core::v1::PodSpec::default();
    assert_eq!(service_account_name(&spec), "default");
    spec.service_account = Some("legacy".into());
    assert_eq!(service_account_name(&spec), "legacy");
    spec.service_account_name = Some("current".into());
    assert_eq!(service_account_name(&spec), "current");
    spec.service_account_name = Some(String::new());
    assert_eq!(service_account_name(&spec), "legacy");
}

// === pod-secret-env ===

#[test]
fn every_secret_consumed_as_environment_variables_is_one_finding() {
    let settings = Settings::default();
    let ctx = Context { settings: &settings, view: &view(), now_unix: 0 };
    let report = validate_pod(&everything_pod(), "team-a", PodScope::Create, &ctx);
    let env: Vec<String> =
        report.findings.iter().filter(|f| f.rule == RuleId::PodSecretEnv).map(Finding::text).collect();
    assert_eq!(
        env,
        vec![
            r#"[pod-secret-env] spec.containers[0].env[1].valueFrom.secretKeyRef: secret "env-secret" is consumed as an environment variable; mount it as a file instead"#,
            r#"[pod-secret-env] spec.containers[0].envFrom[0].secretRef: secret "envfrom-secret" is consumed as environment variables; mount it as a file instead"#,
            r#"[pod-secret-env] spec.initContainers[0].env[0].valueFrom.secretKeyRef: secret "init-env-secret" is consumed as an environment variable; mount it as a file instead"#,
            r#"[pod-secret-env] spec.initContainers[0].envFrom[0].secretRef: secret "init-envfrom-secret" is consumed as environment variables; mount it as a file instead"#,
            r#"[pod-secret-env] spec.ephemeralContainers[0].env[0].valueFrom.secretKeyRef: secret "eph-env-secret" is consumed as an environment variable; mount it as a file instead"#,
            r#"[pod-secret-env] spec.ephemeralContainers[0].envFrom[0].secretRef: secret "eph-envfrom-secret" is consumed as environment variables; mount it as a file instead"#,
        ]
    );
    // audit by default: allowed, named in an audit annotation
    let decision =
        decide(&report.findings, |r| if r == RuleId::PodSecretEnv { settings.action(r) } else { Action::Off });
    assert!(decision.allowed() && decision.audit[&RuleId::PodSecretEnv].total == 6);
    // volumes are the recommended way: no finding
    let files = pod(secret_volume("db", json!({})));
    let report = validate_pod(&files, "team-a", PodScope::Create, &ctx);
    assert!(report.findings.iter().all(|f| f.rule != RuleId::PodSecretEnv));
}

// === configmap-credentials on literal env values ===

#[test]
fn literal_env_credentials_name_the_variable_never_the_value() {
    let password = "hunter2-literal";
    let p = pod(json!({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "PLAIN", "value": "postgres://db:5432/app"},
        {"name": "DB_URL", "value": format!("postgres://app:{password}@db:5432/app")}]}],
        "initContainers": [{"name": "i", "image": "i", "env": [{"name": "KEY", "value": format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE")}]}]}));
    let settings = Settings::default();
    let ctx = Context { settings: &settings, view: &view(), now_unix: 0 };
    let report = validate_pod(&p, "team-a", PodScope::Create, &ctx);
    let texts = texts(&report);
    assert_eq!(
        texts,
        vec![
            "[configmap-credentials] spec.containers[0].env[1].value (DB_URL): contains a URL with a password; use valueFrom.secretKeyRef",
            "[configmap-credentials] spec.initContainers[0].env[0].value (KEY): contains an AWS access key id; use valueFrom.secretKeyRef",
        ]
    );
    assert!(!texts.concat().contains(password) && !texts.concat().contains("IOSFODNN"));
    let off = settings.with_action(RuleId::ConfigmapCredentials, Action::Off);
    let ctx = Context { settings: &off, view: &view(), now_unix: 0 };
    assert!(validate_pod(&p, "team-a", PodScope::Create, &ctx).findings.is_empty());
}
