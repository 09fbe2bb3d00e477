//! Pod rules (policy.md §2) over the references [`refs::secret_refs`] finds.
//!
//! Rules run on CREATE, and on UPDATE of the `ephemeralcontainers`
//! subresource for the ephemeral containers that update adds. The namespace
//! is the request's; lookups that miss are reported in
//! [`Report::unresolved`] so a live view can confirm them.

mod env;
mod envfrom;
mod exists;
mod keys;
mod literals;
mod mountable;
pub mod mutate;
pub mod refs;
#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::Context;
use super::decision::{ObjectKey, Report};
use super::rules::RuleId;
use refs::{Scope, SecretRef, secret_refs};

/// Which Pod operation is being validated.
#[derive(Clone, Copy, Debug)]
pub enum PodScope<'a> {
    /// A new Pod: every reference is checked.
    Create,
    /// An update of the `ephemeralcontainers` subresource: only the
    /// ephemeral containers not in `old` are checked.
    EphemeralUpdate {
        /// The Pod before the update, when known.
        old: Option<&'a Pod>,
    },
}

/// Validate a Pod in `namespace`.
pub fn validate_pod(pod: &Pod, namespace: &str, scope: PodScope<'_>, ctx: &Context<'_>) -> Report {
    let Some(spec) = &pod.spec else {
        return Report::default();
    };
    let existing: Vec<&str> = match scope {
        PodScope::EphemeralUpdate { old: Some(old) } => {
            old.spec.iter().flat_map(|s| s.ephemeral_containers.iter().flatten()).map(|c| c.name.as_str()).collect()
        }
        _ => Vec::new(),
    };
    let scope = match scope {
        PodScope::Create => Scope::All,
        PodScope::EphemeralUpdate { .. } => Scope::NewEphemeral { existing: &existing },
    };
    validate_spec(spec, "spec", namespace, scope, ctx)
}

/// Validate a Pod spec whose field path is `prefix` (a Pod's `spec`, or a
/// workload's `spec.template.spec`).
pub fn validate_spec(spec: &PodSpec, prefix: &str, namespace: &str, scope: Scope<'_>, ctx: &Context<'_>) -> Report {
    let refs = secret_refs(spec, prefix, scope);
    let lookup = Lookup { namespace, ctx };
    let settings = ctx.settings;
    let mut report = Report::default();
    if settings.enabled(RuleId::PodSecretExists) {
        exists::check(&refs, &lookup, &mut report);
    }
    if settings.enabled(RuleId::PodSecretKeys) {
        keys::check(&refs, &lookup, &mut report);
    }
    if settings.enabled(RuleId::PodMountableSecrets) {
        mountable::check(&refs, service_account_name(spec), &lookup, &mut report);
    }
    if settings.enabled(RuleId::PodEnvfromNames) {
        envfrom::check(&refs, settings.env_names, &lookup, &mut report);
    }
    if settings.enabled(RuleId::PodSecretEnv) {
        env::check(&refs, &mut report);
    }
    if settings.enabled(RuleId::ConfigmapCredentials) {
        literals::check(spec, prefix, scope, &mut report);
    }
    report
}

/// The Pod's ServiceAccount: `serviceAccountName`, else the deprecated
/// `serviceAccount`, else `default`.
pub fn service_account_name(spec: &PodSpec) -> &str {
    [&spec.service_account_name, &spec.service_account]
        .into_iter()
        .find_map(|n| n.as_deref().filter(|n| !n.is_empty()))
        .unwrap_or("default")
}

/// Lookups in the Pod's namespace.
struct Lookup<'a> {
    namespace: &'a str,
    ctx: &'a Context<'a>,
}

impl Lookup<'_> {
    fn secret(&self, name: &str) -> Option<std::sync::Arc<super::SecretSummary>> {
        self.ctx.view.secret(self.namespace, name)
    }

    fn secret_key(&self, reference: &SecretRef<'_>) -> ObjectKey {
        ObjectKey::Secret { namespace: self.namespace.to_string(), name: reference.name.to_string() }
    }

    /// `"<namespace>/<name>"`, as messages write a Secret.
    fn display(&self, name: &str) -> String {
        format!("{}/{}", self.namespace, name)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    /// A Pod with every kind of Secret reference, in every container list.
    pub fn everything_pod() -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "everything", "namespace": "team-a"},
            "spec": {
                "serviceAccountName": "locked",
                "volumes": [
                    {"name": "v-secret", "secret": {"secretName": "vol-secret", "optional": true, "items": [{"key": "a", "path": "a"}]}},
                    {"name": "v-projected", "projected": {"sources": [
                        {"configMap": {"name": "cm"}},
                        {"secret": {"name": "proj-secret", "items": [{"key": "b", "path": "b"}]}}]}},
                    {"name": "v-csi", "csi": {"driver": "secrets-store.csi.k8s.io", "nodePublishSecretRef": {"name": "csi-secret"}}},
                    {"name": "v-azure", "azureFile": {"secretName": "azure-secret", "shareName": "s"}},
                    {"name": "v-ceph", "cephfs": {"monitors": ["m"], "secretRef": {"name": "ceph-secret"}}},
                    {"name": "v-cinder", "cinder": {"volumeID": "v", "secretRef": {"name": "cinder-secret"}}},
                    {"name": "v-flex", "flexVolume": {"driver": "d", "secretRef": {"name": "flex-secret"}}},
                    {"name": "v-iscsi", "iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0, "secretRef": {"name": "iscsi-secret"}}},
                    {"name": "v-rbd", "rbd": {"monitors": ["m"], "image": "i", "secretRef": {"name": "rbd-secret"}}},
                    {"name": "v-scaleio", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "scaleio-secret"}}},
                    {"name": "v-storageos", "storageos": {"secretRef": {"name": "storageos-secret"}}},
                    {"name": "v-empty", "emptyDir": {}}
                ],
                "containers": [{
                    "name": "app", "image": "app",
                    "env": [
                        {"name": "PLAIN", "value": "x"},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "password"}}}
                    ],
                    "envFrom": [{"prefix": "P_", "secretRef": {"name": "envfrom-secret"}}, {"configMapRef": {"name": "cm"}}]
                }],
                "initContainers": [{
                    "name": "init", "image": "init",
                    "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "init-env-secret", "key": "token"}}}],
                    "envFrom": [{"secretRef": {"name": "init-envfrom-secret"}}]
                }],
                "ephemeralContainers": [{
                    "name": "debug", "image": "busybox",
                    "env": [{"name": "DEBUG_TOKEN", "valueFrom": {"secretKeyRef": {"name": "eph-env-secret", "key": "token"}}}],
                    "envFrom": [{"secretRef": {"name": "eph-envfrom-secret"}}]
                }],
                "imagePullSecrets": [{"name": "pull"}]
            }
        }))
        .unwrap()
    }
}
