//! The live cluster view against a mock API server: initial list and
//! readiness, watch events changing answers, values never stored, the
//! confirming GET on a cache miss, metadata-only mode, and retry after a
//! failing list.

mod support;

use std::sync::Arc;
use std::time::Duration;

use secretgate::cluster::{LiveView, SecretView};
use secretgate::metrics::Metrics;
use secretgate::policy::{ClusterView, ObjectKey};
use serde_json::{Value, json};
use support::client::{Proto, admin_get, connect};
use support::mock_api::MockApi;
use support::server::{certificates, config};

fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> =
        data.iter().map(|(k, v)| (k.to_string(), Value::from(support::b64(v.as_bytes())))).collect();
    json!({"metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"}, "type": "Opaque", "data": data})
}

fn service_account(namespace: &str, name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"}})
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

fn pod_review(secret: &str, key: Option<&str>) -> Vec<u8> {
    let env = match key {
        Some(key) => json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]),
        None => json!([]),
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "t"}, "dryRun": false,
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team-a"},
                "spec": {"containers": [{"name": "c", "image": "i", "env": env}],
                         "volumes": [{"name": "v", "secret": {"secretName": secret}}]}}}
    }))
    .unwrap()
}

async fn live_server(api: &MockApi, secret_view: SecretView) -> support::server::TestServer {
    let (dir, files) = certificates();
    let view = secretgate::app::serve::ViewSource::Live { client: api.client(), secret_view };
    let running = secretgate::app::serve::start(config(&files, view)).await.unwrap_or_else(|e| panic!("{}", e.message));
    let ca = std::fs::read(&files.ca).unwrap();
    support::server::TestServer { running, ca, dir }
}

