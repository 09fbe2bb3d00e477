//! `secretgate audit --cluster`: a snapshot with planted problems is reported
//! finding by finding (rule, action, object, field), sorted, with the exit
//! status of the worst finding, and never a value.

mod support;

use serde_json::{Value, json};
use support::{b64, root, secretgate};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = secretgate(args, b"");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A value nobody writes by accident.
const VALUE: &str = "s3cr3t-audit-xyzzy";

/// A self-signed certificate valid for `days` more days, and its key.
fn certificate(days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["shop.example".into()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(days);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The example cluster plus what only a test can make: a TLS Secret expiring
/// in 3 days, one fine for a year, and values that must never be printed.
fn planted() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("examples/audit/cluster.yaml"), dir.path().join("cluster.yaml")).unwrap();
    let (soon, soon_key) = certificate(3);
    let (later, later_key) = certificate(365);
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-tls", "namespace": "shop"},
         "type": "kubernetes.io/tls", "data": {"tls.crt": b64(soon.as_bytes()), "tls.key": b64(soon_key.as_bytes())}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-tls", "namespace": "shop"},
         "type": "kubernetes.io/tls", "data": {"tls.crt": b64(later.as_bytes()), "tls.key": b64(later_key.as_bytes())}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leaky", "namespace": "other"},
         "data": {"password": b64(format!("{VALUE}\n").as_bytes()), "..bad": b64(VALUE.as_bytes())}},
        // a ReplicaSet of a Deployment: the Deployment's template is what is checked
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "namespace": "shop",
          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
         "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i",
           "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pasword"}}}]}]}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup", "namespace": "other"},
         "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
           "containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "missing"}}]}]}}}}}},
    ]});
    std::fs::write(dir.path().join("more.json"), serde_json::to_string_pretty(&objects).unwrap()).unwrap();
    dir
}

fn json_audit(dir: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["audit", "--cluster", dir.to_str().unwrap(), "-o", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}")), err)
}

fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (format!("{} {}/{}", s("kind"), s("namespace"), s("name")), s("rule"), s("action"), s("field"))
        })
        .collect()
}

#[test]
fn every_planted_problem_is_reported_with_its_rule_and_object() {
    let dir = planted();
    let (code, report, err) = json_audit(dir.path(), &[]);
    assert_eq!(code, 1, "a finding whose rule denies exits 1: {err}");
    let found = findings(&report);
    let has = |object: &str, rule: &str, action: &str, field: &str| {
        assert!(
            found.iter().any(|f| f.0 == object && f.1 == rule && f.2 == action && f.3 == field),
            "missing {object} {rule} {action} {field} in {found:#?}"
        );
    };
    has("Pod shop/orphan", "pod-secret-exists", "deny", "spec.volumes[0].secret.secretName");
    has("Pod shop/locked-out", "pod-mountable-secrets", "deny", "spec.volumes[0].secret.secretName");
    has("Pod shop/configured", "pod-envfrom-names", "warn", "spec.containers[0].envFrom[0]");
    has(
        "Deployment shop/web",
        "pod-secret-keys",
        "warn",
        "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key",
    );
    has("Secret shop/shop-tls", "secret-hygiene", "warn", "data[tls.crt]");
    has("Secret shop/api-token", "secret-hygiene", "warn", "data[token]");
    has("Secret other/leaky", "secret-keys", "deny", "data[..bad]");
    has(
        "CronJob other/backup",
        "pod-secret-exists",
        "warn",
        "spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name",
    );
    // nothing else: a finished Pod, an owned ReplicaSet, a fine certificate are quiet
    for quiet in ["Pod shop/migration-done", "ReplicaSet shop/web-1", "Secret shop/api-tls", "Secret shop/db"] {
        assert!(!found.iter().any(|f| f.0 == quiet), "{quiet} reported: {found:#?}");
    }
    let summary = &report["summary"];
    assert_eq!(summary["tlsSecretsByExpiry"]["7d"], 1, "{summary}");
    assert_eq!(summary["tlsSecretsByExpiry"]["later"], 1, "{summary}");
    assert_eq!(summary["scanned"]["Pod"], 4, "{summary}");
    let message = |object: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                format!(
                    "{} {}/{}",
                    f["kind"].as_str().unwrap(),
                    f["namespace"].as_str().unwrap(),
                    f["name"].as_str().unwrap()
                ) == object
            })
            .unwrap()["message"]
            .clone()
    };
    assert!(
        message("Secret shop/shop-tls").as_str().unwrap().contains("(in 2 days)")
            || message("Secret shop/shop-tls").as_str().unwrap().contains("(in 3 days)")
    );
}

