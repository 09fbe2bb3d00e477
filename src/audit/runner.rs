//! The server's background audit: a pass every interval, by the one replica
//! that holds the audit Lease (kube-lease-manager: server-side apply on a
//! `coordination.k8s.io` Lease; another replica takes over when the holder
//! stops renewing), spread over up to half the interval at no more than the
//! listing rate, then reports and metrics.

use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;

use super::live::{self, Listing, Observer, Stopped};
use super::publish::{self, PublishError};
use super::reports::{self, ReportApi};
use super::scan::Scan;
use crate::admission::Admission;
use crate::metrics::Metrics;
use crate::policy::Inventory;

/// Seconds a Lease is valid after its last renewal.
const LEASE_SECONDS: u64 = 30;
/// Renew this long before the Lease expires.
const LEASE_GRACE_SECONDS: u64 = 10;

/// The background audit's settings.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Time from the start of one pass to the start of the next.
    pub interval: Duration,
    /// How to list.
    pub listing: Listing,
    /// Where reports go (`None`: metrics and logs only).
    pub reports: Option<ReportApi>,
    /// The reports' name.
    pub report_name: String,
    /// A ValidatingWebhookConfiguration that owns the reports (deleted with it).
    pub report_owner: Option<String>,
    /// The Lease: (namespace, name); `None` runs without one (one replica).
    pub lease: Option<(String, String)>,
    /// This replica's identity in the Lease.
    pub identity: String,
}

/// Start the audit; it ends when `shutdown` turns true.
pub fn spawn(
    client: Client,
    policy: Admission,
    config: AuditConfig,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        metrics.audit.set_interval(config.interval.as_secs_f64());
        let (leader, lease_task) = match &config.lease {
            Some((namespace, name)) => match lease(&client, namespace, name, &config.identity).await {
                Ok((leader, task)) => (leader, Some(task)),
                Err(e) => {
                    tracing::error!(lease = %name, %namespace, error = %e, "Audit off: the audit Lease cannot be used (check the RBAC on leases)");
                    return;
                }
            },
            None => {
                tracing::warn!("Audit runs without a Lease (no --namespace): run one replica, or set --namespace");
                (watch::channel(true).1, None)
            }
        };
        Audit { client, policy, config, metrics, shutdown, leader }.run().await;
        // every receiver is gone: the manager releases the Lease for another replica to take
        if let Some(task) = lease_task {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    })
}

async fn lease(
    client: &Client,
    namespace: &str,
    name: &str,
    identity: &str,
) -> Result<(watch::Receiver<bool>, LeaseTask), kube_lease_manager::LeaseManagerError> {
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        // one field manager per replica: a second claimant's apply must conflict
        .with_field_manager(format!("secretgate-audit-{identity}"))
        .build()
        .await?;
    // the manager renews in its own task; dropping every receiver releases the Lease
    Ok(manager.watch().await)
}

type LeaseTask =
    tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>;

struct Audit {
    client: Client,
    /// The server's policy: each pass takes the one in force when it starts (reloads included).
    policy: Admission,
    config: AuditConfig,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    leader: watch::Receiver<bool>,
}

