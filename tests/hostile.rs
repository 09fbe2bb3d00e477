//! Hostile input against the running server on loopback: every case gets a
//! bounded, correct answer (or a closed connection) and the server goes on
//! answering well-formed reviews afterwards.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::client::{Proto, connect, raw_tls, raw_tls_alpn, read_response};
use support::server::{TestServer, start_snapshot_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A short header/body timeout so the slow-sender cases end quickly.
const SHORT: Duration = Duration::from_millis(800);

async fn server() -> TestServer {
    start_snapshot_server(|cfg| {
        cfg.header_read_timeout = SHORT;
        cfg.body_read_timeout = SHORT;
        cfg.idle_timeout = SHORT;
        cfg.max_body_bytes = 8 * 1024 * 1024;
    })
    .await
}

fn review(object: Value) -> Vec<u8> {
    let kind = object["kind"].as_str().unwrap().to_string();
    harness::wrap(&kind, "CREATE", &object, None)
}

fn pod(containers: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {"serviceAccountName": "default", "containers": containers}
    })
}

/// A well-formed review still gets its answer.
async fn still_serving(server: &TestServer) {
    let body = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.expect("connects");
    let (status, answer) = conn.post("/validate", body).await.expect("answers");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
}

/// POST `body` on a fresh HTTP/1.1 connection.
async fn post(server: &TestServer, path: &str, body: Vec<u8>) -> (u16, Value) {
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let (status, body) = conn.post(path, body).await.unwrap();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    (status, value)
}

