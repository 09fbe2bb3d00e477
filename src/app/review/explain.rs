//! `secretgate review --explain`: for one reviewed object, every setting in
//! force with where its value came from (default, the policy file, or the
//! last override that set it), the overrides and exemptions that applied,
//! and what each rule did to this object.

use std::fmt::Write as _;

use super::engine::Reviewed;
use crate::policy::overrides::{Key, Labels};
use crate::policy::{Action, ClusterView, Policy, Requester, RuleId};

/// The explanation of `reviewed` under `policy`, with Namespace labels from `view`.
pub fn explain(policy: &Policy, view: &dyn ClusterView, reviewed: &Reviewed) -> String {
    let namespace = if reviewed.namespace.is_empty() { "default" } else { reviewed.namespace.as_str() };
    let summary = view.namespace(namespace);
    let labels: Option<&Labels> = summary.as_ref().map(|n| &n.labels);
    let requester = Requester { user: &reviewed.user, groups: &reviewed.groups };
    let resolved = policy.resolve(namespace, labels, Some(&requester));
    let mut out = String::new();
    let _ =
        writeln!(out, "explain: {} ({}, webhook {})", reviewed.subject(), reviewed.source, reviewed.webhook.as_str());
    let labels_text = match labels {
        Some(labels) => labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        None => "not known to the cluster view: overrides match it by name only".into(),
    };
    let _ = writeln!(out, "  namespace {namespace}: {labels_text}");
    let groups = if reviewed.groups.is_empty() { "none".to_string() } else { reviewed.groups.join(", ") };
    let _ = writeln!(out, "  requester {} (groups: {groups})", reviewed.user);
    let matched: Vec<String> = policy
        .overrides()
        .iter()
        .enumerate()
        .filter(|(_, o)| o.namespaces.matches(namespace, labels))
        .map(|(i, o)| format!("{} (overrides[{i}])", o.name))
        .collect();
    let _ = writeln!(out, "  overrides: {}", if matched.is_empty() { "none apply".into() } else { matched.join(", ") });
    let exempting: Vec<String> = policy
        .exemptions()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.applies_to(&requester))
        .map(|(i, e)| format!("{} (exemptions[{i}])", e.name))
        .collect();
    let _ = writeln!(
        out,
        "  exemptions: {}",
        if exempting.is_empty() { "none apply".into() } else { exempting.join(", ") }
    );
    if !reviewed.checked {
        let _ = writeln!(out, "  this webhook does not check this kind and operation: allowed untouched");
    }
    let lines = policy.explain(namespace, labels);
    let width = lines.iter().map(|l| l.key.path().len()).max().unwrap_or(0);
    for line in lines {
        let mut text = format!("  {:<width$}  {:<8} {}", line.key.path(), line.value, line.source);
        if let Key::Action(rule) = line.key {
            let here = effective(reviewed, &resolved, rule);
            if here != Action::parse(&line.value).unwrap_or(here) {
                let _ = write!(text, "; here {}", describe(here, &resolved, rule));
            }
            let counted = reviewed.rules.iter().filter(|(r, _)| *r == rule).count();
            if counted > 0 {
                let _ = write!(text, "; {counted} violation{}", if counted == 1 { "" } else { "s" });
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// The action a finding of `rule` gets on this object: a workload template
/// takes `workloads.action`, an exempted rule is `exempt`.
fn effective(reviewed: &Reviewed, resolved: &crate::policy::Resolved, rule: RuleId) -> Action {
    let settings = &resolved.settings;
    let template = reviewed.checked && !matches!(reviewed.kind.as_str(), "Pod" | "Secret");
    let configured = if template { settings.template_action(rule) } else { settings.action(rule) };
    resolved.action(rule, configured)
}

fn describe(action: Action, resolved: &crate::policy::Resolved, rule: RuleId) -> String {
    match (action, resolved.exemption(rule)) {
        (Action::Exempt, Some(name)) => format!("exempt by {name}"),
        (action, _) => format!("{} (workloads.action on a pod template)", action.as_str()),
    }
}
