//! `configmap-credentials` on Pods and workload templates (policy.md §4): a
//! literal `env[].value` that holds a credential, which belongs in a Secret
//! referenced with `valueFrom.secretKeyRef`. The finding names the variable
//! and the kind of credential, never the value.

use super::refs::Scope;
use super::refs::literal_env;
use crate::policy::credentials;
use crate::policy::names::shown;
use crate::policy::{Finding, Report, RuleId};
use k8s_openapi::api::core::v1::PodSpec;

pub(super) fn check(spec: &PodSpec, prefix: &str, scope: Scope<'_>, report: &mut Report) {
    for literal in literal_env(spec, prefix, scope) {
        for kind in credentials::scan(literal.value.as_bytes()) {
            report.findings.push(Finding::violation(
                RuleId::ConfigmapCredentials,
                format!("{} ({})", literal.field, shown(literal.variable)),
                format!("contains {}; use valueFrom.secretKeyRef", kind.describe()),
            ));
        }
    }
}
