//! The real server on loopback with test-time certificates: real
//! AdmissionReview JSON over TLS, HTTP/1.1 and HTTP/2, compared with
//! `secretgate review`; errors; certificate rotation; client certificates;
//! readiness and metrics.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::client::{Proto, admin_get, connect, raw_tls, read_response};
use support::server::{TestServer, certificates, start_snapshot_server};
use support::{fixture, requests, secretgate, sibling};
use tokio::io::AsyncWriteExt;

fn review_answer(webhook: &str, request: &Path, config: Option<&Path>) -> Value {
    let cluster = fixture("cluster");
    let mut args = vec!["review", "--webhook", webhook, "--cluster", cluster.to_str().unwrap()];
    if let Some(config) = config {
        args.extend(["--config", config.to_str().unwrap()]);
    }
    args.push(request.to_str().unwrap());
    serde_json::from_slice(&secretgate(&args, b"").stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_reviews_for_every_fixture_over_http1_and_http2() {
    // group the fixtures by policy file: one server per policy
    let mut groups: BTreeMap<Option<PathBuf>, Vec<(&str, PathBuf)>> = BTreeMap::new();
    for webhook in ["validate", "mutate"] {
        for request in requests(webhook) {
            let config = sibling(&request, ".config.yaml");
            groups.entry(config.exists().then_some(config)).or_default().push((webhook, request));
        }
    }
    let mut compared = 0;
    for (config, cases) in groups {
        let policy = config.as_deref().map(|c| secretgate::config::policy_file::load(c).unwrap());
        let server = start_snapshot_server(|cfg| {
            if let Some(policy) = policy {
                cfg.policy = policy;
            }
        })
        .await;
        for proto in [Proto::H1, Proto::H2] {
            let mut conn = connect(server.running.webhook_addr, &server.ca, proto, None).await.unwrap();
            for (webhook, request) in &cases {
                let body = std::fs::read(request).unwrap();
                let (status, answer) = conn.post(&format!("/{webhook}?timeout=10s"), body).await.unwrap();
                assert_eq!(status, 200, "{}", request.display());
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                assert_eq!(
                    answer,
                    review_answer(webhook, request, config.as_deref()),
                    "{} over {proto:?}",
                    request.display()
                );
                compared += 1;
            }
        }
        server.running.shutdown().await;
    }
    assert!(compared > 60, "only {compared} answers compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_the_server_keeps_serving() {
    let server = start_snapshot_server(|cfg| cfg.max_body_bytes = 64 * 1024).await;
    let addr = server.running.webhook_addr;
    let mut conn = connect(addr, &server.ca, Proto::H1, None).await.unwrap();
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/validate", b"{not json".to_vec(), 400),
        ("POST", "/validate", br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec(), 400),
        ("POST", "/mutate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), 400),
        ("POST", "/validate", vec![b' '; 100 * 1024], 413),
        ("POST", "/nope", b"{}".to_vec(), 404),
        ("GET", "/validate", Vec::new(), 405),
        ("PUT", "/mutate", Vec::new(), 405),
    ];
    for (method, path, body, want) in cases {
        let (status, body) = conn.request(method, path, body).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(status, want, "{method} {path}: {}", String::from_utf8_lossy(&body));
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()), "{error}");
        if status == 413 {
            // a 413 may close the connection: reconnect
            conn = connect(addr, &server.ca, Proto::H1, None).await.unwrap();
        }
    }
    // a body over the limit without a declared length
    let mut raw = raw_tls(addr, &server.ca).await;
    raw.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
    for _ in 0..20 {
        raw.write_all(format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192)).as_bytes()).await.unwrap();
    }
    raw.write_all(b"0\r\n\r\n").await.unwrap();
    let (status, text) = read_response(&mut raw).await;
    assert_eq!(status, 413, "{text}");
    // and the server still answers
    let body = std::fs::read(fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let mut conn = connect(addr, &server.ca, Proto::H2, None).await.unwrap();
    assert_eq!(conn.post("/validate", body).await.unwrap().0, 200);
    let (_, metrics) = admin_get(server.running.admin_addr, "/metrics").await;
    for (code, count) in [("400", 3), ("404", 1), ("405", 2), ("413", 2)] {
        let line = format!("secretgate_http_errors_total{{code=\"{code}\"}} {count}");
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_every_contract_metric() {
    let server = start_snapshot_server(|_| {}).await;
    let admin = server.running.admin_addr;
    assert_eq!(admin_get(admin, "/livez").await.0, 200);
    assert_eq!(admin_get(admin, "/readyz").await, (200, "ready\n".to_string()));
    let mut conn = connect(server.running.webhook_addr, &server.ca, Proto::H1, None).await.unwrap();
    let body = std::fs::read(fixture("admission/validate/pod-mountable-all-kinds.request.json")).unwrap();
    assert_eq!(conn.post("/validate", body).await.unwrap().0, 200);
    let (status, metrics) = admin_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        r#"secretgate_admission_requests_total{decision="denied",kind="Pod",operation="CREATE",webhook="validate"} 1"#,
        "secretgate_admission_duration_seconds_bucket{webhook=\"validate\"",
        r#"secretgate_rule_violations_total{action="deny",rule="pod-mountable-secrets"} 7"#,
        r#"secretgate_cluster_objects{kind="Secret"}"#,
        r#"secretgate_cluster_objects{kind="ServiceAccount"}"#,
        "secretgate_cluster_ready 1",
        "secretgate_tls_certificate_expiry_timestamp_seconds",
        r#"secretgate_tls_reloads_total{outcome="success"} 0"#,
    ] {
        assert!(metrics.contains(name), "missing {name}");
    }
    server.running.shutdown().await;
}

/// Lay out certificates like a kubelet-managed Secret volume:
/// `dir/..<version>/tls.*`, `dir/..data -> ..<version>`, `dir/tls.* -> ..data/tls.*`.
fn kubelet_volume(dir: &Path, version: &str, files: &secretgate::app::certs::Generated) {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&versioned).unwrap();
    std::fs::copy(&files.cert, versioned.join("tls.crt")).unwrap();
    std::fs::copy(&files.key, versioned.join("tls.key")).unwrap();
    swap_data(dir, version);
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

/// The kubelet's atomic swap: a new `..data_tmp` link renamed over `..data`.
fn swap_data(dir: &Path, version: &str) {
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

/// The DER of the first certificate in a PEM file.
fn der(pem: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(&std::fs::read(pem).unwrap()).unwrap().to_vec()
}

async fn serving_cert(server: &TestServer, trust: &[u8]) -> Vec<u8> {
    connect(server.running.webhook_addr, trust, Proto::H1, None).await.unwrap().server_cert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_by_symlink_swap_and_garbage_keeps_the_old_pair() {
    let (_a_dir, a) = certificates();
    let (_b_dir, b) = certificates();
    let volume = tempfile::tempdir().unwrap();
    kubelet_volume(volume.path(), "2026_11_22_a", &a);
    let server = start_snapshot_server(|cfg| {
        cfg.tls.cert = volume.path().join("tls.crt");
        cfg.tls.key = volume.path().join("tls.key");
        cfg.tls_reload_interval = Duration::from_millis(50);
    })
    .await;
    let trust = [std::fs::read(&a.ca).unwrap(), std::fs::read(&b.ca).unwrap()].concat();
    let cert_a = serving_cert(&server, &trust).await;
    assert_eq!(cert_a, der(&a.cert));

    kubelet_volume(volume.path(), "2026_11_22_b", &b);
    let cert_b = der(&b.cert);
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = serving_cert(&server, &trust).await;
        if seen == cert_b {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, cert_b, "a new connection sees the rotated certificate");

    // a broken pair: the old one keeps serving, and the failure is counted
    let broken = volume.path().join("..2026_11_22_c");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("tls.crt"), b"not a certificate").unwrap();
    std::fs::write(broken.join("tls.key"), b"not a key").unwrap();
    swap_data(volume.path(), "2026_11_22_c");
    let metrics_addr = server.running.admin_addr;
    let mut failures = false;
    for _ in 0..100 {
        let (_, metrics) = admin_get(metrics_addr, "/metrics").await;
        if metrics.contains(r#"secretgate_tls_reloads_total{outcome="failure"} 1"#) {
            assert!(metrics.contains(r#"secretgate_tls_reloads_total{outcome="success"} 1"#));
            failures = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failures, "the broken pair was noticed");
    assert_eq!(serving_cert(&server, &trust).await, cert_b, "the last good pair keeps serving");
    server.running.shutdown().await;
}

fn client_identity(ca_dir: &Path) -> (Vec<u8>, (Vec<u8>, Vec<u8>)) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["kube-apiserver".to_string()]).unwrap();
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &Issuer::from_params(&ca, &ca_key)).unwrap();
    std::fs::write(ca_dir.join("client-ca.crt"), ca_cert.pem()).unwrap();
    (ca_cert.pem().into_bytes(), (cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ca_requires_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (_, identity) = client_identity(dir.path());
    let (_, stranger) = client_identity(other.path()); // signed by another CA
    let client_ca = dir.path().join("client-ca.crt");
    let server = start_snapshot_server(|cfg| cfg.tls.client_ca = Some(client_ca.clone())).await;
    let addr = server.running.webhook_addr;
    let body = std::fs::read(fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let mut trusted = connect(addr, &server.ca, Proto::H1, Some(&identity)).await.unwrap();
    assert_eq!(trusted.post("/validate", body.clone()).await.unwrap().0, 200);
    for who in [None, Some(&stranger)] {
        let refused = match connect(addr, &server.ca, Proto::H1, who).await {
            Err(_) => true,
            Ok(mut conn) => conn.post("/validate", body.clone()).await.is_err(),
        };
        assert!(refused, "a client without a trusted certificate is refused");
    }
    server.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_serving_pair_stops_startup_naming_the_flag() {
    let (dir, files) = certificates();
    let (_other_dir, other) = certificates();
    let cases = [
        (dir.path().join("missing.crt"), files.key.clone(), "--tls-cert-file"),
        (files.cert.clone(), other.key.clone(), "--tls-key-file"),
        (files.key.clone(), files.key.clone(), "--tls-cert-file"),
    ];
    for (cert, key, flag) in cases {
        let mut cfg = support::server::config(&files, secretgate::app::serve::ViewSource::Snapshot(Box::default()));
        cfg.tls.cert = cert;
        cfg.tls.key = key;
        let error = match secretgate::app::serve::start(cfg).await {
            Ok(_) => panic!("started with a bad pair"),
            Err(e) => e,
        };
        assert!(error.message.starts_with(flag), "{}", error.message);
        assert_eq!(error.code, 2);
    }
}
