//! Command-line flags (clap derive). Every flag also reads an environment
//! variable `SECRETGATE_<FLAG>`. The policy file is parsed in [`policy_file`].

pub mod audit;
pub mod policy_file;
pub mod reload;

pub use audit::{AuditArgs, AuditOutputArg, ReportApiArg, ServeAuditArgs};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// secretgate: a Kubernetes admission webhook that enforces Secret policy.
#[derive(Debug, Parser)]
#[command(name = "secretgate", version, propagate_version = true)]
#[command(after_help = "Every flag also reads an environment variable SECRETGATE_<FLAG>, e.g. SECRETGATE_LOG_LEVEL.")]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook server: HTTPS /validate and /mutate, plain-HTTP /livez, /readyz, /metrics.
    ///
    /// Without --cluster it reads the live cluster (in-cluster config, else kubeconfig).
    /// Try it locally with `secretgate serve --dev`.
    Serve(Box<ServeArgs>),
    /// Dry-run one admission request offline, exactly as the server would answer it.
    ///
    /// FILE (or - for stdin) holds, as JSON or YAML, an AdmissionReview with a
    /// request, or a plain manifest for which a CREATE request is synthesised
    /// (an UPDATE with --old). The answer is printed on stdout. Exit status:
    /// 0 allowed, 1 denied, 2 unusable input or flags.
    Review(ReviewArgs),
    /// Run declarative test suites (secretgate-test.yaml): inputs, policy, cluster snapshot and
    /// the expected answer of each case. Exit status: 0 every case passed, 1 some failed, 2
    /// unusable suites or flags.
    Test(TestArgs),
    /// Write a CA and a serving certificate for local use (ca.crt, tls.crt, tls.key).
    Certs(CertsArgs),
    /// Check an installation through the API server: server-side dry runs (nothing is stored)
    /// that secretgate must deny or warn about. Exit status: 0 all answered by secretgate,
    /// 1 some not, 2 no API server. `helm test` runs it.
    Probe(ProbeArgs),
    /// Find what is already wrong in a cluster: every rule that applies to an object at rest,
    /// over the live cluster (kubeconfig) or snapshot files (--cluster). Findings are sorted by
    /// namespace, kind and name, never show a value. Exit status: 0 no finding that a rule
    /// denies, 1 some (or any finding, with --fail-on-warning), 2 unusable flags or cluster.
    Audit(AuditArgs),
}

/// `secretgate test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files, or directories searched recursively for secretgate-test.yaml.
    #[arg(value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<std::path::PathBuf>,
    /// The policy (--config or --values) and cluster snapshot (--cluster) of the suites that
    /// do not name their own.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Run only the cases whose `suite/case` name matches this regular expression.
    #[arg(long, env = "SECRETGATE_RUN", value_name = "REGEX")]
    pub run: Option<String>,
    /// Write a JUnit XML report here (for CI systems).
    #[arg(long, env = "SECRETGATE_JUNIT", value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
}

/// `secretgate probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Namespace of the dry runs; it must not be skipped by the webhooks [default: the
    /// kubeconfig's or the Pod's namespace].
    #[arg(long, env = "SECRETGATE_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Time for each dry run.
    #[arg(long, env = "SECRETGATE_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Logging flags, shared by every subcommand.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log filter, e.g. `info` or `secretgate=debug,kube=warn` [default: info for serve, warn otherwise]
    #[arg(long, env = "SECRETGATE_LOG_LEVEL", global = true, value_name = "FILTER", help_heading = "Global options")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, env = "SECRETGATE_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text, help_heading = "Global options")]
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// The policy and the cluster state it reads.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Policy configuration file (YAML); without it the built-in defaults apply.
    #[arg(long, env = "SECRETGATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The chart's values file instead of --config: its `policy` key, exactly what the chart
    /// renders into the server's ConfigMap, so CI tests the policy the cluster runs.
    #[arg(long, env = "SECRETGATE_VALUES", value_name = "FILE", conflicts_with = "config")]
    pub values: Option<PathBuf>,
    /// Cluster state for lookups: a file or a directory of *.yaml|*.yml|*.json holding
    /// Namespaces, ServiceAccounts and Secrets. Repeatable (comma-separated in the environment).
    #[arg(long, env = "SECRETGATE_CLUSTER", value_name = "PATH", value_delimiter = ',')]
    pub cluster: Vec<PathBuf>,
}