/// Wait until the peer closes `stream`, at most `limit`.
async fn closed_within(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_with_a_reason() {
    let server = server().await;
    let valid = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let mut invalid_utf8 = valid.clone();
    let at = invalid_utf8.windows(6).position(|w| w == b"\"name\"").unwrap() + 9;
    invalid_utf8[at] = 0xff;
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let deep_in_object = {
        let mut object = pod(vec![json!({"name": "a", "image": "i"})]);
        object["spec"]["x-unknown"] = json!(null);
        let text = String::from_utf8(review(object)).unwrap();
        let deep = format!(r#""x-unknown":{}1{}"#, "{\"a\":".repeat(5_000), "}".repeat(5_000));
        assert!(text.contains(r#""x-unknown":null"#));
        text.replace(r#""x-unknown":null"#, &deep).into_bytes()
    };
    let huge_number = {
        let text = String::from_utf8(review(pod(vec![json!({"name": "a", "image": "i"})]))).unwrap();
        text.replace(r#""containers":"#, r#""activeDeadlineSeconds":1e999999,"containers":"#).into_bytes()
    };
    let out_of_range = {
        let text = String::from_utf8(review(pod(vec![json!({"name": "a", "image": "i"})]))).unwrap();
        text.replace(r#""containers":"#, r#""priority":99999999999999999999999,"containers":"#).into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", valid[..valid.len() / 2].to_vec()),
        ("invalid UTF-8 in a string", invalid_utf8),
        ("100k nested arrays", deep_array),
        ("a number beyond f64", huge_number),
        ("an integer beyond i32", out_of_range),
        ("an empty body", Vec::new()),
        ("NUL bytes", vec![0; 4096]),
    ];
    for (what, body) in cases {
        for path in ["/validate", "/mutate"] {
            let (status, answer) = post(&server, path, body.clone()).await;
            assert_eq!(status, 400, "{what} on {path}: {answer}");
            let reason = answer["error"].as_str().unwrap_or_default();
            assert!(!reason.is_empty() && reason.len() < 1024, "{what} on {path}: {answer}");
        }
    }
    // deep nesting in a field the Pod type does not know is skipped without
    // recursion (the API server would have pruned it): an ordinary answer
    for path in ["/validate", "/mutate"] {
        let (status, answer) = post(&server, path, deep_in_object.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
    }
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_that_decoders_read_differently_are_refused() {
    let server = server().await;
    // a Pod whose spec is given twice: Go merges, serde would take the last
    let twice = {
        let text = String::from_utf8(review(pod(vec![json!({"name": "a", "image": "i"})]))).unwrap();
        let spec = r#""spec":{"volumes":[{"name":"v","secret":{"secretName":"missing"}}],"containers":[{"name":"a","image":"i"}]},"#;
        text.replacen(r#""spec":"#, &format!("{spec}\"spec\":"), 1).into_bytes()
    };
    let secret_key_twice = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Secret"},"resource":{"group":"","version":"v1","resource":"secrets"},"operation":"CREATE","namespace":"team-a","userInfo":{},"object":{"kind":"Secret","metadata":{"name":"s"},"data":{"k":"YQ==","k":"Yg=="}}}}"#.to_vec();
    let uid_twice = String::from_utf8(review(pod(vec![json!({"name": "a", "image": "i"})])))
        .unwrap()
        .replacen(r#""uid":"#, r#""uid":"first","uid":"#, 1)
        .into_bytes();
    let array_object = {
        let mut v: Value = serde_json::from_slice(&review(pod(vec![json!({"name": "a", "image": "i"})]))).unwrap();
        v["request"]["object"] = json!([]);
        serde_json::to_vec(&v).unwrap()
    };
    for (what, body, expect) in [
        ("spec twice", twice, "duplicate key request.object.spec"),
        ("a Secret key twice", secret_key_twice, "duplicate key request.object.data.k"),
        ("uid twice", uid_twice, "duplicate key request.uid"),
        ("object is an array", array_object, "request.object must be a JSON object, not an array"),
    ] {
        for path in ["/validate", "/mutate"] {
            let (status, answer) = post(&server, path, body.clone()).await;
            assert_eq!(status, 400, "{what} on {path}: {answer}");
            let reason = answer["error"].as_str().unwrap_or_default();
            assert!(reason.starts_with(expect), "{what} on {path}: {answer}");
            assert!(!reason.contains("YQ==") && !reason.contains("Yg=="), "{answer}");
        }
    }
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_containers_get_a_bounded_answer() {
    let server = server().await;
    let containers: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": "i",
                   "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": format!("missing-{i}"), "key": "k"}}}]})
        })
        .collect();
    let body = review(pod(containers));
    let size = body.len();
    let (status, answer) = post(&server, "/validate", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response"]["allowed"], false, "every container names a missing Secret");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    // the first violations of the rule, then how many more (contract §3)
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 21, "{message}");
    assert!(lines[..20].iter().all(|l| l.starts_with("[pod-secret-exists] spec.containers[")), "{message}");
    assert_eq!(lines[20], "[pod-secret-exists] ... and 9980 more");
    let answer_size = serde_json::to_vec(&answer).unwrap().len();
    assert!(answer_size < 64 * 1024, "a {size}-byte review got a {answer_size}-byte answer");
    // the mutating webhook walks the same list
    let containers: Vec<Value> = (0..10_000).map(|i| json!({"name": format!("c{i}"), "image": "i"})).collect();
    let (status, answer) = post(&server, "/mutate", review(pod(containers))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response"]["allowed"], true);
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_stay_small_however_many_violations() {
    let server = server().await;
    // 100k bad keys (a 2.3 MB review): every one counted, a few shown
    let data: serde_json::Map<String, Value> = (0..100_000).map(|i| (format!("bad*{i}"), json!("YQ=="))).collect();
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}, "data": data});
    let body = review(secret);
    let size = body.len();
    let (status, answer) = post(&server, "/validate", body).await;
    assert_eq!(status, 200, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.ends_with("[secret-keys] ... and 99980 more"), "{}", &message[message.len().saturating_sub(300)..]);
    let answer_size = serde_json::to_vec(&answer).unwrap().len();
    assert!(answer_size <= 40 * 1024, "a {size}-byte review got a {answer_size}-byte answer");
    // a Pod with 150k volumes naming missing Secrets (7.7 MB)
    let volumes: Vec<Value> =
        (0..150_000).map(|i| json!({"name": format!("v{i}"), "secret": {"secretName": format!("m{i}")}})).collect();
    let mut pod = pod(vec![json!({"name": "c", "image": "i"})]);
    pod["spec"]["volumes"] = volumes.into();
    let body = review(pod);
    let size = body.len();
    let (status, answer) = post(&server, "/validate", body).await;
    assert_eq!(status, 200, "{answer}");
    let answer_size = serde_json::to_vec(&answer).unwrap().len();
    assert!(answer_size <= 40 * 1024, "a {size}-byte review got a {answer_size}-byte answer");
    let metrics = support::client::admin_get(server.running.admin_addr, "/metrics").await.1;
    assert!(
        metrics.contains(r#"secretgate_rule_violations_total{action="deny",rule="secret-keys"} 100000"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"secretgate_rule_violations_total{action="deny",rule="pod-secret-exists"} 150000"#),
        "{metrics}"
    );
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_megabyte_key_is_denied_without_echoing_it() {
    let server = server().await;
    let key = "k".repeat(1024 * 1024);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "team-a"},
        "data": {key.clone(): "YQ=="}
    });
    let (status, answer) = post(&server, "/validate", review(secret)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response"]["allowed"], false);
    let text = answer.to_string();
    assert!(text.contains("[secret-keys]"), "{}", &text[..text.len().min(500)]);
    assert!(text.len() < 16 * 1024, "the answer is {} bytes: the key was echoed", text.len());
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_refused_before_they_are_read() {
    let server = start_snapshot_server(|cfg| cfg.max_body_bytes = 64 * 1024).await;
    let addr = server.running.webhook_addr;
    // a declared length over the limit is refused without waiting for the body
    let mut raw = raw_tls(addr, &server.ca).await;
    let head =
        "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n";
    raw.write_all(head.as_bytes()).await.unwrap();
    let (status, text) = read_response(&mut raw).await;
    assert_eq!(status, 413, "{text}");
    // no declared length: refused once the limit is crossed, while the client is still sending
    let mut raw = raw_tls(addr, &server.ca).await;
    raw.write_all(b"POST /mutate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
    for _ in 0..5 {
        raw.write_all(chunk.as_bytes()).await.unwrap();
    }
    raw.flush().await.unwrap();
    let (status, text) = read_response(&mut raw).await;
    assert_eq!(status, 413, "{text}");
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_a_little_too_large_gets_its_413_not_a_reset() {
    // declared between the limit and limit + 4 MiB, and longer than 4 MiB:
    // the whole body is drained, so the client reads its 413 every time
    let server = start_snapshot_server(|cfg| cfg.max_body_bytes = 1024 * 1024).await;
    let addr = server.running.webhook_addr;
    let declared = 4 * 1024 * 1024 + 512 * 1024;
    let body = vec![b'x'; declared];
    let mut answered = 0;
    for _ in 0..20 {
        let mut raw = raw_tls(addr, &server.ca).await;
        let head = format!("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
        let sent = async {
            raw.write_all(head.as_bytes()).await?;
            raw.write_all(&body).await?;
            raw.flush().await
        };
        if sent.await.is_ok() && read_response(&mut raw).await.0 == 413 {
            answered += 1;
        }
    }
    assert_eq!(answered, 20, "every client read its 413");
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_senders_are_cut_off() {
    let server = server().await;
    let addr = server.running.webhook_addr;
    // headers trickled one byte at a time
    let mut headers = raw_tls(addr, &server.ca).await;
    let trickle = tokio::spawn(async move {
        for byte in b"POST /validate HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain([b'a'; 200].iter()) {
            if headers.write_all(&[*byte]).await.is_err() || headers.flush().await.is_err() {
                return headers;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        headers
    });
    // a body trickled after complete headers
    let mut body = raw_tls(addr, &server.ca).await;
    body.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{").await.unwrap();
    body.flush().await.unwrap();
    let trickle_body = tokio::spawn(async move {
        for _ in 0..100 {
            if body.write_all(b" ").await.is_err() {
                break;
            }
            let _ = body.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        body
    });
    // meanwhile others are served
    still_serving(&server).await;
    let mut headers = trickle.await.unwrap();
    closed_within(&mut headers, Duration::from_secs(5)).await;
    let mut body = trickle_body.await.unwrap();
    let (status, text) = read_response(&mut body).await;
    assert_eq!(status, 408, "{text}");
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_non_tls_connections_are_closed() {
    let server = server().await;
    let addr = server.running.webhook_addr;
    // plain HTTP on the TLS port
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}").await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut reply)).await.expect("closed");
    assert!(!reply.starts_with(b"HTTP/"), "answered plain HTTP on the TLS port");
    // random bytes
    let mut noise = TcpStream::connect(addr).await.unwrap();
    noise.write_all(&(0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<_>>()).await.ok();
    closed_within(&mut noise, Duration::from_secs(5)).await;
    // many connections that never speak, and many that finish TLS and never send a request
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut quiet = Vec::new();
    for _ in 0..100 {
        quiet.push(raw_tls(addr, &server.ca).await);
    }
    // a connection that was used once and then left idle
    let mut used = raw_tls(addr, &server.ca).await;
    let valid = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let head = format!("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", valid.len());
    used.write_all(head.as_bytes()).await.unwrap();
    used.write_all(&valid).await.unwrap();
    assert_eq!(read_response(&mut used).await.0, 200);
    still_serving(&server).await;
    // the handshake and idle timeouts (both SHORT here) close them all
    let limit = Duration::from_secs(15);
    for stream in &mut silent {
        closed_within(stream, limit).await;
    }
    for stream in &mut quiet {
        closed_within(stream, limit).await;
    }
    closed_within(&mut used, limit).await;
    still_serving(&server).await;
    server.running.shutdown().await;
}

/// An HTTP/2 connection driven with the h2 crate, for stream-level abuse.
async fn h2_connection(server: &TestServer) -> h2::client::SendRequest<bytes::Bytes> {
    let tls = raw_tls_alpn(server.running.webhook_addr, &server.ca, b"h2").await;
    let (send, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

fn h2_request() -> http::Request<()> {
    http::Request::post("https://127.0.0.1/validate").header("content-type", "application/json").body(()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_rapid_resets_end_the_connection_not_the_server() {
    let server = server().await;
    let send = h2_connection(&server).await;
    // open streams and cancel them at once, many times (CVE-2023-44487)
    let mut sent = 0;
    for _ in 0..20_000 {
        let Ok(ready) = tokio::time::timeout(Duration::from_secs(5), send.clone().ready()).await else {
            panic!("the connection stalled after {sent} resets");
        };
        let Ok(mut ready) = ready else { break };
        let Ok((_response, mut stream)) = ready.send_request(h2_request(), false) else { break };
        stream.send_reset(h2::Reason::CANCEL);
        sent += 1;
    }
    assert!(sent > 0);
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_floods_are_bounded() {
    let server = server().await;
    // streams that send headers and never a body: each times out with 408
    let mut send = h2_connection(&server).await;
    let mut open = Vec::new();
    for _ in 0..300 {
        let Ok(Ok(mut ready)) = tokio::time::timeout(Duration::from_secs(5), send.clone().ready()).await else {
            break;
        };
        let (response, stream) = ready.send_request(h2_request(), false).unwrap();
        open.push((response, stream));
        send = ready;
    }
    assert!(open.len() >= 100, "only {} streams opened", open.len());
    still_serving(&server).await;
    let mut timed_out = 0;
    for (response, _stream) in open {
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(15), response).await {
            assert_eq!(response.status(), 408);
            timed_out += 1;
        }
    }
    assert!(timed_out >= 100, "{timed_out} streams got their 408");
    still_serving(&server).await;
    server.running.shutdown().await;
    // many complete small requests at once on one connection; a body stuck behind
    // the connection's flow-control window for longer than the body timeout would be
    // a 408, so on this busy machine the timeout is long
    let server = start_snapshot_server(|cfg| cfg.body_read_timeout = Duration::from_secs(120)).await;
    let send = h2_connection(&server).await;
    let body = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    // one request first: until the server's SETTINGS arrive the client may open more
    // streams than the server allows, and the excess is refused (REFUSED_STREAM, which
    // the API server's client retries); that is the protocol, not what is tested here
    {
        let mut ready = send.clone().ready().await.unwrap();
        let (response, mut stream) = ready.send_request(h2_request(), false).unwrap();
        stream.send_data(bytes::Bytes::from(body.clone()), true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
    }
    let mut tasks = Vec::new();
    for _ in 0..2_000 {
        let send = send.clone();
        let body = bytes::Bytes::from(body.clone());
        tasks.push(tokio::spawn(async move {
            // where a request fails says whose fault it is: a status is the server's answer
            let mut ready = send.ready().await.map_err(|e| format!("ready: {e}"))?;
            let (response, mut stream) =
                ready.send_request(h2_request(), false).map_err(|e| format!("send_request: {e}"))?;
            stream.send_data(body, true).map_err(|e| format!("send_data: {e}"))?;
            Ok::<u16, String>(response.await.map_err(|e| format!("response: {e}"))?.status().as_u16())
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(Ok(200), 2_000)].into(), "every complete request on the flooded connection is answered");
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_opens_its_window_is_cut_off() {
    // SETTINGS_INITIAL_WINDOW_SIZE=0: no answer body can ever be sent
    let server = start_snapshot_server(|cfg| {
        cfg.idle_timeout = SHORT;
        cfg.stall_timeout = Duration::from_secs(1);
    })
    .await;
    let tls = raw_tls_alpn(server.running.webhook_addr, &server.ca, b"h2").await;
    let (mut send, connection) =
        h2::client::Builder::new().initial_window_size(0).handshake::<_, bytes::Bytes>(tls).await.unwrap();
    // the connection task answers PINGs for as long as the server keeps it
    let driven = tokio::spawn(async move {
        let _ = connection.await;
    });
    let valid = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let mut responses = Vec::new();
    for _ in 0..20 {
        send = send.ready().await.unwrap();
        let (response, mut stream) = send.send_request(h2_request(), false).unwrap();
        stream.send_data(bytes::Bytes::from(valid.clone()), true).unwrap();
        responses.push(response);
    }
    // answers are computed and held; the stall timer drops the connection
    let ended = tokio::time::timeout(Duration::from_secs(20), driven).await;
    assert!(ended.is_ok(), "the server kept a connection whose answers could not be sent");
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_has_timeouts_and_a_cap() {
    let server = start_snapshot_server(|cfg| cfg.header_read_timeout = SHORT).await;
    let admin = server.running.admin_addr;
    // a connection that sends nothing is closed after the header-read timeout
    let mut silent = TcpStream::connect(admin).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(10)).await;
    // 400 idle connections: the admin cap (256) closes the idlest, /readyz answers
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(TcpStream::connect(admin).await.unwrap());
    }
    let (status, body) = support::client::admin_get(admin, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let closed = closed_now(&mut idle).await;
    assert!(closed >= 400 - 256, "only {closed} of 400 idle admin connections were closed");
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_make_room_for_new_ones() {
    let server = start_snapshot_server(|cfg| {
        cfg.header_read_timeout = Duration::from_secs(30);
        cfg.max_connections = 32;
    })
    .await;
    let addr = server.running.webhook_addr;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(raw_tls(addr, &server.ca).await);
    }
    // a legitimate review still gets through, and the idlest were closed for it
    still_serving(&server).await;
    let closed = closed_now(&mut idle).await;
    assert!(closed >= 100 - 32, "only {closed} of 100 idle connections were closed at a cap of 32");
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_get_the_header_timeout_and_kept_alive_ones_the_idle_timeout() {
    let server = start_snapshot_server(|cfg| {
        cfg.header_read_timeout = SHORT;
        cfg.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = server.running.webhook_addr;
    // a fresh TLS connection that sends no request: closed after the header timeout
    let mut fresh = raw_tls(addr, &server.ca).await;
    closed_within(&mut fresh, Duration::from_secs(10)).await;
    // a kept-alive HTTP/1.1 connection outlives the header timeout
    let valid = std::fs::read(support::fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let head = format!("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", valid.len());
    let mut kept = raw_tls(addr, &server.ca).await;
    for round in 0..2 {
        kept.write_all(head.as_bytes()).await.unwrap();
        kept.write_all(&valid).await.unwrap();
        let (status, _) = read_one_response(&mut kept).await;
        assert_eq!(status, 200, "request {round} on the kept-alive connection");
        tokio::time::sleep(SHORT * 3).await;
    }
    server.running.shutdown().await;
}

/// How many of `streams` the server has closed (checked without waiting).
async fn closed_now(streams: &mut [impl AsyncReadExt + Unpin]) -> usize {
    let mut closed = 0;
    for stream in streams {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await {
            closed += 1;
        }
    }
    closed
}

/// Read one HTTP/1.1 response with a Content-Length body, leaving the connection open.
async fn read_one_response(stream: &mut (impl AsyncReadExt + Unpin)) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.unwrap().unwrap_or(0);
        if n == 0 {
            return (0, String::from_utf8_lossy(&buf).into_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>())
                })
                .and_then(Result::ok)
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = text[9..12].parse().unwrap_or(0);
                return (status, text);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_the_memory_budget_instead_of_failing() {
    let server = start_snapshot_server(|cfg| {
        cfg.max_in_flight_bytes = 1024 * 1024;
        cfg.body_read_timeout = SHORT;
    })
    .await;
    let addr = server.running.webhook_addr;
    let big = |n: usize| {
        let data: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("k{i}"), json!("YWFhYWFhYWFhYWFhYWFhYWFh"))).collect();
        review(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}, "data": data}),
        )
    };
    // a client that declares most of the budget and never sends it holds it
    // until its body timeout (408)
    let mut hog = raw_tls(addr, &server.ca).await;
    hog.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n{").await.unwrap();
    hog.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // meanwhile eight reviews of 450 kB each, at once: they wait their turn
    let body = big(12_000);
    assert!(body.len() > 400_000 && body.len() < 500_000, "{}", body.len());
    let posts = (0..8).map(|_| {
        let body = body.clone();
        let ca = server.ca.clone();
        tokio::spawn(async move {
            let mut conn = connect(addr, &ca, Proto::H1, None).await.unwrap();
            conn.post("/validate", body).await.unwrap().0
        })
    });
    for post in futures::future::join_all(posts).await {
        assert_eq!(post.unwrap(), 200);
    }
    assert_eq!(read_response(&mut hog).await.0, 408);
    still_serving(&server).await;
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reviews_on_one_http2_connection_take_turns_for_the_budget() {
    // the API server multiplexes its calls on one HTTP/2 connection: streams waiting
    // for the memory budget must not hold the connection's window that the stream
    // being read needs (with hyper's 1 MiB windows none of these was ever answered)
    let server = start_snapshot_server(|cfg| cfg.max_in_flight_bytes = 4 * 1024 * 1024).await;
    let data: serde_json::Map<String, Value> =
        (0..12_000).map(|i| (format!("k{i}"), json!("YWFhYWFhYWFhYWFhYWFhYWFh"))).collect();
    let body = review(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}, "data": data}),
    );
    assert!(body.len() > 400_000, "each share (six times the body) leaves room for one at a time");
    let send = h2_connection(&server).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let send = send.clone();
            let body = bytes::Bytes::from(body.clone());
            tokio::spawn(async move {
                let mut ready = send.ready().await.ok()?;
                let request = http::Request::post("https://127.0.0.1/validate")
                    .header("content-type", "application/json")
                    .header("content-length", body.len())
                    .body(())
                    .unwrap();
                let (response, mut stream) = ready.send_request(request, false).ok()?;
                stream.send_data(body, true).ok()?;
                let response = tokio::time::timeout(Duration::from_secs(60), response).await.ok()?.ok()?;
                Some(response.status().as_u16())
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(Some(200), 12)].into(), "after {:?}", started.elapsed());
    still_serving(&server).await;
    server.running.shutdown().await;
}
