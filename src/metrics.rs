//! Prometheus metrics (contract §6). One [`Registry`] passed explicitly; every
//! label value comes from a fixed set (`&'static str` from enums), never from
//! object names, namespaces or error text.

mod audit;

pub use audit::AuditMetrics;

use prometheus::{Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::admission::Summary;
use crate::policy::RuleId;

/// Buckets for admission latency: 100 µs to 5 s (webhook timeouts top out at 30 s).
const DURATION_BUCKETS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The `code` label values of `secretgate_http_errors_total`.
const HTTP_ERROR_CODES: [&str; 6] = ["400", "404", "405", "408", "413", "other"];

/// The `outcome` label values of `secretgate_events_total`.
const EVENT_OUTCOMES: [&str; 5] = ["sent", "deduplicated", "rate_limited", "dropped", "failed"];

/// The `step` label values of `secretgate_lifecycle_errors_total`.
pub const LIFECYCLE_STEPS: [&str; 4] = ["ca", "leaf", "register", "namespace"];

/// Every metric secretgate exports.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    violations: IntCounterVec,
    cluster_objects: GaugeVec,
    cluster_ready: IntGauge,
    cert_expiry: Gauge,
    tls_reloads: IntCounterVec,
    config_reloads: IntCounterVec,
    config_loaded: Gauge,
    confirmations: IntCounterVec,
    http_errors: IntCounterVec,
    events: IntCounterVec,
    registered: IntGauge,
    lifecycle_errors: IntCounterVec,
    /// The audit's series.
    pub audit: AuditMetrics,
}

/// How a confirming GET ended (a label value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The object exists after all (informer lag).
    Found,
    /// The API server confirmed it is absent.
    Absent,
    /// The GET failed; the cached answer stands.
    Error,
}

impl Confirmation {
    fn as_str(self) -> &'static str {
        match self {
            Confirmation::Found => "found",
            Confirmation::Absent => "absent",
            Confirmation::Error => "error",
        }
    }
}

