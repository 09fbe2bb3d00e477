//! Command-line flags (clap derive). Every flag also reads an environment
//! variable `SECRETGATE_<FLAG>`. The policy file is parsed in [`policy_file`].

pub mod policy_file;

use std::path::PathBuf;

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
    /// Dry-run one admission request offline, exactly as the server would answer it.
    ///
    /// FILE (or - for stdin) holds, as JSON or YAML, an AdmissionReview with a
    /// request, or a plain manifest for which a CREATE request is synthesised
    /// (an UPDATE with --old). The answer is printed on stdout. Exit status:
    /// 0 allowed, 1 denied, 2 unusable input or flags.
    Review(ReviewArgs),
}

/// Logging flags, shared by every subcommand.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log filter, e.g. `info` or `secretgate=debug,kube=warn` [default: info for serve, warn otherwise]
    #[arg(long, env = "SECRETGATE_LOG_LEVEL", global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, env = "SECRETGATE_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
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
    /// Cluster state for lookups: a file or a directory of *.yaml|*.yml|*.json holding
    /// Namespaces, ServiceAccounts and Secrets. Repeatable (comma-separated in the environment).
    #[arg(long, env = "SECRETGATE_CLUSTER", value_name = "PATH", value_delimiter = ',')]
    pub cluster: Vec<PathBuf>,
}

/// `secretgate review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The request: an AdmissionReview or a manifest, JSON or YAML; `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
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
