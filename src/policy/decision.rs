//! What the rules find, and how findings become a decision under the
//! configured actions (contract §3). No wire format here: the admission
//! adapter turns a [`Decision`] into an `AdmissionResponse`.

use std::collections::{BTreeMap, BTreeSet};

use super::rules::{Action, Denial, RuleId};

/// One thing a rule found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule that found it.
    pub rule: RuleId,
    /// Field path in upstream notation, e.g. `spec.volumes[0].secret.secretName`.
    pub field: String,
    /// Why, without the field path. Never contains a Secret value.
    pub message: String,
    /// How the finding weighs.
    pub severity: Severity,
}

/// How a finding weighs under its rule's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// A violation: the rule's action applies as configured.
    Violation,
    /// A violation that never denies (a missing imagePullSecret only makes
    /// the kubelet pull anonymously): `deny` is downgraded to `warn`.
    Advisory,
    /// The rule could not decide (a lookup the cluster view cannot answer).
    /// Reported like an advisory, but not counted as a violation.
    Unknown,
}

impl Finding {
    /// A violation of `rule` at `field`.
    pub fn violation(rule: RuleId, field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { rule, field: field.into(), message: message.into(), severity: Severity::Violation }
    }

    /// A violation of `rule` that never denies.
    pub fn advisory(rule: RuleId, field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { rule, field: field.into(), message: message.into(), severity: Severity::Advisory }
    }

    /// `rule` could not decide.
    pub fn unknown(rule: RuleId, field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { rule, field: field.into(), message: message.into(), severity: Severity::Unknown }
    }

    /// The action this finding is handled with when its rule is configured
    /// with `configured`: advisories and unknowns never deny; `None` when
    /// the rule is off.
    pub fn action(&self, configured: Action) -> Option<Action> {
        match (self.severity, configured) {
            (_, Action::Off) => None,
            // an exemption lifts violations; "could not decide" still says so
            (Severity::Unknown, Action::Exempt) => Some(Action::Warn),
            (Severity::Violation, action) => Some(action),
            (Severity::Advisory | Severity::Unknown, Action::Deny) => Some(Action::Warn),
            (Severity::Advisory | Severity::Unknown, action) => Some(action),
        }
    }

    /// The text users see: `[rule-id] field: message`.
    pub fn text(&self) -> String {
        if self.field.is_empty() {
            format!("[{}] {}", self.rule, self.message)
        } else {
            format!("[{}] {}: {}", self.rule, self.field, self.message)
        }
    }
}

/// A cluster object a rule looked up and did not find. A live view confirms
/// such misses with the API server before a decision stands (informer lag).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKey {
    /// A Secret.
    Secret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A ServiceAccount.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// Everything a validation produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The findings, in the order the rules produced them.
    pub findings: Vec<Finding>,
    /// Lookups that missed and mattered to the outcome.
    pub unresolved: BTreeSet<ObjectKey>,
}

impl Report {
    /// Append another report's findings and misses.
    pub fn extend(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.unresolved.extend(other.unresolved);
    }
}

/// The outcome of applying actions to findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Texts of the denying findings, the first [`MAX_DENIAL_TEXTS`] of
    /// each rule; empty means allowed.
    pub denials: Vec<String>,
    /// Denying findings per rule whose text was not kept (past
    /// [`MAX_DENIAL_TEXTS`]): an answer shows a few and counts the rest.
    pub denials_omitted: BTreeMap<RuleId, usize>,
    /// The class of the denial, when denied.
    pub denial: Option<Denial>,
    /// Texts to return as warnings.
    pub warnings: Vec<String>,
    /// Texts per audited rule.
    pub audit: BTreeMap<RuleId, Texts>,
    /// Texts per rule whose violations the requester is exempt from.
    pub exempt: BTreeMap<RuleId, Texts>,
    /// Every violation with the action it was handled with (for metrics).
    pub tally: Vec<(RuleId, Action)>,
    /// The texts of the violations that were warned or audited, with their
    /// rule (what Events report for controller-owned Pods).
    pub reported: Vec<(RuleId, String)>,
    /// Findings of rules that could not decide (they warn).
    pub unknown: usize,
}

