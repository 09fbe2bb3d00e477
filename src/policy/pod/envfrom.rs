//! `pod-envfrom-names`: the keys an `envFrom` Secret contributes, with the
//! entry's prefix applied first, must be valid environment variable names.
//! One finding per envFrom source, keys sorted, in the words of the event
//! the kubelet raised before Kubernetes 1.30.

use std::collections::BTreeSet;

use super::Lookup;
use super::keys::unknown_message;
use super::refs::{RefKind, SecretRef};
use crate::policy::names::{is_env_var_name, is_relaxed_env_var_name, shown};
use crate::policy::settings::EnvNames;
use crate::policy::{Finding, Report, RuleId};

pub(super) fn check(refs: &[SecretRef<'_>], names: EnvNames, lookup: &Lookup<'_>, report: &mut Report) {
    let valid = match names {
        EnvNames::Strict => is_env_var_name,
        EnvNames::Relaxed => is_relaxed_env_var_name,
    };
    let mut unknown = BTreeSet::new();
    for reference in refs {
        let RefKind::EnvFrom { prefix, entry, .. } = &reference.kind else {
            continue;
        };
        // a missing Secret is pod-secret-exists's finding, or fine when optional
        let Some(secret) = lookup.secret(reference.name) else {
            continue;
        };
        let Some(keys) = &secret.keys else {
            unknown.insert(lookup.display(reference.name));
            continue;
        };
        let mut invalid: Vec<String> =
            keys.iter().map(|k| format!("{prefix}{k}")).filter(|name| !valid(name)).collect();
        if invalid.is_empty() {
            continue;
        }
        invalid.sort();
        let listed: Vec<String> = invalid.iter().map(|k| shown(k).into_owned()).collect();
        report.findings.push(Finding::violation(
            RuleId::PodEnvfromNames,
            entry,
            format!(
                "Keys [{}] from the EnvFrom secret {} are not valid environment variable names",
                listed.join(", "),
                lookup.display(reference.name)
            ),
        ));
    }
    if !unknown.is_empty() {
        report.findings.push(Finding::unknown(RuleId::PodEnvfromNames, "", unknown_message(&unknown)));
    }
}