#[test]
fn findings_are_sorted_by_namespace_kind_and_name() {
    let dir = planted();
    let (_, report, _) = json_audit(dir.path(), &[]);
    let keys: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["namespace"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
                f["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.first().unwrap().0, "other");
}

#[test]
fn no_output_format_prints_a_value() {
    let dir = planted();
    for format in ["text", "json", "policyreports"] {
        let (_, out, err) = run(&["audit", "--cluster", dir.path().to_str().unwrap(), "-o", format]);
        for needle in [VALUE, &b64(VALUE.as_bytes()), "czNjcjN0", "s3cr3t", "topsecret"] {
            assert!(!out.contains(needle) && !err.contains(needle), "{format} shows {needle}:\n{out}\n{err}");
        }
    }
}

#[test]
fn the_exit_status_follows_the_worst_finding() {
    let dir = tempfile::tempdir().unwrap();
    let warn_only = "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: x}\ndata: {k: YQo=}\n";
    std::fs::write(dir.path().join("a.yaml"), warn_only).unwrap();
    let path = dir.path().to_str().unwrap();
    assert_eq!(run(&["audit", "--cluster", path]).0, 0, "warnings alone exit 0");
    assert_eq!(run(&["audit", "--cluster", path, "--fail-on-warning"]).0, 1);
    let elsewhere = tempfile::tempdir().unwrap();
    let config = elsewhere.path().join("policy.yml");
    std::fs::write(&config, "rules:\n  secret-hygiene: {action: deny}\n").unwrap();
    let (code, out, _) = run(&["audit", "--cluster", path, "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Secret x/a\n    deny  [secret-hygiene] data[k]"), "{out}");
}

#[test]
fn namespaces_can_be_chosen_and_skipped() {
    let dir = planted();
    let (_, report, _) = json_audit(dir.path(), &["--namespace", "other"]);
    assert!(findings(&report).iter().all(|f| f.0.contains(" other/")), "{report}");
    let (_, report, _) = json_audit(dir.path(), &["--skip-namespace", "shop"]);
    let found = findings(&report);
    assert!(!found.is_empty() && found.iter().all(|f| !f.0.contains(" shop/")), "{found:?}");
}

#[test]
fn policy_reports_are_one_per_namespace_with_a_summary() {
    let dir = planted();
    let (_, out, err) = run(&["audit", "--cluster", dir.path().to_str().unwrap(), "-o", "policyreports"]);
    let docs: Vec<Value> = out
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}\n{err}")))
        .collect();
    assert_eq!(docs.len(), 2, "{out}");
    let shop = docs.iter().find(|d| d["metadata"]["namespace"] == "shop").unwrap();
    assert_eq!(shop["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(shop["kind"], "PolicyReport");
    assert_eq!(shop["metadata"]["labels"]["app.kubernetes.io/managed-by"], "secretgate");
    assert_eq!(shop["summary"]["fail"], 2, "{shop}");
    assert_eq!(shop["summary"]["warn"], 6, "{shop}");
    let orphan = shop["results"].as_array().unwrap().iter().find(|r| r["resources"][0]["name"] == "orphan").unwrap();
    assert_eq!(orphan["rule"], "pod-secret-exists");
    assert_eq!(orphan["result"], "fail");
    assert_eq!(orphan["resources"][0]["uid"], "6f1c2a40-0000-4000-8000-000000000001");
    assert_eq!(orphan["properties"]["action"], "deny");
}

#[test]
fn unusable_snapshots_exit_2_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {{containers: \"{VALUE}\"}}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["audit", "--cluster", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bad.yaml") && err.contains("Pod p"), "{err}");
    assert!(!err.contains(VALUE), "{err}");
}

#[test]
fn a_json_stream_of_several_documents_is_checked_once() {
    // JSON is YAML: `{...}\n---\n{...}` fails as JSON after the first object and is read again
    let dir = tempfile::tempdir().unwrap();
    let pod = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "x"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "secret": {"secretName": "gone"}}]}})
    };
    std::fs::write(dir.path().join("s.json"), format!("{}\n---\n{}\n", pod("a"), pod("b"))).unwrap();
    let (_, report, _) = json_audit(dir.path(), &[]);
    let names: Vec<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert_eq!(names, ["Pod x/a", "Pod x/b"], "{report}");
    assert_eq!(report["summary"]["scanned"]["Pod"], 2);
}
