//! `secretgate serve`: wiring only. Flags become a plain [`ServeConfig`]
//! (tests build one directly), [`start`] binds and spawns everything, and
//! [`Running::shutdown`] drains it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::certs;
use crate::admission::Admission;
use crate::audit::live::Listing;
use crate::audit::reports::ReportApi;
use crate::audit::runner::AuditConfig;
use crate::cluster::{EventLimits, EventPublisher, EventSink, LiveView, SecretView, Snapshot, View};
use crate::config::policy_file;
use crate::config::reload::{PolicyReloader, PolicySource};
use crate::config::{ReportApiArg, SecretViewArg, ServeArgs, ServeAuditArgs, Toggle};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::server::admin::{self, AdminState};
use crate::server::listener::{self, ListenerLimits, Transport};

/// Connections of the admin listener at most (probes and scrapes).
const ADMIN_MAX_CONNECTIONS: usize = 256;
use crate::registration::authority::Lifetimes;
use crate::registration::{Controller, RegistrationConfig};
use crate::server::routes::{self, WebhookState};
use crate::server::tls::{TlsFiles, TlsReloader};

/// Where a Pod's namespace is written.
const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// How long the managed CA may take to load at start before the server gives up.
const BOOTSTRAP_DEADLINE: Duration = Duration::from_secs(120);

/// Where the example cluster lives in the repository.
const EXAMPLE_CLUSTER_PATH: &str = "examples/cluster/apps.yaml";
/// The example cluster shipped with the repository, embedded for `--dev`.
const EXAMPLE_CLUSTER: &str = include_str!("../../examples/cluster/apps.yaml");
/// The example review `--dev` writes next to its certificates for curl.
const EXAMPLE_REVIEW: &str = include_str!("../../examples/requests/secret-review-v1.json");
/// Where `--dev` writes its certificates.
const DEV_DIR: &str = "certs/dev";

/// Where the cluster view comes from.
pub enum ViewSource {
    /// A static snapshot.
    Snapshot(Box<Snapshot>),
    /// The live cluster.
    Live {
        /// A configured client.
        client: kube::Client,
        /// How much of each Secret is received.
        secret_view: SecretView,
    },
}

/// Everything `serve` needs, as plain data.
pub struct ServeConfig {
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Admin address.
    pub admin_listen: SocketAddr,
    /// The serving pair.
    pub tls: TlsFiles,
    /// How often the TLS files are checked.
    pub tls_reload_interval: Duration,
    /// The policy.
    pub policy: Policy,
    /// The file it came from and its bytes at start (polled for changes).
    pub policy_source: Option<(PolicySource, Vec<u8>)>,
    /// How often that file is checked.
    pub config_reload_interval: Duration,
    /// The cluster view.
    pub view: ViewSource,
    /// Time for a confirming GET.
    pub confirm_timeout: Duration,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Header read timeout (also the TLS handshake's).
    pub header_read_timeout: Duration,
    /// Idle connection timeout.
    pub idle_timeout: Duration,
    /// Body read timeout.
    pub body_read_timeout: Duration,
    /// Drain time at shutdown.
    pub shutdown_grace_period: Duration,
    /// A connection whose answers move no byte for this long is closed.
    pub stall_timeout: Duration,
    /// Webhook connections at most (before the open-file limit applies).
    pub max_connections: usize,
    /// Bytes of bodies and answers in memory at once.
    pub max_in_flight_bytes: u64,
    /// Events for controller-owned Pods: `None` when off.
    pub events: Option<EventsConfig>,
    /// A managed CA and/or webhook registration (live view only).
    pub registration: Option<RegistrationConfig>,
    /// The background audit (live view only).
    pub audit: Option<AuditConfig>,
}

/// How Events are recorded.
#[derive(Clone, Debug)]
pub struct EventsConfig {
    /// Dedup window and rate limit.
    pub limits: EventLimits,
    /// `reportingInstance`.
    pub instance: String,
}

/// A failure to start, with the exit status it deserves.
#[derive(Debug)]
pub struct StartError {
    /// 2 for flags and files the user must fix, 1 for the environment.
    pub code: u8,
    /// One line, naming the flag where there is one.
    pub message: String,
}

fn flag_error(message: impl Into<String>) -> StartError {
    StartError { code: 2, message: message.into() }
}

/// A started server.
pub struct Running {
    /// Where the webhook listens.
    pub webhook_addr: SocketAddr,
    /// Where the admin server listens.
    pub admin_addr: SocketAddr,
    /// The metrics it records.
    pub metrics: Metrics,
    shutdown: watch::Sender<bool>,
    serving: Arc<AtomicBool>,
    webhook: tokio::task::JoinHandle<()>,
    admin: tokio::task::JoinHandle<()>,
    lifecycle: Option<tokio::task::JoinHandle<()>>,
    audit: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (bounded by the grace
    /// period), stop the admin server.
    pub async fn shutdown(self) {
        self.serving.store(false, Ordering::Release);
        let _ = self.shutdown.send(true);
        if let Some(lifecycle) = self.lifecycle {
            // withdraws the webhooks first when the namespace is being deleted
            let _ = tokio::time::timeout(Duration::from_secs(5), lifecycle).await;
        }
        if let Some(audit) = self.audit {
            // releases the audit Lease, so another replica can take it over
            let _ = tokio::time::timeout(Duration::from_secs(2), audit).await;
        }
        let _ = self.webhook.await;
        let _ = self.admin.await;
    }
}

/// Run `secretgate serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("secretgate serve: could not start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let dev = args.dev;
        let cluster_note = match args.policy.cluster.as_slice() {
            [] => format!("the example snapshot {EXAMPLE_CLUSTER_PATH} (embedded)"),
            paths => {
                format!("--cluster {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
            }
        };
        let result = async {
            let config = configure(*Box::new(args)).await?;
            let running = start(config).await?;
            Ok::<_, StartError>(running)
        }
        .await;
        let running = match result {
            Ok(running) => running,
            Err(error) => {
                eprintln!("secretgate serve: {}", error.message);
                return ExitCode::from(error.code);
            }
        };
        if dev {
            print_dev_help(&running, &cluster_note);
        }
        wait_for_signal().await;
        tracing::info!("Shutting down");
        running.shutdown().await;
        tracing::info!("Stopped");
        ExitCode::SUCCESS
    })
}

