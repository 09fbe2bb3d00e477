//! How `review` shows its answers: the AdmissionReview itself, a text report
//! with one line per finding, JSON for machines, or the patched objects; and
//! the summary that names every kind it did not check.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::engine::Reviewed;

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The AdmissionReview answers (one JSON document each).
    Review,
    /// A line per object and per finding, then the summary.
    Text,
    /// One JSON document: every result and the summary.
    Json,
    /// The objects as the mutating webhook leaves them (YAML documents).
    Patched,
}

/// Counts over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects answered.
    pub objects: usize,
    /// Of those, checked by the webhook.
    pub checked: usize,
    /// Denied.
    pub denied: usize,
    /// Allowed with warnings.
    pub warned: usize,
    /// Changed by the mutating webhook.
    pub mutated: usize,
    /// With lookups that could not be answered.
    pub unknown: usize,
    /// Not checked, by kind.
    pub skipped: BTreeMap<String, usize>,
}

impl Tally {
    /// Count `results`.
    pub fn of(results: &[Reviewed]) -> Tally {
        let mut tally = Tally { objects: results.len(), ..Tally::default() };
        for r in results {
            if !r.checked {
                *tally.skipped.entry(r.kind.clone()).or_default() += 1;
                continue;
            }
            tally.checked += 1;
            if !r.allowed {
                tally.denied += 1;
            } else if !r.warnings.is_empty() {
                tally.warned += 1;
            }
            if r.patch.is_some() {
                tally.mutated += 1;
            }
            if r.unknown > 0 {
                tally.unknown += 1;
            }
        }
        tally
    }

    /// One line: `5 objects: 3 checked (1 denied, 1 warned); not checked: 2 ConfigMap`.
    pub fn line(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts = vec![format!("{} denied", self.denied), format!("{} warned", self.warned)];
        if self.mutated > 0 {
            parts.push(format!("{} mutated", self.mutated));
        }
        if self.unknown > 0 {
            parts.push(format!("{} with unknown lookups", self.unknown));
        }
        let mut line = format!("{}: {} checked ({})", plural(self.objects, "object"), self.checked, parts.join(", "));
        if !self.skipped.is_empty() {
            let kinds: Vec<String> = self.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
            line.push_str(&format!("; not checked by secretgate: {}", kinds.join(", ")));
        }
        line
    }
}

/// The verdict word of one result.
fn verdict(r: &Reviewed) -> &'static str {
    match (r.checked, r.allowed, r.patch.is_some(), r.warnings.is_empty()) {
        (false, ..) => "SKIPPED",
        (true, false, ..) => "DENIED",
        (true, true, true, _) => "MUTATED",
        (true, true, false, false) => "WARNED",
        (true, true, false, true) => "ALLOWED",
    }
}

/// The text report: a line per object, indented lines per finding.
pub fn text(results: &[Reviewed]) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("{:<8} {} ({})", verdict(r), r.subject(), r.source));
        if !r.checked {
            out.push_str(&format!(": the {} webhook does not check this kind", r.webhook.as_str()));
        }
        out.push('\n');
        if let Some((code, message)) = &r.denial {
            for line in message.lines() {
                out.push_str(&format!("    deny  {line}\n"));
            }
            if message.is_empty() {
                out.push_str(&format!("    deny  (HTTP {code})\n"));
            }
        }
        for warning in &r.warnings {
            out.push_str(&format!("    warn  {warning}\n"));
        }
        for (rule, summary) in &r.audit {
            out.push_str(&format!("    audit [{rule}] {summary}\n"));
        }
        if let Some(patch) = &r.patch {
            let n = patch.as_array().map_or(0, Vec::len);
            out.push_str(&format!("    patch {n} operation(s); --output patched prints the object\n"));
        }
    }
    out
}

/// One JSON document: every result and the summary.
pub fn json(results: &[Reviewed]) -> Value {
    let tally = Tally::of(results);
    let items: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "source": r.source,
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "operation": r.operation,
                "webhook": r.webhook.as_str(),
                "checked": r.checked,
                "allowed": r.allowed,
                "verdict": verdict(r).to_ascii_lowercase(),
                "denial": r.denial.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
                "warnings": r.warnings,
                "auditAnnotations": r.audit,
                "rules": r.rules.iter().map(|(rule, action)| json!({"rule": rule.as_str(), "action": action.as_str()})).collect::<Vec<_>>(),
                "unknownLookups": r.unknown,
                "patch": r.patch,
            })
        })
        .collect();
    json!({
        "results": items,
        "summary": {
            "objects": tally.objects,
            "checked": tally.checked,
            "denied": tally.denied,
            "warned": tally.warned,
            "mutated": tally.mutated,
            "unknownLookups": tally.unknown,
            "notChecked": tally.skipped,
        }
    })
}

/// The objects the mutating webhook checks (Pods), as it leaves them, as YAML
/// documents. Nothing else is printed: a Secret's values are never echoed.
pub fn patched(results: &[Reviewed]) -> Result<String, String> {
    let mut out = String::new();
    for r in results.iter().filter(|r| r.checked && r.kind == "Pod") {
        let Some(object) = &r.patched else { continue };
        let yaml = serde_saphyr::to_string(object).map_err(|e| format!("{}: {e}", r.source))?;
        out.push_str("---\n");
        out.push_str(&format!("# {} ({}): {}\n", r.subject(), r.source, verdict(r).to_ascii_lowercase()));
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
