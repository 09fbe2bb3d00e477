//! `pod-secret-exists`: every non-optional reference resolves in the Pod's
//! own namespace. A missing imagePullSecret only warns: the kubelet then
//! pulls anonymously.

use super::Lookup;
use super::refs::{RefKind, SecretRef};
use crate::policy::{Finding, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], lookup: &Lookup<'_>, report: &mut Report) {
    let mut unknown = std::collections::BTreeSet::new();
    for reference in refs.iter().filter(|r| !r.optional) {
        if lookup.secret(reference.name).is_some() {
            continue;
        }
        if !lookup.ctx.view.complete() {
            unknown.insert(lookup.display(reference.name));
            continue;
        }
        report.unresolved.insert(lookup.secret_key(reference));
        let secret = lookup.display(reference.name);
        let finding = match reference.kind {
            RefKind::ImagePullSecret { .. } => Finding::advisory(
                RuleId::PodSecretExists,
                &reference.field,
                format!(
                    "Not found: secret {secret:?} does not exist in the Pod's namespace; images are pulled without these credentials"
                ),
            ),
            _ => Finding::violation(
                RuleId::PodSecretExists,
                &reference.field,
                format!("Not found: secret {secret:?} does not exist in the Pod's namespace"),
            ),
        };
        report.findings.push(finding);
    }
    if !unknown.is_empty() {
        let shown: Vec<&str> = unknown.iter().take(3).map(String::as_str).collect();
        let more = unknown.len() - shown.len();
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        report.findings.push(Finding::unknown(
            RuleId::PodSecretExists,
            "",
            match unknown.len() {
                1 => {
                    format!("no cluster snapshot was given (--cluster): whether secret {} exists is unknown", shown[0])
                }
                _ => format!(
                    "no cluster snapshot was given (--cluster): whether secrets {}{more} exist is unknown",
                    shown.join(", ")
                ),
            },
        ));
    }
}