/// Resolve flags (and `--dev`) into a config.
pub async fn configure(args: ServeArgs) -> Result<ServeConfig, StartError> {
    let ServeArgs {
        listen,
        admin_listen,
        tls,
        lifecycle,
        policy,
        config_reload_interval,
        secret_view,
        confirm_timeout,
        max_body_bytes,
        header_read_timeout,
        idle_timeout,
        body_read_timeout,
        stall_timeout,
        max_connections,
        max_in_flight_bytes,
        shutdown_grace_period,
        events,
        event_dedup_window,
        event_rate,
        reporting_instance,
        audit,
        dev,
    } = args;
    let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    let (listen, admin_listen) = match dev {
        true => (listen.unwrap_or(loopback(8443)), admin_listen.unwrap_or(loopback(8080))),
        false => (listen.unwrap_or(any(8443)), admin_listen.unwrap_or(any(8080))),
    };
    let audit_namespace = lifecycle.namespace.clone().or_else(pod_namespace);
    let registration = registration(lifecycle)?;
    let managed = registration.as_ref().is_some_and(|r| r.ca_secret.is_some());
    if registration.is_some() && (dev || !policy.cluster.is_empty()) {
        return Err(flag_error(
            "--tls-ca-secret and --webhook-configmap need the live cluster: not with --cluster or --dev",
        ));
    }
    let (cert, key) = match (tls.tls_cert_file, tls.tls_key_file) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if managed => (PathBuf::new(), PathBuf::new()),
        (None, None) if dev => {
            // a dev server already running keeps serving its pair: reuse one that is good for a day
            let files = match certs::reusable(Path::new(DEV_DIR), 86_400) {
                Some(files) => files,
                None => certs::generate(Path::new(DEV_DIR), &["localhost".into()], &[[127, 0, 0, 1].into()], 30)
                    .map_err(flag_error)?,
            };
            (files.cert, files.key)
        }
        (None, _) => return Err(flag_error("--tls-cert-file must be set (or try `secretgate serve --dev`)")),
        (_, None) => return Err(flag_error("--tls-key-file must be set")),
    };
    let policy_source = PolicySource::of(&policy)
        .map(|source| PolicyReloader::read(&source).map(|bytes| (source, bytes)))
        .transpose()
        .map_err(flag_error)?;
    let policy_in_force = match &policy_source {
        Some((source, bytes)) => {
            let text = std::str::from_utf8(bytes).map_err(|_| flag_error("the policy file is not UTF-8 text"))?;
            let parsed = match source {
                PolicySource::Config(path) => {
                    policy_file::parse(text).map_err(|e| format!("--config {}: {e}", path.display()))
                }
                PolicySource::Values(path) => {
                    policy_file::parse_values(text).map_err(|e| format!("--values {}: {e}", path.display()))
                }
            };
            parsed.map_err(flag_error)?
        }
        None => Policy::default(),
    };
    let view = if !policy.cluster.is_empty() {
        ViewSource::Snapshot(Box::new(
            Snapshot::load(&policy.cluster).map_err(|e| flag_error(format!("--cluster {e}")))?,
        ))
    } else if dev {
        let mut snapshot = Snapshot::default();
        snapshot
            .add_text(Path::new(EXAMPLE_CLUSTER_PATH), EXAMPLE_CLUSTER)
            .map_err(|e| flag_error(format!("the embedded example cluster: {e}")))?;
        ViewSource::Snapshot(Box::new(snapshot))
    } else {
        let client = kube::Client::try_default().await.map_err(|e| StartError {
            code: 1,
            message: format!(
                "no Kubernetes API to read the cluster from ({e}); run in a cluster, set KUBECONFIG, or pass --cluster"
            ),
        })?;
        let secret_view = match secret_view {
            SecretViewArg::Keys => SecretView::Keys,
            SecretViewArg::Metadata => SecretView::Metadata,
        };
        ViewSource::Live { client, secret_view }
    };
    let live = matches!(view, ViewSource::Live { .. });
    if let ViewSource::Snapshot(snapshot) = &view {
        for note in &snapshot.notes {
            tracing::info!(%note, "Snapshot note");
        }
    }
    Ok(ServeConfig {
        listen,
        admin_listen,
        tls: TlsFiles { cert, key, client_ca: tls.tls_client_ca_file },
        tls_reload_interval: tls.tls_reload_interval,
        policy: policy_in_force,
        policy_source,
        config_reload_interval,
        view,
        confirm_timeout,
        max_body_bytes,
        header_read_timeout,
        idle_timeout,
        body_read_timeout,
        shutdown_grace_period,
        stall_timeout,
        max_connections: max_connections as usize,
        max_in_flight_bytes,
        events: (events == Toggle::On).then(|| EventsConfig {
            limits: EventLimits {
                dedup_window: event_dedup_window,
                per_second: event_rate,
                timeout: Duration::from_secs(5),
            },
            instance: reporting_instance.unwrap_or_else(host_name),
        }),
        audit: audit_config(audit, audit_namespace, live, secret_view == SecretViewArg::Keys),
        registration,
    })
}

