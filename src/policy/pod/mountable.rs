//! `pod-mountable-secrets`: upstream's `kubernetes.io/enforce-mountable-secrets`,
//! extended to the references upstream missed (projected and CSI sources,
//! in-tree plugins) and reporting every violation, in upstream's wording.

use super::Lookup;
use super::refs::{RefKind, SecretRef};
use crate::policy::{Finding, ObjectKey, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], service_account: &str, lookup: &Lookup<'_>, report: &mut Report) {
    if refs.is_empty() {
        return;
    }
    let Some(sa) = lookup.ctx.view.service_account(lookup.namespace, service_account) else {
        if !lookup.ctx.view.complete() {
            report.findings.push(Finding::unknown(
                RuleId::PodMountableSecrets,
                "",
                format!(
                    "no cluster snapshot was given (--cluster): whether ServiceAccount {}/{service_account} enforces mountable secrets is unknown",
                    lookup.namespace
                ),
            ));
            return;
        }
        // Upstream rejects Pods of a missing ServiceAccount; a live view
        // confirms the miss, and the rule stays silent.
        report.unresolved.insert(ObjectKey::ServiceAccount {
            namespace: lookup.namespace.to_string(),
            name: service_account.to_string(),
        });
        return;
    };
    if !sa.enforce_mountable_secrets {
        return;
    }
    let because = format!("is not allowed because service account {service_account} does not reference that");
    for reference in refs {
        let s = reference.name;
        let message = match &reference.kind {
            RefKind::ImagePullSecret { index } if !sa.lists_image_pull_secret(s) => {
                format!("imagePullSecrets[{index}].name=\"{s}\" {because} imagePullSecret")
            }
            RefKind::ImagePullSecret { .. } => continue,
            _ if sa.lists_secret(s) => continue,
            RefKind::SecretVolume { .. } => format!("volume with secret.secretName=\"{s}\" {because} secret"),
            RefKind::ProjectedSecret { volume } => {
                format!("volume {volume} with projected secret.name=\"{s}\" {because} secret")
            }
            RefKind::Csi { volume } => {
                format!("volume {volume} with csi.nodePublishSecretRef.name=\"{s}\" {because} secret")
            }
            RefKind::VolumePlugin { volume, reference } => {
                format!("volume {volume} with {reference}=\"{s}\" {because} secret")
            }
            RefKind::EnvVar { container, variable } => format!(
                "{} {} with envVar {variable} referencing secret.secretName=\"{s}\" {because} secret",
                container.list.noun(),
                container.name
            ),
            RefKind::EnvFrom { container, .. } => format!(
                "{} {} with envFrom referencing secret.secretName=\"{s}\" {because} secret",
                container.list.noun(),
                container.name
            ),
        };
        report.findings.push(Finding::violation(RuleId::PodMountableSecrets, &reference.field, message));
    }
}