async fn until_ready(server: &support::server::TestServer) {
    for _ in 0..200 {
        if admin_get(server.running.admin_addr, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never became ready");
}

async fn allowed(server: &support::server::TestServer, body: Vec<u8>) -> Value {
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let (status, answer) = conn.post("/validate", body).await.unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice::<Value>(&answer).unwrap()["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_initial_list() {
    let api = MockApi::start(true, 0).await;
    api.put_secret(secret("team-a", "db", &[("password", "s3cr3t-live-1")]));
    api.put_service_account(service_account("team-a", "default"));
    let server = live_server(&api, SecretView::Keys).await;
    let admin = server.running.admin_addr;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = admin_get(admin, "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "not ready: the Secret list has not completed yet\n"));
    assert!(admin_get(admin, "/metrics").await.1.contains("secretgate_cluster_ready 0"));
    api.release_lists();
    until_ready(&server).await;
    let metrics = admin_get(admin, "/metrics").await.1;
    assert!(
        metrics.contains("secretgate_cluster_ready 1")
            && metrics.contains(r#"secretgate_cluster_objects{kind="Secret"} 1"#),
        "{metrics}"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_change_answers_and_values_are_never_stored() {
    let api = MockApi::start(false, 0).await;
    api.put_secret(secret("team-a", "db", &[("username", "s3cr3t-live-2")]));
    api.put_service_account(service_account("team-a", "default"));
    let live = LiveView::start(api.client(), SecretView::Keys, Duration::from_secs(2), Metrics::new());
    until("synced", || live.is_ready()).await;
    let summary = live.inventory().secret("team-a", "db").unwrap();
    assert_eq!(summary.has_key("username"), Some(true));
    let debug = format!("{:?}", live.inventory());
    assert!(!debug.contains("s3cr3t-live-2") && !debug.contains(&support::b64(b"s3cr3t-live-2")), "{debug}");

    // a MODIFIED event adds a key
    let updated = secret("team-a", "db", &[("username", "x"), ("password", "y")]);
    api.put_secret(updated.clone());
    api.watch_secret("MODIFIED", updated);
    until("the new key arrives", || live.inventory().secret("team-a", "db").unwrap().has_key("password") == Some(true))
        .await;
    // a DELETED event removes the Secret
    api.remove_secret("team-a", "db");
    api.watch_secret("DELETED", secret("team-a", "db", &[]));
    until("the Secret is gone", || live.inventory().secret("team-a", "db").is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_watch_events_through_the_server() {
    let api = MockApi::start(false, 0).await;
    api.put_secret(secret("team-a", "db", &[("username", "u")]));
    api.put_service_account(service_account("team-a", "default"));
    let server = live_server(&api, SecretView::Keys).await;
    until_ready(&server).await;
    let response = allowed(&server, pod_review("db", Some("password"))).await;
    assert_eq!(response["allowed"], false, "the key is missing: {response}");
    let updated = secret("team-a", "db", &[("username", "u"), ("password", "p")]);
    api.put_secret(updated.clone());
    api.watch_secret("MODIFIED", updated);
    let mut now_allowed = false;
    for _ in 0..200 {
        if allowed(&server, pod_review("db", Some("password"))).await["allowed"] == true {
            now_allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(now_allowed, "the watch event reached the answer");
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_miss_is_confirmed_with_one_live_get() {
    let api = MockApi::start(false, 0).await;
    api.put_service_account(service_account("team-a", "default"));
    let server = live_server(&api, SecretView::Keys).await;
    until_ready(&server).await;
    // created after the list, its watch event not yet delivered: informer lag
    api.put_secret(secret("team-a", "fresh", &[("k", "v")]));
    let response = allowed(&server, pod_review("fresh", None)).await;
    assert_eq!(response["allowed"], true, "{response}");
    let gets: Vec<_> =
        api.seen().into_iter().filter(|s| s.line == "GET /api/v1/namespaces/team-a/secrets/fresh").collect();
    assert_eq!(gets.len(), 1);
    // a Secret that really does not exist is still denied, after one GET
    let response = allowed(&server, pod_review("ghost", None)).await;
    assert_eq!(response["allowed"], false);
    assert!(response["status"]["message"].as_str().unwrap().contains("team-a/ghost"));
    let metrics = admin_get(server.running.admin_addr, "/metrics").await.1;
    assert!(metrics.contains(r#"secretgate_cluster_confirmations_total{kind="Secret",result="found"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"secretgate_cluster_confirmations_total{kind="Secret",result="absent"} 1"#),
        "{metrics}"
    );
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_mode_never_asks_for_values() {
    let api = MockApi::start(false, 0).await;
    api.put_secret(secret("team-a", "db", &[("password", "s3cr3t-live-3")]));
    api.put_service_account(service_account("team-a", "default"));
    let live: Arc<LiveView> =
        LiveView::start(api.client(), SecretView::Metadata, Duration::from_secs(2), Metrics::new());
    until("synced", || live.is_ready()).await;
    let summary = live.inventory().secret("team-a", "db").unwrap();
    assert_eq!(summary.keys, None, "keys are unknown");
    api.put_secret(secret("team-a", "later", &[("k", "v")]));
    let found = live.confirm(&[ObjectKey::Secret { namespace: "team-a".into(), name: "later".into() }].into()).await;
    assert_eq!(found, 1);
    let secret_requests: Vec<_> = api.seen().into_iter().filter(|s| s.line.contains("secrets")).collect();
    assert!(secret_requests.len() >= 3, "list, watch and get: {secret_requests:?}");
    assert!(
        secret_requests.iter().all(|s| s.metadata_only),
        "every Secret request is metadata-only: {secret_requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_list_is_retried_with_backoff() {
    let api = MockApi::start(false, 2).await;
    api.put_service_account(service_account("team-a", "default"));
    let live = LiveView::start(api.client(), SecretView::Keys, Duration::from_secs(2), Metrics::new());
    for _ in 0..400 {
        if live.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(live.is_ready(), "synced after the failures");
    let lists =
        api.seen().into_iter().filter(|s| s.line.starts_with("GET /api/v1/") && !s.line.contains("watch=")).count();
    assert!(lists >= 4, "two failed lists were retried: {lists} lists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabelling_a_namespace_changes_the_next_answer() {
    let api = MockApi::start(false, 0).await;
    api.put_service_account(service_account("team-a", "default"));
    let namespace = |env: &str| json!({"metadata": {"name": "team-a", "resourceVersion": "1", "labels": {"env": env}}});
    api.put_namespace(namespace("prod"));
    let (dir, files) = certificates();
    let view = secretgate::app::serve::ViewSource::Live { client: api.client(), secret_view: SecretView::Keys };
    let mut cfg = config(&files, view);
    cfg.policy = secretgate::config::policy_file::parse(
        "overrides:\n  - name: dev\n    namespaces: {selector: {matchLabels: {env: dev}}}\n    rules: {pod-secret-exists: {action: warn}}\n",
    )
    .unwrap();
    let running = secretgate::app::serve::start(cfg).await.unwrap_or_else(|e| panic!("{}", e.message));
    let server = support::server::TestServer { running, ca: std::fs::read(&files.ca).unwrap(), dir };
    until_ready(&server).await;
    let answer = allowed(&server, pod_review("gone", None)).await;
    assert_eq!(answer["allowed"], false, "env=prod: the file's deny");
    assert!(answer["auditAnnotations"].get("policy").is_none());

    api.watch_namespace("MODIFIED", namespace("dev"));
    let mut last = Value::Null;
    for _ in 0..200 {
        last = allowed(&server, pod_review("gone", None)).await;
        if last["allowed"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last["allowed"], true, "env=dev: the override's warn: {last}");
    assert_eq!(last["auditAnnotations"]["policy"], "dev");
    let (_, metrics) = admin_get(server.running.admin_addr, "/metrics").await;
    assert!(metrics.contains(r#"secretgate_cluster_objects{kind="Namespace"} 1"#), "{metrics}");
}
