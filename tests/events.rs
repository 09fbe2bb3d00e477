//! Events for controller-owned Pods against a mock API server: one Event on
//! the ReplicaSet with reason InvalidEnvironmentVariableNames, no second one
//! within the dedup window, none for dry runs, and a slow or failing Events
//! API never delays or fails an admission answer.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::client::{Proto, admin_get, connect};
use support::mock_api::{EventsApi, MockApi};
use support::server::{TestServer, certificates, config};

fn owned_pod_review(owner_uid: &str, dry_run: bool) -> Vec<u8> {
    let path = support::fixture("admission/validate/pod-owned-envfrom-events.request.json");
    let mut review: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    review["request"]["dryRun"] = dry_run.into();
    review["request"]["object"]["metadata"]["ownerReferences"][0]["uid"] = owner_uid.into();
    serde_json::to_vec(&review).unwrap()
}

async fn server(api: &MockApi) -> TestServer {
    api.put_secret(json!({"metadata": {"name": "env-keys", "namespace": "team-a"}, "type": "Opaque",
        "data": {"1badkey": "eA==", "2alsobad": "eA==", "GOOD": "eA=="}}));
    api.put_service_account(json!({"metadata": {"name": "default", "namespace": "team-a"}}));
    let (dir, files) = certificates();
    let view = secretgate::app::serve::ViewSource::Live {
        client: api.client(),
        secret_view: secretgate::cluster::SecretView::Keys,
    };
    let running = secretgate::app::serve::start(config(&files, view)).await.unwrap_or_else(|e| panic!("{}", e.message));
    let server = TestServer { running, ca: std::fs::read(&files.ca).unwrap(), dir };
    for _ in 0..200 {
        if admin_get(server.running.admin_addr, "/readyz").await.0 == 200 {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never ready");
}

async fn review(server: &TestServer, body: Vec<u8>) -> Value {
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let (status, answer) = conn.post("/validate", body).await.unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice::<Value>(&answer).unwrap()["response"].clone()
}

async fn metric(server: &TestServer, series: &str) -> u64 {
    let (_, text) = admin_get(server.running.admin_addr, "/metrics").await;
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_on_the_owner_deduplicated_and_none_for_dry_runs() {
    let api = MockApi::start(false, 0).await;
    let server = server(&api).await;
    let answer = review(&server, owned_pod_review("rs-uid-1", false)).await;
    assert_eq!(answer["allowed"], true);
    until("the Event is recorded", async || api.events().len() == 1).await;
    let event = &api.events()[0];
    assert_eq!(event["_verb"], "POST");
    assert_eq!(event["reason"], "InvalidEnvironmentVariableNames");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["kind"], "ReplicaSet");
    assert_eq!(event["regarding"]["name"], "web-6d4cf56db6");
    assert_eq!(event["regarding"]["uid"], "rs-uid-1");
    assert_eq!(event["reportingController"], "secretgate");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("Keys [1badkey, 2alsobad] from the EnvFrom secret team-a/env-keys"), "{note}");
    assert_eq!(note, answer["warnings"][0].as_str().unwrap(), "the Event says what the warning said");

    // the same review, again and again: deduplicated, no second Event
    for _ in 0..3 {
        review(&server, owned_pod_review("rs-uid-1", false)).await;
    }
    until("the repeats are deduplicated", async || {
        metric(&server, r#"secretgate_events_total{outcome="deduplicated"}"#).await == 3
    })
    .await;
    // a dry run, then a review for another owner: the queue is in order, so
    // once the second owner's Event arrives the dry run has been handled
    review(&server, owned_pod_review("rs-uid-1", true)).await;
    review(&server, owned_pod_review("rs-uid-2", true)).await;
    review(&server, owned_pod_review("rs-uid-3", false)).await;
    until("the third owner's Event", async || api.events().len() == 2).await;
    let uids: Vec<Value> = api.events().iter().map(|e| e["regarding"]["uid"].clone()).collect();
    assert_eq!(uids, [json!("rs-uid-1"), json!("rs-uid-3")], "no Event for dry runs, no second Event for rs-uid-1");
    // the metric counts once the API server answered the POST, a moment after the mock saw it
    until("both counted as sent", async || metric(&server, r#"secretgate_events_total{outcome="sent"}"#).await == 2)
        .await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_events_api_does_not_delay_answers() {
    let api = MockApi::start(false, 0).await;
    api.set_events_api(EventsApi::Blocked);
    let server = server(&api).await;
    review(&server, owned_pod_review("slow-1", false)).await;
    until("the Events API holds a request", async || !api.events().is_empty()).await;
    // the Events API now hangs on its first request; answers keep coming
    for i in 0..5 {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            review(&server, owned_pod_review(&format!("slow-{i}-b"), false)),
        )
        .await
        .expect("an answer while the Events API hangs");
        assert_eq!(answer["allowed"], true);
    }
    assert_eq!(api.events().len(), 1, "the publisher is still waiting on the first request");
    api.unblock_events();
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_events_api_does_not_fail_answers() {
    let api = MockApi::start(false, 0).await;
    api.set_events_api(EventsApi::Failing);
    let server = server(&api).await;
    for i in 0..3 {
        let answer = review(&server, owned_pod_review(&format!("failing-{i}"), false)).await;
        assert_eq!(answer["allowed"], true);
        assert!(answer["warnings"][0].as_str().unwrap().starts_with("[pod-envfrom-names]"));
    }
    until("the failures are counted", async || {
        metric(&server, r#"secretgate_events_total{outcome="failed"}"#).await == 3
    })
    .await;
    server.running.shutdown().await;
}
