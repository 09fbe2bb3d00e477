//! Redaction proof for the server: every fixture review and every leak-check
//! input goes through the running server over HTTP/1.1 and HTTP/2 with
//! trace-level logs of every crate (secretgate, hyper, h2, rustls, ...) as
//! JSON; no Secret value, raw or base64, may appear in the logs, the
//! answers or the metrics.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};
use support::client::{Proto, admin_get, connect};
use support::server::start_snapshot_server;
use support::{b64, leaks};

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn review_of(object: Value, old: Option<Value>) -> Value {
    let kind = object["kind"].as_str().unwrap_or("Secret").to_string();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0000-redaction",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
            "namespace": "team-a",
            "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
            "userInfo": {"username": "redaction"},
            "object": object,
            "oldObject": old,
        }
    })
}

/// The Secret values a review carries: `data` (decoded, and as sent) and
/// `stringData` of its object and old object. Short values ("a", "true")
/// are left out: they occur in any log for other reasons.
fn values_in(review: &Value) -> Vec<String> {
    let mut values = Vec::new();
    for side in ["object", "oldObject"] {
        let object = &review["request"][side];
        if object["kind"] != "Secret" {
            continue;
        }
        for (field, encoded) in [("data", true), ("stringData", false)] {
            let Some(map) = object[field].as_object() else { continue };
            for value in map.values().filter_map(Value::as_str) {
                values.push(value.to_string());
                if encoded && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(value) {
                    values.push(String::from_utf8_lossy(&raw).trim_end().to_string());
                } else if !encoded {
                    values.push(b64(value.as_bytes()));
                }
            }
        }
    }
    values.retain(|v| v.len() >= 8);
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_reaches_logs_answers_or_metrics() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .init();

    let mut reviews: Vec<(String, &str, Value)> = Vec::new();
    for webhook in ["validate", "mutate"] {
        for path in support::requests(webhook) {
            let review: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            reviews.push((path.display().to_string(), webhook, review));
        }
    }
    let mut declared = Vec::new();
    for (what, input, extra, secrets) in leaks::corpus() {
        let Ok(object) = serde_json::from_str::<Value>(&input) else { continue }; // YAML-only cases: review CLI test
        let old = extra
            .iter()
            .position(|a| a == "--old")
            .map(|i| serde_json::from_slice::<Value>(&std::fs::read(&extra[i + 1]).unwrap()).unwrap());
        let review = review_of(object, old);
        declared.extend(secrets.iter().flat_map(|s| [s.clone(), b64(s.as_bytes())]));
        for webhook in ["validate", "mutate"] {
            reviews.push((what.to_string(), webhook, review.clone()));
        }
    }
    let mut secrets: Vec<String> = reviews.iter().flat_map(|(_, _, review)| values_in(review)).collect();
    secrets.extend(declared);
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() >= 30, "the corpus carries only {} Secret values", secrets.len());

    let server = start_snapshot_server(|_| {}).await;
    let addr = server.running.webhook_addr;
    let mut answers = Vec::new();
    let mut denied_or_warned = 0;
    for proto in [Proto::H1, Proto::H2] {
        let mut conn = connect(addr, &server.ca, proto, None).await.unwrap();
        for (what, webhook, review) in &reviews {
            let (status, body) = conn.post(&format!("/{webhook}"), serde_json::to_vec(review).unwrap()).await.unwrap();
            assert!(status == 200 || status == 400, "{what}: {status}");
            let text = String::from_utf8_lossy(&body).into_owned();
            if text.contains(r#""allowed":false"#) || text.contains(r#""warnings""#) {
                denied_or_warned += 1;
            }
            answers.push((what.clone(), text));
        }
    }
    let (_, metrics) = admin_get(server.running.admin_addr, "/metrics").await;
    server.running.shutdown().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(r#""level":"TRACE""#) && logs.contains("Request"), "trace logs were captured");
    assert!(denied_or_warned >= 40, "only {denied_or_warned} answers denied or warned");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "the logs carry a Secret value ({} bytes)", secret.len());
        assert!(!metrics.contains(secret.as_str()), "the metrics carry a Secret value");
        for (what, answer) in &answers {
            assert!(!answer.contains(secret.as_str()), "the answer to {what} carries a Secret value");
        }
    }
}