impl Audit {
    async fn run(mut self) {
        let mut warned_missing_api = false;
        let mut last_counts = live::Counts::new();
        loop {
            // wait to lead (or to stop)
            while !*self.leader.borrow_and_update() {
                self.metrics.audit.set_leader(false);
                tokio::select! {
                    changed = self.leader.changed() => if changed.is_err() { return },
                    _ = self.shutdown.changed() => return,
                }
            }
            self.metrics.audit.set_leader(true);
            let started = Instant::now();
            tracing::info!(interval = ?self.config.interval, "Audit pass starting");
            let mut scan = Scan::new(self.policy.policy(), Inventory::default(), crate::app::now_unix());
            let mut observer = Watching { leader: self.leader.clone(), shutdown: self.shutdown.clone() };
            let last_total = (!last_counts.is_empty()).then(|| last_counts.values().sum());
            let listing = Listing { rate: Some(spread_rate(&self.config, last_total)), ..self.config.listing.clone() };
            match live::scan_cluster(&self.client, &mut scan, &listing, &mut observer, &last_counts).await {
                Ok(counts) => {
                    let outcome = scan.finish();
                    last_counts = counts;
                    let seconds = started.elapsed().as_secs_f64();
                    tracing::info!(
                        summary = %super::output::summary_line(&outcome),
                        seconds = format!("{seconds:.1}"),
                        "Audit pass complete"
                    );
                    self.metrics.audit.record_pass(&outcome, seconds, crate::app::now_unix());
                    if let Some(api) = self.config.reports {
                        let desired = reports::build(&outcome, api, &self.config.report_name, crate::app::now_unix());
                        self.publish(api, &desired, &mut warned_missing_api).await;
                    }
                }
                Err(Stopped::Cancelled) => {
                    tracing::info!("Audit pass called off (Lease lost or shutting down)");
                    self.metrics.audit.record_unfinished("cancelled");
                }
                Err(Stopped::Failed(reason)) => {
                    tracing::warn!(%reason, "Audit pass failed; the next starts after the interval");
                    self.metrics.audit.record_unfinished("failure");
                }
            }
            let next = tokio::time::Instant::from_std(started + self.config.interval);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.shutdown.changed() => return,
            }
        }
    }

    async fn publish(
        &self,
        api: ReportApi,
        desired: &std::collections::BTreeMap<String, serde_json::Value>,
        warned: &mut bool,
    ) {
        let owner = match &self.config.report_owner {
            Some(name) => match publish::webhook_owner(&self.client, name).await {
                Ok(owner) => Some(owner),
                Err(e) => {
                    tracing::warn!(configuration = %name, error = %e, "Audit reports written without an owner: they outlive an uninstall");
                    None
                }
            },
            None => None,
        };
        match publish::publish(&self.client, api, &self.config.report_name, desired, owner.as_ref()).await {
            Ok(done) => {
                self.metrics.audit.record_reports("written", done.written);
                self.metrics.audit.record_reports("unchanged", done.unchanged);
                self.metrics.audit.record_reports("deleted", done.deleted);
                self.metrics.audit.record_reports("failed", done.failed.len());
                for reason in &done.failed {
                    tracing::warn!(%reason, "Audit report not written");
                }
                tracing::debug!(
                    written = done.written,
                    unchanged = done.unchanged,
                    deleted = done.deleted,
                    "Audit reports"
                );
            }
            Err(PublishError::NotInstalled(api)) => {
                if !*warned {
                    tracing::warn!(%api, "Audit reports not written: the API is not served (install the chart's CRDs, or pass --audit-reports off); findings stay in metrics and logs");
                    *warned = true;
                }
            }
            Err(PublishError::Failed(reason)) => {
                self.metrics.audit.record_reports("failed", 1);
                tracing::warn!(%reason, "Audit reports not written");
            }
        }
    }
}

/// The slowest pace that ends a pass within half the interval, judged by the
/// last pass's size, and never more than `--audit-rate` (the first pass, with
/// nothing to judge by, runs at it); at least [`MIN_RATE`] objects per second.
pub fn spread_rate(config: &AuditConfig, last_total: Option<u64>) -> f64 {
    let ceiling = config.listing.rate.unwrap_or(f64::INFINITY);
    match last_total {
        None => ceiling,
        Some(total) => {
            let half = (config.interval.as_secs_f64() / 2.0).max(1.0);
            (total as f64 / half).max(MIN_RATE).min(ceiling)
        }
    }
}

/// Objects per second below which a pass is not slowed further.
pub const MIN_RATE: f64 = 50.0;

/// Calls a pass off when the Lease is lost or the server stops.
struct Watching {
    leader: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
}

impl Observer for Watching {
    fn listed(&mut self, kind: &str, count: u64) {
        tracing::debug!(kind, count, "Audit listed");
    }

    fn cancelled(&self) -> bool {
        !*self.leader.borrow() || *self.shutdown.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(interval_s: u64, rate: f64) -> AuditConfig {
        AuditConfig {
            interval: Duration::from_secs(interval_s),
            listing: Listing { page_size: 250, rate: Some(rate), namespace: None, skip: vec![], secret_values: true },
            reports: None,
            report_name: "secretgate".into(),
            report_owner: None,
            lease: None,
            identity: "test".into(),
        }
    }

    #[test]
    fn a_pass_is_spread_over_half_the_interval_within_the_rate() {
        let hourly = config(3600, 500.0);
        assert_eq!(spread_rate(&hourly, None), 500.0, "the first pass runs at --audit-rate");
        // 180k objects over 30 minutes: 100 per second
        assert_eq!(spread_rate(&hourly, Some(180_000)), 100.0);
        // a huge cluster is not listed faster than --audit-rate
        assert_eq!(spread_rate(&hourly, Some(10_000_000)), 500.0);
        // a small one is not crawled at a few objects per second
        assert_eq!(spread_rate(&hourly, Some(100)), MIN_RATE);
        assert_eq!(spread_rate(&config(2, 500.0), Some(20)), MIN_RATE);
    }
}
