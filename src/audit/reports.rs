//! Findings as PolicyReports: one per namespace with findings, in the
//! `wgpolicyk8s.io/v1alpha2` format that Kyverno and Kubewarden write (and
//! Policy Reporter reads), or its successor `openreports.io/v1alpha1`
//! `Report`, which has the same fields. Every audited kind is namespaced, so
//! no cluster-scoped report is needed.
//!
//! Results: `fail` for a rule whose action is `deny` (admission would refuse
//! the object now), `warn` for `warn` and `audit`. A report keeps at most
//! [`MAX_RESULTS`] results (an object in etcd is limited to 1.5 MiB); its
//! summary counts them all.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::scan::{AuditFinding, Outcome};
use crate::policy::Action;

/// Results kept per report.
pub const MAX_RESULTS: usize = 1000;
/// The label every report of secretgate carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "secretgate");
/// Annotation: results counted in the summary but not listed.
pub const OMITTED_ANNOTATION: &str = "secretgate.io/results-omitted";

/// Which report API to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportApi {
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport`.
    PolicyReport,
    /// `openreports.io/v1alpha1` `Report`.
    OpenReports,
}

impl ReportApi {
    /// (group, version, kind, plural).
    pub fn resource(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            ReportApi::PolicyReport => ("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports"),
            ReportApi::OpenReports => ("openreports.io", "v1alpha1", "Report", "reports"),
        }
    }
}

/// The report objects for `outcome`, by namespace, named `name`.
pub fn build(outcome: &Outcome, api: ReportApi, name: &str, now_unix: i64) -> BTreeMap<String, Value> {
    let mut by_namespace: BTreeMap<&str, Vec<&AuditFinding>> = BTreeMap::new();
    for finding in &outcome.findings {
        by_namespace.entry(&finding.subject.namespace).or_default().push(finding);
    }
    let (group, version, kind, _) = api.resource();
    by_namespace
        .into_iter()
        .map(|(namespace, findings)| {
            let mut summary = json!({"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0});
            for f in &findings {
                let key = result(f.action).0;
                summary[key] = json!(summary[key].as_u64().unwrap_or(0) + 1);
            }
            let results: Vec<Value> = findings.iter().take(MAX_RESULTS).map(|f| entry(f, now_unix)).collect();
            let mut metadata = json!({
                "name": name,
                "namespace": namespace,
                "labels": {MANAGED_BY.0: MANAGED_BY.1},
            });
            if findings.len() > MAX_RESULTS {
                metadata["annotations"] = json!({OMITTED_ANNOTATION: (findings.len() - MAX_RESULTS).to_string()});
            }
            let report = json!({
                "apiVersion": format!("{group}/{version}"),
                "kind": kind,
                "metadata": metadata,
                "summary": summary,
                "results": results,
            });
            (namespace.to_string(), report)
        })
        .collect()
}

/// (result, severity) of an action.
fn result(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Deny => ("fail", "high"),
        Action::Warn => ("warn", "medium"),
        Action::Audit | Action::Off | Action::Exempt => ("warn", "low"),
    }
}

fn entry(f: &AuditFinding, now_unix: i64) -> Value {
    let (result, severity) = result(f.action);
    let s = &f.subject;
    let mut resource = json!({"apiVersion": s.api_version, "kind": s.kind, "name": s.name, "namespace": s.namespace});
    if let Some(uid) = &s.uid {
        resource["uid"] = json!(uid);
    }
    let message = match f.field.is_empty() {
        true => f.message.clone(),
        false => format!("{}: {}", f.field, f.message),
    };
    json!({
        "source": "secretgate",
        "policy": "secretgate",
        "rule": f.rule.as_str(),
        "category": "Secrets",
        "result": result,
        "severity": severity,
        "scored": true,
        "message": message,
        "timestamp": {"seconds": now_unix, "nanos": 0},
        "resources": [resource],
        "properties": {"action": f.action.as_str(), "field": f.field},
    })
}

/// Whether two reports say the same, timestamps aside (an unchanged report
/// is not written again).
pub fn same_findings(existing: &Value, desired: &Value) -> bool {
    fn strip(report: &Value) -> (Value, Value, Value) {
        let mut results = report.get("results").cloned().unwrap_or(Value::Null);
        for r in results.as_array_mut().into_iter().flatten() {
            if let Some(r) = r.as_object_mut() {
                r.remove("timestamp");
            }
        }
        let omitted = report.pointer(&format!("/metadata/annotations/{}", OMITTED_ANNOTATION.replace('/', "~1")));
        (results, report.get("summary").cloned().unwrap_or(Value::Null), omitted.cloned().unwrap_or(Value::Null))
    }
    strip(existing) == strip(desired)
}
