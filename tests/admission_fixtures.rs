//! Golden-file tests: every AdmissionReview under tests/fixtures/admission
//! goes through the real `secretgate review` binary (the same decode →
//! dispatch → policy → encode path as the server), and the answer must equal
//! its `*.response.json`. `UPDATE_GOLDEN=1 cargo test` rewrites the goldens.

mod support;

use serde_json::Value;
use support::{fixture, golden, readable, requests, secretgate, sibling};

fn run_fixtures(webhook: &str) {
    let cluster = fixture("cluster");
    let cases = requests(webhook);
    assert!(!cases.is_empty(), "no fixtures for {webhook}");
    for request in cases {
        let mut args = vec!["review", "--webhook", webhook, "--cluster", cluster.to_str().unwrap()];
        let config = sibling(&request, ".config.yaml");
        if config.exists() {
            args.extend(["--config", config.to_str().unwrap()]);
        }
        args.push(request.to_str().unwrap());
        let out = secretgate(&args, b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let answer: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: no answer ({e}); stderr: {stderr}", request.display()));
        let sent: Value = serde_json::from_slice(&std::fs::read(&request).unwrap()).unwrap();
        let response = &answer["response"];

        // contract §2: same apiVersion, kind, uid echoed
        assert_eq!(answer["apiVersion"], sent["apiVersion"], "{}", request.display());
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(response["uid"], sent["request"]["uid"], "{}", request.display());
        // exit status follows the decision
        let allowed = response["allowed"].as_bool().unwrap();
        assert_eq!(out.status.code(), Some(if allowed { 0 } else { 1 }), "{}: {stderr}", request.display());
        // patch and patchType come together, and never from the validating webhook
        assert_eq!(response.get("patch").is_some(), response.get("patchType").is_some());
        if webhook == "validate" {
            assert!(response.get("patch").is_none(), "{}: validating answer with a patch", request.display());
        }
        golden(&sibling(&request, ".response.json"), &readable(answer));
    }
}

#[test]
fn validating_fixtures_match_their_golden_answers() {
    run_fixtures("validate");
}

#[test]
fn mutating_fixtures_match_their_golden_answers() {
    run_fixtures("mutate");
}
