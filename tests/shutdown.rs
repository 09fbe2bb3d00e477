//! SIGTERM with requests in flight: the binary stops accepting, finishes
//! every in-flight request, and exits 0.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::client::{raw_tls, read_response};
use support::fixture;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        secretgate::app::certs::generate(dir.path(), &["localhost".into()], &[[127, 0, 0, 1].into()], 1).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretgate"))
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--tls-cert-file", files.cert.to_str().unwrap(), "--tls-key-file", files.key.to_str().unwrap()])
        .args(["--cluster", fixture("cluster").to_str().unwrap(), "--shutdown-grace-period", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines_rx.recv_timeout(Duration::from_secs(20)).expect("the server logs that it serves");
        log.push(line.clone());
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"] == "Serving" {
            break event["webhook"].as_str().unwrap().parse().unwrap();
        }
    };
    let ca = std::fs::read(&files.ca).unwrap();
    let body = std::fs::read(fixture("admission/validate/pod-mountable-all-kinds.request.json")).unwrap();

    // eight requests with headers sent and half of their body
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        let mut stream = raw_tls(addr, &ca).await;
        let head = format!(
            "POST /validate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..body.len() / 2]).await.unwrap();
        stream.flush().await.unwrap();
        in_flight.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // new connections are refused once the listener is closed
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener still accepts after SIGTERM");

    // the in-flight requests complete
    for mut stream in in_flight {
        stream.write_all(&body[body.len() / 2..]).await.unwrap();
        stream.flush().await.unwrap();
        let (status, text) = read_response(&mut stream).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"allowed\":false"), "{text}");
    }
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    while let Ok(line) = lines_rx.try_recv() {
        log.push(line);
    }
    assert_eq!(exit.code(), Some(0), "exit status; log:\n{}", log.join("\n"));
    assert!(log.iter().any(|l| l.contains("Stopped")), "{}", log.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_gets_its_next_answer_with_connection_close_during_the_drain() {
    let server = support::server::start_snapshot_server(|_| {}).await;
    let addr = server.running.webhook_addr;
    let body = std::fs::read(fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let request = |body: &[u8]| {
        let mut bytes =
            format!("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let mut conn = raw_tls(addr, &server.ca).await;
    conn.write_all(&request(&body)).await.unwrap();
    let (status, head) = read_response(&mut conn).await;
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("connection: close"), "{head}");
    // shutdown begins while the connection is idle between requests
    let shutdown = tokio::spawn(server.running.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // the client's next request is answered, and told the connection ends
    conn.write_all(&request(&body)).await.unwrap();
    let (status, head) = read_response(&mut conn).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.expect("the drain ends").unwrap();
}