/// `secretgate review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Inputs: files, directories (recursively: *.yaml, *.yml, *.json) or `-` for stdin
    /// (e.g. `helm template`), holding manifests (multi-document YAML, `kind: List`) or
    /// AdmissionReviews. Each object is one request.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Which webhook answers.
    #[arg(long, env = "SECRETGATE_WEBHOOK", value_enum, default_value_t = WebhookArg::Validate)]
    pub webhook: WebhookArg,
    /// Policy and cluster state.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The existing object: makes the synthesised request an UPDATE (manifests only).
    #[arg(long, env = "SECRETGATE_OLD", value_name = "FILE")]
    pub old: Option<PathBuf>,
    /// Namespace for a manifest without metadata.namespace [default: default].
    #[arg(long, env = "SECRETGATE_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The requester's user name, as in `request.userInfo` (manifests only): exemptions match
    /// it [default: secretgate-review].
    #[arg(id = "as", long = "as", env = "SECRETGATE_AS", value_name = "USER")]
    pub as_user: Option<String>,
    /// A group of the requester (repeatable; manifests only): exemptions match it.
    #[arg(
        id = "as-group",
        long = "as-group",
        env = "SECRETGATE_AS_GROUP",
        value_name = "GROUP",
        value_delimiter = ','
    )]
    pub as_groups: Vec<String>,
    /// Also print, on stderr, for each object: every setting in force with where it came from
    /// (default, policy file, or an override), the overrides and exemptions that applied, and
    /// what each rule did. Stdout is unchanged.
    #[arg(long, env = "SECRETGATE_EXPLAIN")]
    pub explain: bool,
    /// How answers are shown: `review` (the AdmissionReview, as the server answers), `text`
    /// (a line per object and per finding, and a summary), `json`, or `patched` (the Pods as
    /// the mutating webhook leaves them, YAML) [default: review for one input, text for more].
    #[arg(long, short = 'o', env = "SECRETGATE_OUTPUT", value_enum)]
    pub output: Option<OutputArg>,
    /// Exit 1 when any answer carries a warning, not only on a denial.
    #[arg(long, env = "SECRETGATE_FAIL_ON_WARNING")]
    pub fail_on_warning: bool,
    /// Exit 1 when a rule could not decide because a lookup is unknown (no --cluster given).
    #[arg(long, env = "SECRETGATE_FAIL_ON_UNKNOWN")]
    pub fail_on_unknown: bool,
}

/// `--output` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// The AdmissionReview answers.
    Review,
    /// A line per object and finding, and a summary.
    Text,
    /// One JSON document with every result and the summary.
    Json,
    /// The Pods as the mutating webhook leaves them (YAML).
    Patched,
}

/// `--webhook` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WebhookArg {
    /// The validating webhook.
    Validate,
    /// The mutating webhook.
    Mutate,
}

