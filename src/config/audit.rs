//! Flags of the audit: `secretgate audit` and the background audit of `serve`.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::PolicyArgs;

/// `secretgate audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Policy, and the cluster to audit: with --cluster, snapshot files (Secrets, Pods,
    /// workloads, ServiceAccounts, e.g. `kubectl get secrets,serviceaccounts,pods,deployments -A
    /// -o yaml`); without it, the live cluster of the kubeconfig.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// How findings are shown: `text` (a line per object and per finding, and a summary),
    /// `json`, or `policyreports` (the reports the server would write, YAML).
    #[arg(long, short = 'o', env = "SECRETGATE_OUTPUT", value_enum, default_value_t = AuditOutputArg::Text)]
    pub output: AuditOutputArg,
    /// Exit 1 on any finding, not only on one whose rule denies.
    #[arg(long, env = "SECRETGATE_FAIL_ON_WARNING")]
    pub fail_on_warning: bool,
    /// Audit only this namespace [default: all].
    #[arg(long, env = "SECRETGATE_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Leave these namespaces out. Repeatable (comma-separated in the environment).
    #[arg(long, env = "SECRETGATE_SKIP_NAMESPACE", value_name = "NAMESPACE", value_delimiter = ',')]
    pub skip_namespace: Vec<String>,
    /// Objects per list request to the live cluster.
    #[arg(long, env = "SECRETGATE_PAGE_SIZE", value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page_size: u32,
    /// `metadata.name` of the reports printed by `--output policyreports`.
    #[arg(long, env = "SECRETGATE_REPORT_NAME", value_name = "NAME", default_value = "secretgate")]
    pub report_name: String,
    /// The report API of `--output policyreports`.
    #[arg(long, env = "SECRETGATE_REPORT_API", value_enum, default_value_t = ReportApiArg::Policyreport)]
    pub report_api: ReportApiArg,
}

/// `--output` of `audit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditOutputArg {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
    /// The PolicyReports the server would write (YAML).
    Policyreports,
}

/// Which report API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportApiArg {
    /// wgpolicyk8s.io/v1alpha2 PolicyReport (Kyverno, Kubewarden, Policy Reporter).
    Policyreport,
    /// openreports.io/v1alpha1 Report (its successor).
    Openreports,
    /// No reports: metrics and logs only.
    Off,
}

/// The background audit of `serve` (live cluster only).
#[derive(Debug, Args)]
#[command(next_help_heading = "Audit")]
pub struct ServeAuditArgs {
    /// How often the whole cluster is audited (Secrets, Pods, workloads already stored);
    /// `0` turns the audit off. One replica at a time audits, holding a Lease.
    #[arg(long, env = "SECRETGATE_AUDIT_INTERVAL", value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub audit_interval: Duration,
    /// Objects listed per second at most. A pass is spread over up to half the interval
    /// (judged by the last pass's size, at least 50/s), never faster than this: the first
    /// pass over 100k Secrets at 500/s takes 200 s, the next ones about 30 min at 1h.
    #[arg(long, env = "SECRETGATE_AUDIT_RATE", value_name = "PER_SECOND", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub audit_rate: u32,
    /// Objects per list request (memory holds one page of Secrets at a time).
    #[arg(long, env = "SECRETGATE_AUDIT_PAGE_SIZE", value_name = "N", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub audit_page_size: u32,
    /// Where findings go besides metrics and logs.
    #[arg(long, env = "SECRETGATE_AUDIT_REPORTS", value_enum, default_value_t = ReportApiArg::Policyreport)]
    pub audit_reports: ReportApiArg,
    /// `metadata.name` of the report in each namespace.
    #[arg(long, env = "SECRETGATE_AUDIT_REPORT_NAME", value_name = "NAME", default_value = "secretgate")]
    pub audit_report_name: String,
    /// A ValidatingWebhookConfiguration that owns the reports: when it is deleted (`helm
    /// uninstall`), the garbage collector deletes them.
    #[arg(long, env = "SECRETGATE_AUDIT_REPORT_OWNER", value_name = "NAME")]
    pub audit_report_owner: Option<String>,
    /// The Lease (in --namespace) that lets one replica audit at a time.
    #[arg(long, env = "SECRETGATE_AUDIT_LEASE", value_name = "NAME", default_value = "secretgate-audit")]
    pub audit_lease: String,
    /// Namespaces the audit leaves out (as the webhooks skip them). Repeatable
    /// (comma-separated in the environment).
    #[arg(long, env = "SECRETGATE_AUDIT_SKIP_NAMESPACE", value_name = "NAMESPACE", value_delimiter = ',')]
    pub audit_skip_namespace: Vec<String>,
}
