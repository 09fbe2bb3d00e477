//! The policy file is reloaded without a restart: the real server, its
//! `--config` a symlink into a kubelet-style `..data` directory. A swap to a
//! new policy applies to the next request; a broken file leaves the last good
//! policy in force and counts a failure.

mod support;

use std::path::Path;
use std::time::Duration;

use secretgate::config::reload::{PolicyReloader, PolicySource};
use serde_json::{Value, json};
use support::client::{Proto, admin_get, connect};
use support::server::{TestServer, certificates, config, fixture_snapshot};

/// Point `..data` at a new version directory holding `text`, atomically.
fn swap(dir: &Path, version: &str, text: &str) {
    std::fs::create_dir(dir.join(version)).unwrap();
    std::fs::write(dir.join(version).join("config.yaml"), text).unwrap();
    std::os::unix::fs::symlink(version, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
}

fn pod_review() -> Vec<u8> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"containers": [{"name": "app", "image": "i"}],
            "volumes": [{"name": "v", "secret": {"secretName": "nowhere"}}]}});
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "team-a",
        "operation": "CREATE", "userInfo": {"username": "alice"}, "object": pod}}))
    .unwrap()
}

async fn allowed(server: &TestServer) -> bool {
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let (status, body) = conn.post("/validate", pod_review()).await.unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice::<Value>(&body).unwrap()["response"]["allowed"].as_bool().unwrap()
}

async fn reloads(server: &TestServer, outcome: &str) -> u64 {
    let (_, text) = admin_get(server.running.admin_addr, "/metrics").await;
    let series = format!("secretgate_config_reloads_total{{outcome=\"{outcome}\"}}");
    text.lines().find_map(|l| l.strip_prefix(&series)?.trim().parse().ok()).unwrap_or(0)
}

/// Poll until `check` holds (the server polls the file every 100 ms here).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_policy_applies_to_the_next_request_and_a_broken_one_keeps_the_last_good() {
    let policy_dir = tempfile::tempdir().unwrap();
    swap(policy_dir.path(), "..v1", "rules: {pod-secret-exists: {action: deny}}\n");
    let path = policy_dir.path().join("config.yaml");
    std::os::unix::fs::symlink("..data/config.yaml", &path).unwrap();
    let source = PolicySource::Config(path);
    let bytes = PolicyReloader::read(&source).unwrap();

    let (dir, files) = certificates();
    let mut cfg = config(&files, secretgate::app::serve::ViewSource::Snapshot(Box::new(fixture_snapshot())));
    cfg.policy = secretgate::config::policy_file::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
    cfg.policy_source = Some((source, bytes));
    let running = secretgate::app::serve::start(cfg).await.unwrap_or_else(|e| panic!("{}", e.message));
    let server = TestServer { running, ca: std::fs::read(&files.ca).unwrap(), dir };
    assert!(!allowed(&server).await, "denied under the first policy");

    swap(policy_dir.path(), "..v2", "rules: {pod-secret-exists: {action: warn}}\n");
    eventually("the new policy applies", async || allowed(&server).await).await;
    assert_eq!(reloads(&server, "success").await, 1);

    // a typo: refused, counted, and the last good policy (warn) keeps serving
    swap(policy_dir.path(), "..v3", "rules: {pod-secret-exists: {action: dney}}\n");
    eventually("the failure is counted", async || reloads(&server, "failure").await == 1).await;
    assert!(allowed(&server).await, "the last good policy is in force");

    // fixed: applies again, same process
    swap(policy_dir.path(), "..v4", "rules: {pod-secret-exists: {action: deny}}\n");
    eventually("the fixed policy applies", async || !allowed(&server).await).await;
    assert_eq!(reloads(&server, "success").await, 2);
    assert_eq!(reloads(&server, "failure").await, 1, "a broken file is counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempted_violation_is_counted_and_annotated_without_its_value() {
    let (dir, files) = certificates();
    let mut cfg = config(&files, secretgate::app::serve::ViewSource::Snapshot(Box::new(fixture_snapshot())));
    cfg.policy = secretgate::config::policy_file::parse(
        "rules: {secret-hygiene: {action: deny}}\nexemptions:\n  - {name: ops, groups: [ops], rules: [\"*\"]}\n",
    )
    .unwrap();
    let running = secretgate::app::serve::start(cfg).await.unwrap_or_else(|e| panic!("{}", e.message));
    let server = TestServer { running, ca: std::fs::read(&files.ca).unwrap(), dir };
    let value = "hunter2-exempt\n";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "team-a"},
        "data": {"password": support::b64(value.as_bytes())}});
    let review = |groups: Value| {
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u2", "kind": {"group": "", "version": "v1", "kind": "Secret"},
            "resource": {"group": "", "version": "v1", "resource": "secrets"}, "namespace": "team-a",
            "operation": "CREATE", "userInfo": {"username": "carol", "groups": groups}, "object": secret}}))
        .unwrap()
    };
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let (_, body) = conn.post("/validate", review(json!(["developers"]))).await.unwrap();
    let denied: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(denied["response"]["allowed"], false, "not exempt: denied");
    let (_, body) = conn.post("/validate", review(json!(["ops"]))).await.unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let exempt: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(exempt["response"]["allowed"], true);
    let annotations = &exempt["response"]["auditAnnotations"];
    assert_eq!(annotations["policy"], "ops");
    assert!(annotations["secret-hygiene"].as_str().unwrap().starts_with("exempt by ops: 1 violation"), "{text}");
    assert!(!text.contains("hunter2"), "a value in the answer: {text}");
    let (_, metrics) = admin_get(server.running.admin_addr, "/metrics").await;
    let series = r#"secretgate_rule_violations_total{action="exempt",rule="secret-hygiene"} 1"#;
    assert!(metrics.contains(series), "{metrics}");
    assert!(!metrics.contains("hunter2"));
}
