//! `pod-secret-env` (policy.md §4): a Secret consumed as environment
//! variables, one finding per `env[].valueFrom.secretKeyRef` and per
//! `envFrom[].secretRef`. Values in the environment are readable from
//! `/proc/<pid>/environ`, inherited by child processes and dumped by crash
//! handlers; CIS Kubernetes Benchmark 5.4.1 recommends Secrets as files.

use super::refs::{RefKind, SecretRef};
use crate::policy::names::shown;
use crate::policy::{Finding, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], report: &mut Report) {
    for reference in refs {
        let (field, noun) = match &reference.kind {
            RefKind::EnvVar { .. } => (
                reference.field.strip_suffix(".name").unwrap_or(&reference.field).to_string(),
                "an environment variable",
            ),
            RefKind::EnvFrom { entry, .. } => (format!("{entry}.secretRef"), "environment variables"),
            _ => continue,
        };
        // a name the API server accepted needs no escaping: quote it as it is
        let name = shown(reference.name);
        let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let quoted = if plain { format!("\"{name}\"") } else { format!("{name:?}") };
        report.findings.push(Finding::violation(
            RuleId::PodSecretEnv,
            field,
            format!("secret {quoted} is consumed as {noun}; mount it as a file instead"),
        ));
    }
}
