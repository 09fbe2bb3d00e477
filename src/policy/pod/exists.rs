//! `pod-secret-exists`: every non-optional reference resolves in the Pod's
//! own namespace. A missing imagePullSecret only warns: the kubelet then
//! pulls anonymously.

use super::Lookup;
use super::refs::{RefKind, SecretRef};
use crate::policy::{Finding, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], lookup: &Lookup<'_>, report: &mut Report) {
    for reference in refs.iter().filter(|r| !r.optional) {
        if lookup.secret(reference.name).is_some() {
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
}