/// The namespace of the Pod this process runs in, if it runs in one.
fn pod_namespace() -> Option<String> {
    std::fs::read_to_string(POD_NAMESPACE_FILE).map(|ns| ns.trim().to_string()).ok().filter(|ns| !ns.is_empty())
}

/// The background audit, unless it is off or the view is a snapshot.
fn audit_config(
    args: ServeAuditArgs,
    namespace: Option<String>,
    live: bool,
    secret_values: bool,
) -> Option<AuditConfig> {
    if args.audit_interval.is_zero() || !live {
        return None;
    }
    let reports = match args.audit_reports {
        ReportApiArg::Policyreport => Some(ReportApi::PolicyReport),
        ReportApiArg::Openreports => Some(ReportApi::OpenReports),
        ReportApiArg::Off => None,
    };
    Some(AuditConfig {
        interval: args.audit_interval,
        listing: Listing {
            page_size: args.audit_page_size,
            rate: Some(f64::from(args.audit_rate)),
            namespace: None,
            skip: args.audit_skip_namespace,
            secret_values,
        },
        reports,
        report_name: args.audit_report_name,
        report_owner: args.audit_report_owner,
        lease: namespace.map(|ns| (ns, args.audit_lease)),
        identity: lease_identity(),
    })
}

/// Who holds the audit Lease: unique per process (two servers on one host, or a
/// restarted Pod, are different holders), readable in `kubectl get lease -o yaml`.
fn lease_identity() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{}-{}-{nanos:08x}", host_name(), std::process::id())
}