impl Metrics {
    /// Create and register every metric in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("secretgate_admission_requests_total", "Admission reviews answered."),
            &["webhook", "kind", "operation", "decision"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "secretgate_admission_duration_seconds",
                "Time to answer one review, from body read to answer.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["webhook"],
        )
        .expect("valid metric");
        let violations = IntCounterVec::new(
            Opts::new("secretgate_rule_violations_total", "Rule violations, by the action that handled them."),
            &["rule", "action"],
        )
        .expect("valid metric");
        let cluster_objects =
            GaugeVec::new(Opts::new("secretgate_cluster_objects", "Objects in the cluster view."), &["kind"])
                .expect("valid metric");
        let cluster_ready =
            IntGauge::new("secretgate_cluster_ready", "1 once the cluster view is synced.").expect("valid metric");
        let cert_expiry = Gauge::new(
            "secretgate_tls_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, seconds since the Unix epoch.",
        )
        .expect("valid metric");
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "secretgate_config_reloads_total",
                "Attempts to load a changed --config policy file (failure: refused, the last good policy serves).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let config_loaded = Gauge::new(
            "secretgate_config_last_reload_success_timestamp_seconds",
            "When the policy in force was loaded (Unix time).",
        )
        .expect("valid metric");
        let tls_reloads = IntCounterVec::new(
            Opts::new("secretgate_tls_reloads_total", "Attempts to load a changed serving certificate."),
            &["outcome"],
        )
        .expect("valid metric");
        let confirmations = IntCounterVec::new(
            Opts::new("secretgate_cluster_confirmations_total", "Live GETs that confirmed a cache miss."),
            &["kind", "result"],
        )
        .expect("valid metric");
        let http_errors = IntCounterVec::new(
            Opts::new("secretgate_http_errors_total", "Webhook requests answered with an HTTP error."),
            &["code"],
        )
        .expect("valid metric");
        let events = IntCounterVec::new(
            Opts::new("secretgate_events_total", "Event intents for controller-owned Pods, by what became of them."),
            &["outcome"],
        )
        .expect("valid metric");
        let registered = IntGauge::new(
            "secretgate_webhooks_registered",
            "1 while this server sees its webhook configurations as specified (registered by the server \
             once ready); 0 before, when withdrawn, or with nothing to register.",
        )
        .expect("valid metric");
        let lifecycle_errors = IntCounterVec::new(
            Opts::new(
                "secretgate_lifecycle_errors_total",
                "Failed steps of the managed CA (ca), serving certificate (leaf), webhook registration \
                 (register) and release-namespace check (namespace).",
            ),
            &["step"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(violations.clone()),
            Box::new(cluster_objects.clone()),
            Box::new(cluster_ready.clone()),
            Box::new(cert_expiry.clone()),
            Box::new(tls_reloads.clone()),
            Box::new(config_reloads.clone()),
            Box::new(config_loaded.clone()),
            Box::new(confirmations.clone()),
            Box::new(http_errors.clone()),
            Box::new(events.clone()),
            Box::new(registered.clone()),
            Box::new(lifecycle_errors.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        let audit = AuditMetrics::register(&registry);
        let metrics = Metrics {
            audit,
            registry,
            requests,
            duration,
            violations,
            cluster_objects,
            cluster_ready,
            cert_expiry,
            tls_reloads,
            config_reloads,
            config_loaded,
            confirmations,
            http_errors,
            events,
            registered,
            lifecycle_errors,
        };
        metrics.initialise_series();
        metrics
    }

    /// Create every fixed-label series at zero, so dashboards and alerts
    /// see them before the first event.
    fn initialise_series(&self) {
        for rule in RuleId::ALL {
            for action in ["deny", "warn", "audit", "exempt"] {
                self.violations.with_label_values(&[rule.as_str(), action]);
            }
        }
        for outcome in ["success", "failure"] {
            self.tls_reloads.with_label_values(&[outcome]);
            self.config_reloads.with_label_values(&[outcome]);
        }
        for webhook in ["validate", "mutate"] {
            self.duration.with_label_values(&[webhook]);
        }
        for code in HTTP_ERROR_CODES {
            self.http_errors.with_label_values(&[code]);
        }
        for outcome in EVENT_OUTCOMES {
            self.events.with_label_values(&[outcome]);
        }
        for step in LIFECYCLE_STEPS {
            self.lifecycle_errors.with_label_values(&[step]);
        }
        for kind in ["Secret", "ServiceAccount", "Namespace"] {
            for result in [Confirmation::Found, Confirmation::Absent, Confirmation::Error] {
                self.confirmations.with_label_values(&[kind, result.as_str()]);
            }
        }
    }

    /// Record one answered review and how long it took.
    pub fn record(&self, summary: &Summary, seconds: f64) {
        let webhook = summary.webhook.as_str();
        self.requests
            .with_label_values(&[webhook, summary.kind.as_str(), summary.operation, summary.outcome.as_str()])
            .inc();
        self.duration.with_label_values(&[webhook]).observe(seconds);
        for (rule, action) in &summary.tally {
            self.violations.with_label_values(&[rule.as_str(), action.as_str()]).inc();
        }
    }

    /// Record a request that could not be reviewed (HTTP 4xx).
    pub fn record_http_error(&self, code: u16) {
        let code = HTTP_ERROR_CODES.into_iter().find(|c| *c == code.to_string()).unwrap_or("other");
        self.http_errors.with_label_values(&[code]).inc();
    }

    /// Record what became of an Event intent (one of [`EVENT_OUTCOMES`]).
    pub fn record_event(&self, outcome: &'static str) {
        debug_assert!(EVENT_OUTCOMES.contains(&outcome));
        self.events.with_label_values(&[outcome]).inc();
    }

    /// Record a TLS reload attempt.
    pub fn record_tls_reload(&self, success: bool) {
        self.tls_reloads.with_label_values(&[if success { "success" } else { "failure" }]).inc();
    }

    /// Record an attempt to load a changed policy file.
    pub fn record_config_reload(&self, success: bool) {
        self.config_reloads.with_label_values(&[if success { "success" } else { "failure" }]).inc();
    }

    /// Set when the policy in force was loaded.
    pub fn set_config_loaded(&self, unix: i64) {
        self.config_loaded.set(unix as f64);
    }

    /// Set the serving certificate's expiry.
    pub fn set_cert_expiry(&self, not_after_unix: i64) {
        self.cert_expiry.set(not_after_unix as f64);
    }

    /// Whether the webhook configurations are registered as specified.
    pub fn set_registered(&self, registered: bool) {
        self.registered.set(i64::from(registered));
    }

    /// Count a failed lifecycle step (one of [`LIFECYCLE_STEPS`]).
    pub fn record_lifecycle_error(&self, step: &'static str) {
        debug_assert!(LIFECYCLE_STEPS.contains(&step));
        self.lifecycle_errors.with_label_values(&[step]).inc();
    }

    /// Record a confirming GET.
    pub fn record_confirmation(&self, kind: &'static str, result: Confirmation) {
        self.confirmations.with_label_values(&[kind, result.as_str()]).inc();
    }

    /// Set the cluster view's size and readiness (called at scrape time).
    pub fn set_cluster(&self, ready: bool, counts: &[(&'static str, usize)]) {
        self.cluster_ready.set(i64::from(ready));
        for (kind, count) in counts {
            self.cluster_objects.with_label_values(&[kind]).set(*count as f64);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding never fails");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{KindLabel, Outcome, Webhook};
    use crate::policy::Action;

    #[test]
    fn every_contract_metric_is_exported() {
        let m = Metrics::new();
        m.record(
            &Summary {
                webhook: Webhook::Validate,
                kind: KindLabel::Secret,
                operation: "CREATE",
                outcome: Outcome::Denied,
                tally: vec![(RuleId::SecretKeys, Action::Deny)],
                warnings: 0,
                checked: true,
                unknown: 0,
            },
            0.002,
        );
        m.set_cluster(true, &[("Secret", 3), ("ServiceAccount", 1)]);
        m.set_cert_expiry(1_900_000_000);
        m.record_tls_reload(true);
        let text = m.render();
        for needle in [
            r#"secretgate_admission_requests_total{decision="denied",kind="Secret",operation="CREATE",webhook="validate"} 1"#,
            r#"secretgate_admission_duration_seconds_bucket{webhook="validate",le="0.0025"} 1"#,
            r#"secretgate_rule_violations_total{action="deny",rule="secret-keys"} 1"#,
            r#"secretgate_rule_violations_total{action="warn",rule="pod-envfrom-names"} 0"#,
            r#"secretgate_cluster_objects{kind="Secret"} 3"#,
            "secretgate_cluster_ready 1",
            "secretgate_tls_certificate_expiry_timestamp_seconds 1900000000",
            r#"secretgate_tls_reloads_total{outcome="success"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle}\n{text}");
        }
    }
}
