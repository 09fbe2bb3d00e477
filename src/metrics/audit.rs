//! The audit's metrics. Only the replica holding the audit Lease exports
//! the findings, objects and TLS series (the others drop theirs), so a
//! `max()` over replicas is the cluster's answer. Labels from fixed sets:
//! rule ids, actions, kinds, expiry buckets; never a name or namespace.

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::audit::scan::Outcome;

/// The `outcome` label values of `secretgate_audit_runs_total`.
pub const RUN_OUTCOMES: [&str; 3] = ["success", "failure", "cancelled"];
/// The `outcome` label values of `secretgate_audit_reports_total`.
pub const REPORT_OUTCOMES: [&str; 4] = ["written", "unchanged", "deleted", "failed"];

/// The audit's series.
#[derive(Clone, Debug)]
pub struct AuditMetrics {
    findings: GaugeVec,
    objects: GaugeVec,
    tls: GaugeVec,
    last_success: Gauge,
    duration: Gauge,
    runs: IntCounterVec,
    reports: IntCounterVec,
    leader: IntGauge,
    interval: Gauge,
}

impl AuditMetrics {
    /// Create and register the audit's metrics in `registry`.
    pub fn register(registry: &Registry) -> Self {
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let metrics = AuditMetrics {
            findings: gauges(
                "secretgate_audit_findings",
                "Findings of the last audit pass, by rule and the action the rule has (exported by the audit's Lease holder).",
                &["rule", "action"],
            ),
            objects: gauges("secretgate_audit_objects", "Objects checked by the last audit pass, by kind.", &["kind"]),
            tls: gauges(
                "secretgate_audit_tls_secrets",
                "TLS Secrets by when their certificate expires: expired, within 7, 30 or 90 days, later (exclusive buckets).",
                &["expiry"],
            ),
            last_success: Gauge::new(
                "secretgate_audit_last_success_timestamp_seconds",
                "When the last audit pass completed, seconds since the Unix epoch.",
            )
            .expect("valid metric"),
            duration: Gauge::new("secretgate_audit_duration_seconds", "How long the last audit pass took.")
                .expect("valid metric"),
            runs: IntCounterVec::new(
                Opts::new("secretgate_audit_runs_total", "Audit passes, by how they ended."),
                &["outcome"],
            )
            .expect("valid metric"),
            reports: IntCounterVec::new(
                Opts::new("secretgate_audit_reports_total", "PolicyReport writes, by outcome."),
                &["outcome"],
            )
            .expect("valid metric"),
            leader: IntGauge::new("secretgate_audit_leader", "1 while this replica holds the audit Lease.")
                .expect("valid metric"),
            interval: Gauge::new("secretgate_audit_interval_seconds", "The audit's interval (--audit-interval).")
                .expect("valid metric"),
        };
        for collector in [
            Box::new(metrics.findings.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.objects.clone()),
            Box::new(metrics.tls.clone()),
            Box::new(metrics.last_success.clone()),
            Box::new(metrics.duration.clone()),
            Box::new(metrics.runs.clone()),
            Box::new(metrics.reports.clone()),
            Box::new(metrics.leader.clone()),
            Box::new(metrics.interval.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        for outcome in RUN_OUTCOMES {
            metrics.runs.with_label_values(&[outcome]);
        }
        for outcome in REPORT_OUTCOMES {
            metrics.reports.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Publish a completed pass.
    pub fn record_pass(&self, outcome: &Outcome, seconds: f64, finished_unix: i64) {
        self.clear();
        for ((rule, action), count) in outcome.by_rule() {
            self.findings.with_label_values(&[rule.as_str(), action.as_str()]).set(count as f64);
        }
        for (kind, count) in &outcome.scanned {
            self.objects.with_label_values(&[kind]).set(*count as f64);
        }
        for (bucket, count) in outcome.tls.buckets() {
            self.tls.with_label_values(&[bucket]).set(count as f64);
        }
        self.duration.set(seconds);
        self.last_success.set(finished_unix as f64);
        self.runs.with_label_values(&["success"]).inc();
    }

    /// The interval the audit runs at.
    pub fn set_interval(&self, seconds: f64) {
        self.interval.set(seconds);
    }

    /// Count a pass that did not complete (`failure` or `cancelled`).
    pub fn record_unfinished(&self, outcome: &'static str) {
        debug_assert!(RUN_OUTCOMES.contains(&outcome));
        self.runs.with_label_values(&[outcome]).inc();
    }

    /// Count report writes.
    pub fn record_reports(&self, outcome: &'static str, count: usize) {
        debug_assert!(REPORT_OUTCOMES.contains(&outcome));
        self.reports.with_label_values(&[outcome]).inc_by(count as u64);
    }

    /// Whether this replica holds the Lease; a replica that does not drops
    /// the series of the cluster's state (the holder exports them).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
        if !leader {
            self.clear();
        }
    }

    fn clear(&self) {
        self.findings.reset();
        self.objects.reset();
        self.tls.reset();
    }
}
