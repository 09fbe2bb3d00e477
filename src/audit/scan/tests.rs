use serde_json::json;

use super::*;
use crate::audit::reports::{self, MAX_RESULTS, ReportApi};
use crate::policy::settings::WorkloadAction;

const NOW: i64 = 1_800_000_000;

fn object(value: serde_json::Value) -> Object {
    Object::from_value(value).unwrap().expect("a kind the audit checks")
}

fn pod(name: &str, secret: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "secret": {"secretName": secret}}]}}))
}

fn deployment(owner: Option<&str>, key: &str) -> Object {
    workload("Deployment", owner, key)
}

fn workload(kind: &str, owner: Option<&str>, key: &str) -> Object {
    let mut metadata = json!({"name": "web", "namespace": "apps"});
    if let Some(owner) = owner {
        metadata["ownerReferences"] =
            json!([{"apiVersion": "x", "kind": owner, "name": "x", "uid": "u", "controller": true}]);
    }
    object(json!({"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": {"selector": {},
        "template": {"spec": {"containers": [{"name": "c", "image": "i",
            "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": key}}}]}]}}}}))
}

fn scan_with(settings: Settings) -> Scan {
    let inventory = Inventory::default()
        .with_secret("apps", "db", SecretSummary::with_keys("Opaque", &["password"]))
        .with_service_account("apps", "default", ServiceAccountSummary::default());
    Scan::new(Arc::new(Policy::from(settings)), inventory, NOW)
}

#[test]
fn each_namespace_is_judged_by_its_overrides() {
    let text = "overrides:\n  - name: dev\n    namespaces: {selector: {matchLabels: {env: dev}}}\n    rules: {pod-secret-exists: {action: warn}}\n";
    let policy = crate::config::policy_file::parse(text).unwrap();
    let inventory = Inventory::default().with_namespace("apps", &[("env", "dev")]).with_namespace("prod", &[]);
    let mut scan = Scan::new(Arc::new(policy), inventory, NOW);
    assert!(scan.needs_namespaces());
    scan.scan(&pod("p", "gone"));
    let prod = object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q", "namespace": "prod"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "secret": {"secretName": "gone"}}]}}));
    scan.scan(&prod);
    let outcome = scan.finish();
    let action = |ns: &str| outcome.findings.iter().find(|f| f.subject.namespace == ns).map(|f| f.action);
    assert_eq!(action("apps"), Some(Action::Warn), "the dev override");
    assert_eq!(action("prod"), Some(Action::Deny), "the file's default");
}

#[test]
fn findings_carry_the_rule_action_object_and_field() {
    let mut scan = scan_with(Settings::default());
    let unresolved = scan.scan(&pod("p", "gone"));
    assert_eq!(unresolved.len(), 1, "a miss is returned for a live source to confirm");
    let outcome = scan.finish();
    assert_eq!(outcome.findings.len(), 1);
    let f = &outcome.findings[0];
    assert_eq!((f.rule, f.action), (RuleId::PodSecretExists, Action::Deny));
    assert_eq!((f.subject.namespace.as_str(), f.subject.kind, f.subject.name.as_str()), ("apps", "Pod", "p"));
    assert_eq!(f.field, "spec.volumes[0].secret.secretName");
    assert_eq!(outcome.scanned["Pod"], 1);
}

#[test]
fn workload_templates_take_the_workloads_action_and_owned_ones_are_left_to_their_owner() {
    let mut scan = scan_with(Settings::default().with_action(RuleId::PodSecretEnv, Action::Off));
    scan.scan(&deployment(None, "nope"));
    scan.scan(&workload("ReplicaSet", Some("Deployment"), "nope"));
    // owned by an operator's resource: nothing else checks its template
    scan.scan(&workload("StatefulSet", Some("Prometheus"), "nope"));
    let outcome = scan.finish();
    assert_eq!(outcome.findings.len(), 2, "{:?}", outcome.findings);
    assert_eq!(outcome.findings[1].subject.kind, "StatefulSet");
    assert_eq!((outcome.findings[0].rule, outcome.findings[0].action), (RuleId::PodSecretKeys, Action::Warn));
    assert_eq!(outcome.scanned.get("Deployment"), Some(&1));

    let mut inherit = Settings::default();
    inherit.workloads = WorkloadAction::Inherit;
    let mut scan = scan_with(inherit);
    scan.scan(&deployment(None, "nope"));
    assert_eq!(scan.finish().findings[0].action, Action::Deny);

    let mut off = Settings::default();
    off.workloads = WorkloadAction::Off;
    assert!(!scan_with(off).checks_workloads());
}

#[test]
fn rules_that_are_off_find_nothing_and_immutability_never_applies_at_rest() {
    let mut scan = scan_with(Settings::default().with_action(RuleId::PodSecretExists, Action::Off));
    scan.scan(&pod("p", "gone"));
    let immutable =
        object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "apps"},
        "immutable": true, "data": {"k": "dg=="}}));
    scan.scan(&immutable);
    let outcome = scan.finish();
    assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
    assert_eq!(outcome.scanned.values().sum::<u64>(), 2);
}

