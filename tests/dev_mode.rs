//! `secretgate serve --dev` in a fresh directory: it writes throw-away
//! certificates, serves the embedded example cluster on loopback (and says
//! so), and the curl command it prints returns an AdmissionReview answer. A
//! second dev server in the same directory reuses the certificates instead of
//! pulling them from under the first.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::client::{Proto, connect};

struct Dev {
    child: std::process::Child,
    lines: Vec<String>,
    curl: String,
}

fn spawn_dev(cwd: &std::path::Path) -> Dev {
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretgate"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .current_dir(cwd)
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
    let mut lines = Vec::new();
    let curl = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("serve --dev prints a curl command");
        lines.push(line.clone());
        if line.trim_start().starts_with("curl ") {
            break line.trim().to_string();
        }
    };
    Dev { child, lines, curl }
}

/// Send the example review the way the printed curl command does.
async fn answer(curl: &str, cwd: &std::path::Path) -> Value {
    // curl --cacert CA -H '...' --data-binary @REVIEW https://127.0.0.1:PORT/validate
    let words: Vec<&str> = curl.split_whitespace().collect();
    let ca = words[words.iter().position(|w| *w == "--cacert").unwrap() + 1];
    let review = words.iter().find_map(|w| w.strip_prefix('@')).unwrap();
    let url = words.last().unwrap();
    let (authority, path) = url.strip_prefix("https://").unwrap().split_once('/').unwrap();
    assert!(ca.starts_with(cwd.to_str().unwrap()), "certificates under the working directory: {ca}");
    assert!(authority.starts_with("127.0.0.1:"), "loopback only: {authority}");
    let mut conn = connect(authority.parse().unwrap(), &std::fs::read(ca).unwrap(), Proto::H1, None).await.unwrap();
    let (status, body) = conn.post(&format!("/{path}"), std::fs::read(review).unwrap()).await.unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_prints_a_curl_command_that_works() {
    let cwd = tempfile::tempdir().unwrap();
    let mut first = spawn_dev(cwd.path());
    let answer_one = answer(&first.curl, cwd.path()).await;
    assert_eq!(answer_one["kind"], "AdmissionReview");
    assert!(answer_one["response"]["uid"].is_string());
    let banner = first.lines.join("\n");
    assert!(banner.contains("cluster: the example snapshot examples/cluster/apps.yaml"), "{banner}");
    // a second dev server in the same directory leaves the first one's pair alone
    let pair = std::fs::read(cwd.path().join("certs/dev/tls.crt")).unwrap();
    let mut second = spawn_dev(cwd.path());
    assert_eq!(std::fs::read(cwd.path().join("certs/dev/tls.crt")).unwrap(), pair, "the certificate was rewritten");
    assert_eq!(answer(&first.curl, cwd.path()).await["kind"], "AdmissionReview", "the first server still verifies");
    assert_eq!(answer(&second.curl, cwd.path()).await["kind"], "AdmissionReview");
    for dev in [&mut first, &mut second] {
        dev.child.kill().unwrap();
        let _ = dev.child.wait();
    }
}