/// The lifecycle flags as a [`RegistrationConfig`], if any is set.
fn registration(args: crate::config::LifecycleArgs) -> Result<Option<RegistrationConfig>, StartError> {
    if args.tls_ca_secret.is_none() && args.webhook_configmap.is_none() {
        return Ok(None);
    }
    let namespace = match args.namespace {
        Some(ns) => ns,
        None => pod_namespace().ok_or_else(|| {
            flag_error("--namespace must be set outside a Pod (it holds --tls-ca-secret and --webhook-configmap)")
        })?,
    };
    let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let lifetimes = Lifetimes {
        ca: seconds(args.tls_ca_validity),
        leaf: seconds(args.tls_leaf_validity),
        overlap: seconds(args.tls_ca_overlap),
    };
    if args.tls_ca_secret.is_some() {
        lifetimes.check().map_err(flag_error)?;
        if args.tls_hosts.is_empty() {
            return Err(flag_error(
                "--tls-hosts must name the serving certificate's DNS names or IPs with --tls-ca-secret",
            ));
        }
    }
    Ok(Some(RegistrationConfig {
        namespace,
        ca_secret: args.tls_ca_secret,
        hosts: args.tls_hosts,
        lifetimes,
        webhook_configmap: args.webhook_configmap,
        ca_file: args.webhook_ca_file,
        resync: args.resync_interval,
    }))
}

/// Load the managed CA (retrying while the API server is unreachable) and
/// serve its first certificate; or load the TLS files.
async fn load_tls(
    config: &ServeConfig,
    metrics: &Metrics,
) -> Result<(Arc<TlsReloader>, Option<Controller>), StartError> {
    let (Some(registration), ViewSource::Live { client, .. }) = (&config.registration, &config.view) else {
        let tls = TlsReloader::new(config.tls.clone(), metrics.clone()).map_err(|e| flag_error(e.to_string()))?;
        return Ok((tls, None));
    };
    let deadline = tokio::time::Instant::now() + BOOTSTRAP_DEADLINE;
    let mut pause = Duration::from_secs(1);
    let (controller, leaf) = loop {
        match Controller::bootstrap(client.clone(), registration.clone(), metrics.clone()).await {
            Ok(done) => break done,
            Err(error) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(%error, retry_in = ?pause, "Could not load the managed CA");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(15));
            }
            Err(error) => {
                return Err(StartError {
                    code: 1,
                    message: format!("could not load the managed CA within {}s: {error}", BOOTSTRAP_DEADLINE.as_secs()),
                });
            }
        }
    };
    let tls = match leaf {
        Some(leaf) => TlsReloader::in_memory(
            leaf.cert.as_bytes(),
            leaf.key.as_bytes(),
            config.tls.client_ca.clone(),
            metrics.clone(),
        ),
        None => TlsReloader::new(config.tls.clone(), metrics.clone()),
    }
    .map_err(|e| flag_error(e.to_string()))?;
    Ok((tls, Some(controller)))
}

/// The host name: in a Pod, the Pod's name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "secretgate".to_string())
}