#[test]
fn finished_pods_are_counted_but_not_checked() {
    let mut scan = scan_with(Settings::default());
    let mut done = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done", "namespace": "apps"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "secret": {"secretName": "gone"}}]}});
    for phase in ["Succeeded", "Failed"] {
        done["status"] = json!({"phase": phase});
        scan.scan(&object(done.clone()));
    }
    let outcome = scan.finish();
    assert!(outcome.findings.is_empty());
    assert_eq!(outcome.scanned["Pod"], 2);
}

#[test]
fn findings_per_object_are_capped_and_counted() {
    let mut scan = scan_with(Settings::default());
    let volumes: Vec<_> =
        (0..100).map(|i| json!({"name": format!("v{i}"), "secret": {"secretName": format!("gone-{i}")}})).collect();
    scan.scan(&object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "many", "namespace": "apps"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": volumes}})));
    let outcome = scan.finish();
    assert_eq!(outcome.findings.len(), MAX_FINDINGS_PER_OBJECT);
    assert_eq!(outcome.omitted, 100 - MAX_FINDINGS_PER_OBJECT);
}

#[test]
fn tls_expiry_buckets_are_exclusive() {
    let mut t = TlsExpiry::default();
    for days in [-1, 0, 1, 7, 8, 30, 31, 90, 91, 400] {
        t.count(NOW + days * DAY, NOW);
    }
    assert_eq!((t.expired, t.within_7d, t.within_30d, t.within_90d, t.later), (2, 2, 2, 2, 2));
}

#[test]
fn a_confirmed_object_clears_the_finding() {
    let mut scan = scan_with(Settings::default());
    let p = pod("p", "late");
    let checked = scan.check(&p);
    assert!(!checked.unresolved.is_empty());
    // the live source GETs the Secret, finds it and checks again
    let late: Secret = serde_json::from_value(json!({"metadata": {"name": "late", "namespace": "apps"}})).unwrap();
    scan.remember_secret(&late);
    assert!(scan.scan(&p).is_empty());
    assert!(scan.finish().findings.is_empty());
}

#[test]
fn reports_are_per_namespace_capped_and_compared_without_timestamps() {
    let mut scan = scan_with(Settings::default());
    for i in 0..(MAX_RESULTS + 5) {
        scan.scan(&pod(&format!("p{i:04}"), "gone"));
    }
    scan.scan(&object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "other"},
        "data": {"..k": "dg=="}})));
    let outcome = scan.finish();
    let built = reports::build(&outcome, ReportApi::PolicyReport, "secretgate", NOW);
    assert_eq!(built.keys().collect::<Vec<_>>(), ["apps", "other"]);
    let apps = &built["apps"];
    assert_eq!(apps["results"].as_array().unwrap().len(), MAX_RESULTS);
    assert_eq!(apps["summary"]["fail"], MAX_RESULTS + 5, "the summary counts every finding");
    assert_eq!(apps["metadata"]["annotations"][reports::OMITTED_ANNOTATION], "5");
    let later = reports::build(&outcome, ReportApi::PolicyReport, "secretgate", NOW + 3600);
    assert_ne!(later["apps"], built["apps"]);
    assert!(reports::same_findings(&later["apps"], &built["apps"]), "only timestamps differ");
    assert!(!reports::same_findings(&built["other"], &built["apps"]));
    let open = reports::build(&outcome, ReportApi::OpenReports, "secretgate", NOW);
    assert_eq!(
        (open["other"]["apiVersion"].as_str(), open["other"]["kind"].as_str()),
        (Some("openreports.io/v1alpha1"), Some("Report"))
    );
}

#[test]
fn the_pass_metrics_have_every_rule_and_action() {
    let mut scan = scan_with(Settings::default());
    scan.scan(&pod("p", "gone"));
    let counts = scan.finish().by_rule();
    assert_eq!(counts.len(), RuleId::ALL.len() * 3);
    assert_eq!(counts[&(RuleId::PodSecretExists, Action::Deny)], 1);
    assert_eq!(counts[&(RuleId::SecretKeys, Action::Deny)], 0);
}

#[test]
fn configmaps_at_rest_are_checked_for_credentials_and_not_listed_when_the_rule_is_off() {
    let mut scan = scan_with(Settings::default());
    assert!(scan.checks_configmaps());
    let leaky =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "apps"},
        "data": {"DATABASE_URL": "postgres://app:not-a-real-pw@db:5432/app", "LOG_LEVEL": "info"}}));
    scan.scan(&leaky);
    let outcome = scan.finish();
    assert_eq!(outcome.findings.len(), 1);
    let f = &outcome.findings[0];
    assert_eq!((f.rule, f.action, f.subject.kind), (RuleId::ConfigmapCredentials, Action::Warn, "ConfigMap"));
    assert_eq!(f.field, "data[DATABASE_URL]");
    assert!(!f.message.contains("not-a-real-pw"));
    let off = scan_with(Settings::default().with_action(RuleId::ConfigmapCredentials, Action::Off));
    assert!(!off.checks_configmaps());
}
