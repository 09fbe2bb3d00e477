//! `secretgate audit`: the rules over what a cluster already holds, from
//! snapshot files or the live cluster, as the server's background audit
//! runs them.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{EXIT_UNUSABLE, now_unix};
use crate::audit::files::{self, Progress};
use crate::audit::live::{self, Listing, Observer};
use crate::audit::output;
use crate::audit::reports::{self, ReportApi};
use crate::audit::scan::{Outcome, Scan};
use crate::config::{AuditArgs, AuditOutputArg, ReportApiArg, policy_file};
use crate::policy::Inventory;

/// Run `secretgate audit`.
pub fn run(args: AuditArgs) -> ExitCode {
    match audit(&args) {
        Ok(code) => ExitCode::from(code),
        Err(reason) => {
            eprintln!("secretgate audit: {reason}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

fn audit(args: &AuditArgs) -> Result<u8, String> {
    let policy = Arc::new(policy_file::from_args(&args.policy)?);
    let started = Instant::now();
    // quiet for a short pass: the first progress line comes after two seconds
    let mut progress = Throttled { last: Some(Instant::now()) };
    let outcome = if args.policy.cluster.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(live_pass(args, policy, &mut progress))?
    } else {
        let (snapshot, notes) = files::load_lookups(&args.policy.cluster)?;
        for note in notes {
            eprintln!("secretgate audit: note: {note}");
        }
        let scan = Scan::new(policy, snapshot.inventory, now_unix());
        let (only, skip) = (args.namespace.clone(), args.skip_namespace.clone());
        let wanted = move |ns: &str| only.as_deref().is_none_or(|o| o == ns) && !skip.iter().any(|s| s == ns);
        files::scan_files(&args.policy.cluster, scan, Box::new(wanted), &mut progress)?.finish()
    };
    eprintln!("secretgate audit: {} in {:.1} s", output::summary_line(&outcome), started.elapsed().as_secs_f64());
    print(args, &outcome)?;
    Ok(output::exit_status(&outcome, args.fail_on_warning))
}

async fn live_pass(
    args: &AuditArgs,
    policy: Arc<crate::policy::Policy>,
    progress: &mut Throttled,
) -> Result<Outcome, String> {
    let client = kube::Client::try_default().await.map_err(|e| {
        format!("no Kubernetes API to audit ({e}); set KUBECONFIG, or pass --cluster with snapshot files")
    })?;
    let mut scan = Scan::new(policy, Inventory::default(), now_unix());
    let listing = Listing {
        page_size: args.page_size,
        rate: None,
        namespace: args.namespace.clone(),
        skip: args.skip_namespace.clone(),
        secret_values: true,
    };
    live::scan_cluster(&client, &mut scan, &listing, progress, &live::Counts::new())
        .await
        .map_err(|e| e.to_string())?;
    Ok(scan.finish())
}

fn print(args: &AuditArgs, outcome: &Outcome) -> Result<(), String> {
    let text = match args.output {
        AuditOutputArg::Text => output::text(outcome),
        AuditOutputArg::Json => {
            let mut text = serde_json::to_string_pretty(&output::json(outcome)).map_err(|e| e.to_string())?;
            text.push('\n');
            text
        }
        AuditOutputArg::Policyreports => {
            let api = match args.report_api {
                ReportApiArg::Policyreport => ReportApi::PolicyReport,
                ReportApiArg::Openreports => ReportApi::OpenReports,
                ReportApiArg::Off => return Err("--report-api off prints nothing: choose text or json output".into()),
            };
            let mut text = String::new();
            for report in reports::build(outcome, api, &args.report_name, now_unix()).values() {
                text.push_str("---\n");
                text.push_str(&serde_saphyr::to_string(report).map_err(|e| e.to_string())?);
            }
            text
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| format!("writing the report: {e}"))
}

/// Progress lines on stderr, at most one every two seconds.
struct Throttled {
    last: Option<Instant>,
}

impl Throttled {
    fn line(&mut self, line: &str) {
        if self.last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
            return;
        }
        self.last = Some(Instant::now());
        eprintln!("secretgate audit: {line}");
    }
}

impl Progress for Throttled {
    fn note(&mut self, line: &str) {
        self.line(line);
    }
}

impl Observer for Throttled {
    fn listed(&mut self, kind: &str, count: u64) {
        self.line(&format!("listed {count} {kind}s"));
    }
}