/// Load TLS (before binding), bind both ports, and spawn the servers.
pub async fn start(config: ServeConfig) -> Result<Running, StartError> {
    let metrics = Metrics::new();
    let (tls, controller) = load_tls(&config, &metrics).await?;
    let bind = |addr: SocketAddr, flag: &'static str| async move {
        TcpListener::bind(addr).await.map_err(|e| StartError { code: 1, message: format!("{flag} {addr}: {e}") })
    };
    let webhook_listener = bind(config.listen, "--listen").await?;
    let admin_listener = bind(config.admin_listen, "--admin-listen").await?;
    let webhook_addr = webhook_listener.local_addr().map_err(|e| StartError { code: 1, message: e.to_string() })?;
    let admin_addr = admin_listener.local_addr().map_err(|e| StartError { code: 1, message: e.to_string() })?;

    let mut audit_client = None;
    let (view, kind, events) = match config.view {
        ViewSource::Snapshot(snapshot) => {
            let events = if config.events.is_some() { EventSink::Log } else { EventSink::Discard };
            (View::Static(Arc::from(snapshot)), "snapshot", events)
        }
        ViewSource::Live { client, secret_view } => {
            let events = match &config.events {
                Some(events) => EventSink::Live(EventPublisher::start(
                    client.clone(),
                    events.instance.clone(),
                    events.limits,
                    metrics.clone(),
                )),
                None => EventSink::Discard,
            };
            audit_client = Some(client.clone());
            let live = LiveView::start(client, secret_view, config.confirm_timeout, metrics.clone());
            (View::Live(live), if secret_view == SecretView::Keys { "live (keys)" } else { "live (metadata)" }, events)
        }
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let reloading = tls.clone();
    crate::watched::spawn_polling(config.tls_reload_interval, shutdown_rx.clone(), move || {
        reloading.reload();
    });
    let lifecycle = controller.map(|c| c.spawn(Some(tls.clone()), view.clone(), shutdown_rx.clone()));
    let serving = Arc::new(AtomicBool::new(false));
    let admission = Admission::new(config.policy);
    if let Some((source, bytes)) = config.policy_source {
        let reloader = PolicyReloader::new(source, admission.clone(), bytes, metrics.clone());
        crate::watched::spawn_polling(config.config_reload_interval, shutdown_rx.clone(), move || {
            reloader.reload();
        });
    }
    let audit = match (config.audit, audit_client) {
        (Some(audit), Some(client)) => {
            Some(crate::audit::runner::spawn(client, admission.clone(), audit, metrics.clone(), shutdown_rx.clone()))
        }
        _ => None,
    };

    let app = routes::router(WebhookState {
        admission,
        view: view.clone(),
        metrics: metrics.clone(),
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.body_read_timeout,
        budget: crate::server::budget::Budget::new(config.max_in_flight_bytes),
        events,
    });
    let files = super::limits::raise_open_files();
    let max_connections = super::limits::connection_cap(config.max_connections, ADMIN_MAX_CONNECTIONS, files);
    let limits = ListenerLimits {
        // a client that has not finished its handshake has not sent headers either
        handshake_timeout: config.header_read_timeout,
        header_read_timeout: config.header_read_timeout,
        grace_period: config.shutdown_grace_period,
        // with 128 KiB stream windows: at most 8 MiB of unread data per connection; the
        // API server opens another connection beyond 64 requests in flight
        max_concurrent_streams: 64,
        idle_timeout: config.idle_timeout,
        stall_timeout: config.stall_timeout,
        max_connections,
    };
    let webhook = tokio::spawn(listener::serve(
        "webhook",
        webhook_listener,
        Transport::Tls(tls),
        app,
        limits,
        shutdown_rx.clone(),
    ));
    let admin_app = admin::router(AdminState { view, metrics: metrics.clone(), serving: serving.clone() });
    // probes and scrapes: few connections, the same timers
    let admin_limits = ListenerLimits { max_connections: ADMIN_MAX_CONNECTIONS, ..limits };
    let admin =
        tokio::spawn(listener::serve("admin", admin_listener, Transport::Plain, admin_app, admin_limits, shutdown_rx));
    serving.store(true, Ordering::Release);
    tracing::info!(webhook = %webhook_addr, admin = %admin_addr, view = kind, "Serving");
    Ok(Running { webhook_addr, admin_addr, metrics, shutdown, serving, webhook, admin, lifecycle, audit })
}

fn print_dev_help(running: &Running, cluster: &str) {
    let dir = std::env::current_dir().unwrap_or_default().join(DEV_DIR);
    let review: PathBuf = dir.join("example-review.json");
    if let Err(error) = std::fs::write(&review, EXAMPLE_REVIEW) {
        tracing::warn!(%error, "Could not write the example review");
    }
    let port = running.webhook_addr.port();
    println!("secretgate is serving in development mode (self-signed CA in {}, loopback only)", dir.display());
    println!("  cluster: {cluster}");
    println!("  webhook: https://127.0.0.1:{port}/validate and /mutate");
    println!("  admin:   http://{}/metrics, /readyz, /livez", running.admin_addr);
    println!("Send an example review:");
    println!(
        "  curl --cacert {} -H 'Content-Type: application/json' --data-binary @{} https://127.0.0.1:{port}/validate",
        dir.join("ca.crt").display(),
        review.display()
    );
    println!("Stop with Ctrl-C.");
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