impl From<WebhookArg> for crate::admission::Webhook {
    fn from(arg: WebhookArg) -> Self {
        match arg {
            WebhookArg::Validate => crate::admission::Webhook::Validate,
            WebhookArg::Mutate => crate::admission::Webhook::Mutate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_reads_an_environment_variable() {
        fn check(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                if arg.is_positional() || ["help", "version"].contains(&arg.get_id().as_str()) {
                    continue;
                }
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                let want = format!("SECRETGATE_{}", arg.get_id().as_str().to_uppercase().replace('-', "_"));
                assert_eq!(env.as_deref(), Some(want.as_str()), "flag --{} of {}", arg.get_id(), cmd.get_name());
            }
            cmd.get_subcommands().for_each(check);
        }
        check(&Cli::command());
    }
}

/// `secretgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTPS address of the webhook endpoints [default: 0.0.0.0:8443; 127.0.0.1:8443 with --dev].
    #[arg(long, env = "SECRETGATE_LISTEN", value_name = "ADDR", value_parser = socket_addr)]
    pub listen: Option<SocketAddr>,
    /// Plain-HTTP address of /livez, /readyz and /metrics [default: 0.0.0.0:8080; 127.0.0.1:8080 with --dev].
    #[arg(long, env = "SECRETGATE_ADMIN_LISTEN", value_name = "ADDR", value_parser = socket_addr)]
    pub admin_listen: Option<SocketAddr>,
    /// TLS.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// A managed CA and the webhook registration.
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    /// Policy and cluster state (without --cluster: the live cluster).
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// How often the --config (or --values) file is checked for a change; a changed policy
    /// applies to new requests without a restart (a broken one is refused and logged).
    #[arg(long, env = "SECRETGATE_CONFIG_RELOAD_INTERVAL", value_name = "DURATION", default_value = "5s", value_parser = interval)]
    pub config_reload_interval: Duration,
    /// How much of each Secret the live view receives: `keys` (values dropped on arrival)
    /// or `metadata` (no value ever reaches the process; key-level checks report unknown).
    #[arg(long, env = "SECRETGATE_SECRET_VIEW", value_enum, default_value_t = SecretViewArg::Keys)]
    pub secret_view: SecretViewArg,
    /// Time for one live GET that confirms a cache miss before a denial.
    #[arg(long, env = "SECRETGATE_CONFIRM_TIMEOUT", value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub confirm_timeout: Duration,
    /// Larger request bodies get HTTP 413.
    #[arg(long, env = "SECRETGATE_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time for a client to send a request's headers.
    #[arg(long, env = "SECRETGATE_HEADER_READ_TIMEOUT", value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Close a connection with no request in flight for this long. Longer than the API
    /// server's own 90 s idle timeout, so that it closes first and never races the close.
    #[arg(long, env = "SECRETGATE_IDLE_TIMEOUT", value_name = "DURATION", default_value = "120s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Time for a client to send a request body (HTTP 408 after).
    #[arg(long, env = "SECRETGATE_BODY_READ_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// Close a connection whose answers cannot be sent (no byte moves) for this long.
    #[arg(long, env = "SECRETGATE_STALL_TIMEOUT", value_name = "DURATION", default_value = "25s", value_parser = humantime::parse_duration)]
    pub stall_timeout: Duration,
    /// Open webhook connections at most (also kept below the open-file limit); at the cap a
    /// new connection takes the place of the one idle longest.
    #[arg(long, env = "SECRETGATE_MAX_CONNECTIONS", value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub max_connections: u32,
    /// Memory for requests in flight, in bytes: a body counts six times its size (it is
    /// decoded), an answer its size until sent. A request waits (up to 20 s, then 429)
    /// while the budget is used. Keep it below the memory limit less about 64 MiB.
    #[arg(long, env = "SECRETGATE_MAX_IN_FLIGHT_BYTES", value_name = "BYTES", default_value_t = 48 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024 * 1024..))]
    pub max_in_flight_bytes: u64,
    /// On SIGTERM/SIGINT: how long in-flight requests may take to finish.
    #[arg(long, env = "SECRETGATE_SHUTDOWN_GRACE_PERIOD", value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace_period: Duration,
    /// Record an Event on the owner (ReplicaSet, Job, ...) of a controller-made Pod for each
    /// warned or audited violation of the Pod rules, so `kubectl describe` shows it.
    #[arg(long, env = "SECRETGATE_EVENTS", value_enum, default_value_t = Toggle::On)]
    pub events: Toggle,
    /// The same Event (owner, reason, message) is recorded at most once per window.
    #[arg(long, env = "SECRETGATE_EVENT_DEDUP_WINDOW", value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub event_dedup_window: Duration,
    /// Events per second at most (bursts of twice that); the rest are dropped and counted.
    #[arg(long, env = "SECRETGATE_EVENT_RATE", value_name = "PER_SECOND", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub event_rate: u32,
    /// `reportingInstance` of recorded Events [default: the host name, i.e. the pod name].
    #[arg(long, env = "SECRETGATE_REPORTING_INSTANCE", value_name = "NAME")]
    pub reporting_instance: Option<String>,
    /// The background audit.
    #[command(flatten)]
    pub audit: ServeAuditArgs,
    /// Local trial: throw-away certificates under certs/dev, the example cluster, loopback,
    /// and a printed curl command that sends an example review.
    #[arg(long, env = "SECRETGATE_DEV")]
    pub dev: bool,
}

/// A polling interval: a duration above zero (zero would poll without pause).
fn interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be more than 0 (how often to check), e.g. 5s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// An `IP:PORT` to listen on. Host names are not resolved: say which IP.
fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let port = text.rsplit_once(':').map(|(_, p)| p).filter(|p| p.parse::<u16>().is_ok());
    Err(match port {
        Some(port) => format!(
            "expected IP:PORT; host names are not resolved: use 127.0.0.1:{port} for loopback only, 0.0.0.0:{port} for every IPv4 address, or [::]:{port} for IPv6"
        ),
        None => "expected IP:PORT, e.g. 0.0.0.0:8443 or 127.0.0.1:8443".into(),
    })
}

/// TLS flags of `serve`.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM serving certificate chain, leaf first (re-read when it changes).
    #[arg(long, env = "SECRETGATE_TLS_CERT_FILE", value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "SECRETGATE_TLS_KEY_FILE", value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: when set, clients must present a certificate they signed.
    #[arg(long, env = "SECRETGATE_TLS_CLIENT_CA_FILE", value_name = "PATH")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// How often the TLS files are checked for a rotation.
    #[arg(long, env = "SECRETGATE_TLS_RELOAD_INTERVAL", value_name = "DURATION", default_value = "10s", value_parser = interval)]
    pub tls_reload_interval: Duration,
}

