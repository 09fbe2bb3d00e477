//! `secretgate serve --dev` in a fresh directory: it writes throw-away
//! certificates, serves the embedded example cluster on loopback, and the
//! curl command it prints returns an AdmissionReview answer.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::client::{Proto, connect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_prints_a_curl_command_that_works() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretgate"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .current_dir(cwd.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let curl = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("serve --dev prints a curl command");
        if line.trim_start().starts_with("curl ") {
            break line.trim().to_string();
        }
    };
    // curl --cacert CA -H '...' --data-binary @REVIEW https://127.0.0.1:PORT/validate
    let words: Vec<&str> = curl.split_whitespace().collect();
    let ca = words[words.iter().position(|w| *w == "--cacert").unwrap() + 1];
    let review = words.iter().find_map(|w| w.strip_prefix('@')).unwrap();
    let url = words.last().unwrap();
    let (authority, path) = url.strip_prefix("https://").unwrap().split_once('/').unwrap();
    assert!(ca.starts_with(cwd.path().to_str().unwrap()), "certificates under the working directory: {ca}");
    assert!(authority.starts_with("127.0.0.1:"), "loopback only: {authority}");

    let mut conn = connect(authority.parse().unwrap(), &std::fs::read(ca).unwrap(), Proto::H1, None).await.unwrap();
    let (status, body) = conn.post(&format!("/{path}"), std::fs::read(review).unwrap()).await.unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["kind"], "AdmissionReview");
    assert!(answer["response"]["uid"].is_string());
    child.kill().unwrap();
    let _ = child.wait();
}
