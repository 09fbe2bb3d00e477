//! Start the real server in-process on loopback port 0, with certificates
//! made at test time.

use std::path::PathBuf;
use std::time::Duration;

use secretgate::app::serve::{Running, ServeConfig, ViewSource, start};
use secretgate::cluster::Snapshot;
use secretgate::policy::Policy;
use secretgate::server::tls::TlsFiles;

/// A running server and where its files are.
pub struct TestServer {
    /// The server.
    pub running: Running,
    /// The CA that signed the serving certificate (PEM).
    pub ca: Vec<u8>,
    /// The directory holding ca.crt, tls.crt, tls.key.
    pub dir: tempfile::TempDir,
}

/// Certificates for `127.0.0.1` in a fresh temporary directory.
pub fn certificates() -> (tempfile::TempDir, secretgate::app::certs::Generated) {
    let dir = tempfile::tempdir().unwrap();
    let files =
        secretgate::app::certs::generate(dir.path(), &["localhost".into()], &[[127, 0, 0, 1].into()], 2).unwrap();
    (dir, files)
}

/// The fixture cluster as a snapshot.
pub fn fixture_snapshot() -> Snapshot {
    Snapshot::load(&[super::fixture("cluster")]).unwrap()
}

/// A config for loopback port 0; `tweak` adjusts it.
pub fn config(files: &secretgate::app::certs::Generated, view: ViewSource) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsFiles { cert: files.cert.clone(), key: files.key.clone(), client_ca: None },
        tls_reload_interval: Duration::from_millis(100),
        policy: Policy::default(),
        policy_source: None,
        config_reload_interval: Duration::from_millis(100),
        view,
        confirm_timeout: Duration::from_secs(2),
        max_body_bytes: 8 * 1024 * 1024,
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(120),
        body_read_timeout: Duration::from_secs(10),
        shutdown_grace_period: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(25),
        max_connections: 10_000,
        max_in_flight_bytes: 48 * 1024 * 1024,
        events: Some(secretgate::app::serve::EventsConfig {
            limits: secretgate::cluster::EventLimits {
                dedup_window: Duration::from_secs(600),
                per_second: 50,
                timeout: Duration::from_millis(500),
            },
            instance: "test".into(),
        }),
        registration: None,
        audit: None,
    }
}

/// Start a server on the fixture snapshot.
pub async fn start_snapshot_server(tweak: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let (dir, files) = certificates();
    let mut cfg = config(&files, ViewSource::Snapshot(Box::new(fixture_snapshot())));
    tweak(&mut cfg);
    let running = start(cfg).await.unwrap_or_else(|e| panic!("server did not start: {}", e.message));
    TestServer { running, ca: std::fs::read(&files.ca).unwrap(), dir }
}

impl TestServer {
    /// Path of a file in the certificate directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