/// Managed TLS and webhook registration flags of `serve` (live cluster only).
#[derive(Debug, Args)]
#[command(next_help_heading = "Managed CA and webhook registration (what the Helm chart uses)")]
pub struct LifecycleArgs {
    /// The release namespace: it holds --tls-ca-secret and --webhook-configmap, and its
    /// deletion withdraws the webhooks [default: the Pod's namespace].
    #[arg(long, env = "SECRETGATE_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Managed TLS instead of --tls-cert-file and --tls-key-file: keep a CA in this Secret of
    /// --namespace (created when missing or unusable), sign serving certificates for
    /// --tls-hosts in memory and renew them before they expire; the CA renews itself with
    /// old and new both trusted during the switch. Needs --webhook-configmap: only the
    /// server knows the caBundle.
    #[arg(long, env = "SECRETGATE_TLS_CA_SECRET", value_name = "NAME", conflicts_with_all = ["tls_cert_file", "tls_key_file"], requires = "webhook_configmap")]
    pub tls_ca_secret: Option<String>,
    /// DNS names and IP addresses of the managed serving certificate (e.g. the Service's
    /// `NAME.NAMESPACE.svc`). Repeatable (comma-separated in the environment).
    #[arg(long, env = "SECRETGATE_TLS_HOSTS", value_name = "HOST", value_delimiter = ',')]
    pub tls_hosts: Vec<String>,
    /// Validity of a managed CA; a successor is made at two thirds of it.
    #[arg(long, env = "SECRETGATE_TLS_CA_VALIDITY", value_name = "DURATION", default_value = "365d", value_parser = humantime::parse_duration)]
    pub tls_ca_validity: Duration,
    /// Validity of a managed serving certificate (never past its CA's); renewed at two thirds.
    #[arg(long, env = "SECRETGATE_TLS_LEAF_VALIDITY", value_name = "DURATION", default_value = "30d", value_parser = humantime::parse_duration)]
    pub tls_leaf_validity: Duration,
    /// How long a successor CA is in every caBundle before it starts signing.
    #[arg(long, env = "SECRETGATE_TLS_CA_OVERLAP", value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub tls_ca_overlap: Duration,
    /// Register the webhooks from this ConfigMap of --namespace (key webhooks.yaml, rendered
    /// by the chart) once the server is ready and its Service has an endpoint: before that
    /// the webhook configurations stay empty, so a server that never starts blocks nothing.
    #[arg(long, env = "SECRETGATE_WEBHOOK_CONFIGMAP", value_name = "NAME")]
    pub webhook_configmap: Option<String>,
    /// PEM CA bundle to register as the caBundle when the CA is not managed (e.g. the
    /// ca.crt of a cert-manager Secret); re-read every resync.
    #[arg(long, env = "SECRETGATE_WEBHOOK_CA_FILE", value_name = "PATH", conflicts_with = "tls_ca_secret")]
    pub webhook_ca_file: Option<PathBuf>,
    /// How often the CA Secret, the namespace and the webhook configurations are checked.
    #[arg(long, env = "SECRETGATE_RESYNC_INTERVAL", value_name = "DURATION", default_value = "10s", value_parser = interval)]
    pub resync_interval: Duration,
}

/// An on/off switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `--secret-view` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SecretViewArg {
    /// Whole Secrets; values are dropped on arrival.
    Keys,
    /// Secret metadata only.
    Metadata,
}

/// `secretgate certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Directory to write ca.crt, tls.crt and tls.key (0600) to.
    #[arg(long, env = "SECRETGATE_OUT", value_name = "DIR", default_value = "certs/dev")]
    pub out: PathBuf,
    /// DNS names of the serving certificate. Repeatable.
    #[arg(long, env = "SECRETGATE_DNS", value_name = "NAME", value_delimiter = ',', default_values_t = ["secretgate.secretgate.svc".to_string(), "localhost".to_string()])]
    pub dns: Vec<String>,
    /// IP addresses of the serving certificate. Repeatable.
    #[arg(long, env = "SECRETGATE_IP", value_name = "ADDR", value_delimiter = ',', default_values_t = [std::net::IpAddr::from([127, 0, 0, 1])])]
    pub ip: Vec<std::net::IpAddr>,
    /// Validity of the certificates, in days.
    #[arg(long, env = "SECRETGATE_DAYS", value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}