/// The texts of one rule's audited (or exempted) findings: every one is
/// counted, the first ones kept while they fit an audit annotation's budget
/// (a Pod with 100 env references needs 100 counts, not 100 texts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Texts {
    /// The texts kept, in order.
    pub kept: Vec<String>,
    /// How many findings there were.
    pub total: usize,
    chars: usize,
}

/// Characters of text kept per rule: at least what an audit annotation shows.
pub const KEPT_TEXT_CHARS: usize = 2048;

impl Texts {
    /// Count a finding; keep its text while the kept ones are shorter than
    /// [`KEPT_TEXT_CHARS`]. `text` is made only when it is kept.
    fn push(&mut self, text: impl FnOnce() -> String) {
        self.total += 1;
        if self.chars < KEPT_TEXT_CHARS {
            let text = text();
            self.chars += text.len() + 2;
            self.kept.push(text);
        }
    }
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }
}

/// Denial texts kept per rule: more than an answer shows (its message is
/// bounded), few enough that 100,000 violations do not hold 100,000 texts.
pub const MAX_DENIAL_TEXTS: usize = 64;

/// Apply `action_of` to every finding. A rule whose action is `off` should
/// not have produced findings; any it did are dropped.
pub fn decide(findings: &[Finding], action_of: impl Fn(RuleId) -> Action) -> Decision {
    let mut decision = Decision::default();
    let mut denial_texts: BTreeMap<RuleId, usize> = BTreeMap::new();
    for finding in findings {
        let Some(action) = finding.action(action_of(finding.rule)) else { continue };
        if finding.severity != Severity::Unknown {
            decision.tally.push((finding.rule, action));
        } else {
            decision.unknown += 1;
        }
        if action == Action::Deny {
            let kept = denial_texts.entry(finding.rule).or_default();
            if *kept >= MAX_DENIAL_TEXTS {
                *decision.denials_omitted.entry(finding.rule).or_default() += 1;
                decision.denial = decision.denial.or(Some(finding.rule.denial()));
                continue;
            }
            *kept += 1;
        }
        // Events report the reference rules' violations only
        if finding.severity != Severity::Unknown
            && matches!(action, Action::Warn | Action::Audit)
            && finding.rule.is_reference_rule()
        {
            decision.reported.push((finding.rule, finding.text()));
        }
        match action {
            Action::Deny => {
                let class = finding.rule.denial();
                // a forbidden reference outranks an invalid object
                decision.denial = match decision.denial {
                    Some(Denial::Forbidden) => Some(Denial::Forbidden),
                    _ => Some(class),
                };
                decision.denials.push(finding.text());
            }
            Action::Warn => decision.warnings.push(finding.text()),
            Action::Audit => decision.audit.entry(finding.rule).or_default().push(|| finding.text()),
            Action::Exempt => decision.exempt.entry(finding.rule).or_default().push(|| finding.text()),
            Action::Off => unreachable!("off findings are skipped above"),
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::settings::Settings;

    #[test]
    fn past_a_few_texts_per_rule_denials_are_counted_not_kept() {
        let findings: Vec<Finding> = (0..1000)
            .map(|i| Finding::violation(RuleId::SecretKeys, format!("data[k{i}]"), "Invalid value"))
            .chain([Finding::violation(RuleId::SecretSize, "data", "Too long")])
            .collect();
        let d = decide(&findings, |_| Action::Deny);
        assert_eq!(d.denials.len(), MAX_DENIAL_TEXTS + 1);
        assert_eq!(d.denials_omitted.get(&RuleId::SecretKeys), Some(&(1000 - MAX_DENIAL_TEXTS)));
        assert_eq!(d.denials_omitted.get(&RuleId::SecretSize), None);
        assert_eq!(d.tally.len(), 1001, "every violation counts in the metrics");
        assert!(!d.allowed());
    }

    fn findings() -> Vec<Finding> {
        vec![
            Finding::violation(RuleId::PodSecretExists, "spec.volumes[0].secret.secretName", "missing"),
            Finding::advisory(RuleId::PodSecretExists, "spec.imagePullSecrets[0].name", "missing pull"),
            Finding::unknown(RuleId::PodSecretKeys, "", "keys not visible"),
        ]
    }

    #[test]
    fn deny_denies_violations_and_warns_advisories() {
        let d = decide(&findings(), |r| Settings::default().action(r));
        assert!(!d.allowed());
        assert_eq!(d.denial, Some(Denial::Forbidden));
        assert_eq!(d.denials, vec!["[pod-secret-exists] spec.volumes[0].secret.secretName: missing"]);
        assert_eq!(
            d.warnings,
            vec![
                "[pod-secret-exists] spec.imagePullSecrets[0].name: missing pull",
                "[pod-secret-keys] keys not visible"
            ]
        );
        // unknowns are reported but not counted as violations
        assert_eq!(d.tally, vec![(RuleId::PodSecretExists, Action::Deny), (RuleId::PodSecretExists, Action::Warn)]);
        assert_eq!(d.reported, vec![(RuleId::PodSecretExists, d.warnings[0].clone())]);
    }

    #[test]
    fn warn_and_audit_allow() {
        let d = decide(&findings(), |_| Action::Warn);
        assert!(d.allowed());
        assert_eq!(d.warnings.len(), 3);
        let d = decide(&findings(), |_| Action::Audit);
        assert!(d.allowed() && d.warnings.is_empty());
        assert_eq!(d.audit[&RuleId::PodSecretExists].total, 2);
        assert_eq!(d.audit[&RuleId::PodSecretKeys].total, 1);
    }

    #[test]
    fn exempt_allows_and_still_counts() {
        let d = decide(&findings(), |r| match r {
            RuleId::PodSecretExists => Action::Exempt,
            _ => Action::Deny,
        });
        assert!(d.allowed());
        assert_eq!(d.exempt[&RuleId::PodSecretExists].total, 2);
        assert_eq!(d.tally, vec![(RuleId::PodSecretExists, Action::Exempt), (RuleId::PodSecretExists, Action::Exempt)]);
        assert_eq!(d.warnings, vec!["[pod-secret-keys] keys not visible"], "the unknown of another rule still warns");
        // an unknown of the exempted rule itself still warns: nothing was violated
        let d = decide(&findings(), |_| Action::Exempt);
        assert_eq!(d.warnings, vec!["[pod-secret-keys] keys not visible"]);
        assert!(!d.exempt.contains_key(&RuleId::PodSecretKeys));
    }

    #[test]
    fn audited_texts_are_counted_all_and_kept_while_they_fit() {
        let findings: Vec<Finding> =
            (0..1000).map(|i| Finding::violation(RuleId::PodSecretEnv, format!("env[{i}]"), "x".repeat(100))).collect();
        let d = decide(&findings, |_| Action::Audit);
        let texts = &d.audit[&RuleId::PodSecretEnv];
        assert_eq!(texts.total, 1000);
        assert!(texts.kept.len() < 30 && texts.kept.iter().map(String::len).sum::<usize>() >= KEPT_TEXT_CHARS);
        assert!(d.reported.is_empty(), "no Events for a good-practice rule");
        assert_eq!(d.tally.len(), 1000);
    }

    #[test]
    fn off_drops_findings() {
        let d = decide(&findings(), |_| Action::Off);
        assert_eq!(d, Decision::default());
    }

    #[test]
    fn invalid_secret_denials_are_422() {
        let f = [Finding::violation(RuleId::SecretSize, "data", "Too long")];
        let d = decide(&f, |_| Action::Deny);
        assert_eq!(d.denial.map(Denial::code), Some(422));
    }
}
