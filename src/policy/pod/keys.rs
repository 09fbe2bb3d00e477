//! `pod-secret-keys`: every non-optional `secretKeyRef.key` and `items[].key`
//! names a key of its Secret. A missing Secret is `pod-secret-exists`'s to
//! report; Secrets whose keys the view does not know (metadata-only) are
//! reported once as unknown.

use std::collections::BTreeSet;

use super::Lookup;
use super::refs::SecretRef;
use crate::policy::{Finding, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], lookup: &Lookup<'_>, report: &mut Report) {
    let mut unknown = BTreeSet::new();
    for reference in refs.iter().filter(|r| !r.optional && !r.keys.is_empty()) {
        let Some(secret) = lookup.secret(reference.name) else {
            continue;
        };
        for key in &reference.keys {
            match secret.has_key(key.key) {
                Some(true) => {}
                Some(false) => report.findings.push(Finding::violation(
                    RuleId::PodSecretKeys,
                    &key.field,
                    format!("Not found: key {:?} is not in secret {:?}", key.key, lookup.display(reference.name)),
                )),
                None => {
                    unknown.insert(lookup.display(reference.name));
                }
            }
        }
    }
    if !unknown.is_empty() {
        report.findings.push(Finding::unknown(RuleId::PodSecretKeys, "", unknown_message(&unknown)));
    }
}

/// One line for every Secret whose keys are not visible.
pub(super) fn unknown_message(secrets: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = secrets.iter().take(3).map(String::as_str).collect();
    let more = secrets.len().saturating_sub(shown.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!(
        "keys of secret {}{more} are not visible to secretgate (it watches Secret metadata only); not checked",
        shown.join(", ")
    )
}
