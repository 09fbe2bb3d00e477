//! How `secretgate audit` shows a pass: a text report (a line per object,
//! indented lines per finding, a summary), JSON for machines, or the
//! PolicyReports the server would write. Never a value: findings carry field
//! paths and reasons only.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::scan::Outcome;
use crate::policy::Action;

/// One line: `1520 objects checked (Secret 1000, Pod 500, Deployment 20): 3 deny, 5 warn, 0 audit`.
pub fn summary_line(outcome: &Outcome) -> String {
    let total: u64 = outcome.scanned.values().sum();
    let kinds: Vec<String> = outcome.scanned.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let mut line = format!(
        "{total} objects checked ({}): {} deny, {} warn, {} audit",
        if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") },
        outcome.by_action(Action::Deny),
        outcome.by_action(Action::Warn),
        outcome.by_action(Action::Audit),
    );
    if outcome.omitted > 0 {
        line.push_str(&format!(" (and {} more past the per-object limit)", outcome.omitted));
    }
    let t = &outcome.tls;
    if t.expired + t.within_7d + t.within_30d > 0 {
        line.push_str(&format!(
            "; TLS Secrets: {} expired, {} expire within 7 days, {} within 30",
            t.expired, t.within_7d, t.within_30d
        ));
    }
    line
}

/// The text report.
pub fn text(outcome: &Outcome) -> String {
    let mut out = String::new();
    let mut last = None;
    for f in &outcome.findings {
        let s = &f.subject;
        let key = (&s.namespace, s.kind, &s.name);
        if last != Some(key) {
            out.push_str(&format!("{} {}/{}\n", s.kind, s.namespace, s.name));
            last = Some(key);
        }
        out.push_str(&format!("    {:<5} {}\n", f.action.as_str(), f.text()));
    }
    out
}

/// One JSON document: findings and the summary.
pub fn json(outcome: &Outcome) -> Value {
    let findings: Vec<Value> = outcome
        .findings
        .iter()
        .map(|f| {
            json!({
                "namespace": f.subject.namespace,
                "kind": f.subject.kind,
                "name": f.subject.name,
                "rule": f.rule.as_str(),
                "action": f.action.as_str(),
                "field": f.field,
                "message": f.message,
            })
        })
        .collect();
    let tls: BTreeMap<&str, u64> = outcome.tls.buckets().into_iter().collect();
    json!({
        "findings": findings,
        "summary": {
            "scanned": outcome.scanned,
            "deny": outcome.by_action(Action::Deny),
            "warn": outcome.by_action(Action::Warn),
            "audit": outcome.by_action(Action::Audit),
            "omitted": outcome.omitted,
            "tlsSecretsByExpiry": tls,
        }
    })
}

/// The exit status of a pass: 1 on a finding whose action is `deny` (or any
/// finding with `fail_on_warning`), else 0.
pub fn exit_status(outcome: &Outcome, fail_on_warning: bool) -> u8 {
    let deny = outcome.by_action(Action::Deny) > 0;
    let any = !outcome.findings.is_empty() || outcome.omitted > 0;
    u8::from(deny || (fail_on_warning && any))
}
