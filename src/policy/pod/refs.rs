//! The one traversal of every place a Pod spec names a Secret (policy.md §0).
//! Every Pod rule and the mutation use it; nothing else walks a Pod spec.

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, KeyToPath, LocalObjectReference, PodSpec, Volume};

/// The three container lists of a Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerList {
    /// `containers`.
    Containers,
    /// `initContainers`.
    InitContainers,
    /// `ephemeralContainers`.
    EphemeralContainers,
}

impl ContainerList {
    /// The field name in the spec.
    pub const fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }

    /// How upstream's messages name a container of this list.
    pub const fn noun(self) -> &'static str {
        match self {
            ContainerList::Containers => "container",
            ContainerList::InitContainers => "init container",
            ContainerList::EphemeralContainers => "ephemeral container",
        }
    }
}

/// A container that references a Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerAt<'a> {
    /// Which list.
    pub list: ContainerList,
    /// Its name.
    pub name: &'a str,
}

/// A key a reference needs in its Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef<'a> {
    /// The key.
    pub key: &'a str,
    /// Field path of the key, e.g. `spec.volumes[0].secret.items[1].key`.
    pub field: String,
}

/// Where a reference sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefKind<'a> {
    /// `volumes[].secret`.
    SecretVolume {
        /// The volume's name.
        volume: &'a str,
    },
    /// `volumes[].projected.sources[].secret`.
    ProjectedSecret {
        /// The volume's name.
        volume: &'a str,
    },
    /// `volumes[].csi.nodePublishSecretRef`.
    Csi {
        /// The volume's name.
        volume: &'a str,
    },
    /// The secret reference of an in-tree volume plugin.
    VolumePlugin {
        /// The volume's name.
        volume: &'a str,
        /// The reference's path inside the volume, e.g. `cephfs.secretRef.name`.
        reference: &'static str,
    },
    /// `env[].valueFrom.secretKeyRef`.
    EnvVar {
        /// The container.
        container: ContainerAt<'a>,
        /// The variable's name.
        variable: &'a str,
    },
    /// `envFrom[].secretRef`.
    EnvFrom {
        /// The container.
        container: ContainerAt<'a>,
        /// The entry's prefix (empty when none).
        prefix: &'a str,
        /// Field path of the envFrom entry, e.g. `spec.containers[0].envFrom[1]`.
        entry: String,
    },
    /// `imagePullSecrets[]`.
    ImagePullSecret {
        /// Its index.
        index: usize,
    },
}

impl RefKind<'_> {
    /// Whether this is a volume source (any kind).
    pub fn is_volume(&self) -> bool {
        matches!(
            self,
            RefKind::SecretVolume { .. }
                | RefKind::ProjectedSecret { .. }
                | RefKind::Csi { .. }
                | RefKind::VolumePlugin { .. }
        )
    }
}

/// One place a Pod spec names a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef<'a> {
    /// The Secret's name (in the Pod's namespace).
    pub name: &'a str,
    /// Field path of the name, e.g. `spec.volumes[0].secret.secretName`.
    pub field: String,
    /// `optional: true`: a missing Secret or key is fine.
    pub optional: bool,
    /// Keys the reference needs (`items[].key`, `secretKeyRef.key`).
    pub keys: Vec<KeyRef<'a>>,
    /// Where it sits.
    pub kind: RefKind<'a>,
}

/// Which parts of a spec to walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Everything: volumes, all three container lists, imagePullSecrets.
    All,
    /// Only the ephemeral containers whose names are not in `existing`
    /// (an update of the `ephemeralcontainers` subresource).
    NewEphemeral {
        /// Names of the ephemeral containers the Pod already had.
        existing: &'a [&'a str],
    },
}

/// Every Secret reference of `spec`, whose path is `prefix` (`spec`, or
/// `spec.template.spec` in a workload), in spec order.
pub fn secret_refs<'a>(spec: &'a PodSpec, prefix: &str, scope: Scope<'_>) -> Vec<SecretRef<'a>> {
    let mut refs = Vec::new();
    if scope == Scope::All {
        for (i, volume) in spec.volumes.iter().flatten().enumerate() {
            volume_refs(volume, &format!("{prefix}.volumes[{i}]"), &mut refs);
        }
    }
    for (list, i, name, env, env_from) in containers(spec, scope) {
        let container = ContainerAt { list, name };
        let path = format!("{prefix}.{}[{i}]", list.field());
        container_refs(container, env, env_from, &path, &mut refs);
    }
    if scope == Scope::All {
        for (index, pull) in spec.image_pull_secrets.iter().flatten().enumerate() {
            if !pull.name.is_empty() {
                refs.push(SecretRef {
                    name: &pull.name,
                    field: format!("{prefix}.imagePullSecrets[{index}].name"),
                    optional: false,
                    keys: Vec::new(),
                    kind: RefKind::ImagePullSecret { index },
                });
            }
        }
    }
    refs
}

/// A container's parts that name Secrets or hold literals.
type ContainerParts<'a> = (ContainerList, usize, &'a str, &'a Option<Vec<EnvVar>>, &'a Option<Vec<EnvFromSource>>);

/// The containers of `spec` that `scope` covers, with their list and index.
fn containers<'a>(spec: &'a PodSpec, scope: Scope<'_>) -> Vec<ContainerParts<'a>> {
    let containers = spec.containers.iter().map(|c| (c.name.as_str(), &c.env, &c.env_from));
    let init = spec.init_containers.iter().flatten().map(|c| (c.name.as_str(), &c.env, &c.env_from));
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| (c.name.as_str(), &c.env, &c.env_from));
    let lists: [(ContainerList, Box<dyn Iterator<Item = _> + 'a>); 3] = [
        (ContainerList::Containers, Box::new(containers)),
        (ContainerList::InitContainers, Box::new(init)),
        (ContainerList::EphemeralContainers, Box::new(ephemeral)),
    ];
    let mut out = Vec::new();
    for (list, items) in lists {
        for (i, (name, env, env_from)) in items.enumerate() {
            let wanted = match scope {
                Scope::All => true,
                Scope::NewEphemeral { existing } => {
                    list == ContainerList::EphemeralContainers && !existing.contains(&name)
                }
            };
            if wanted {
                out.push((list, i, name, env, env_from));
            }
        }
    }
    out
}

/// A literal `env[].value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralEnv<'a> {
    /// Field path of the value, e.g. `spec.containers[0].env[1].value`.
    pub field: String,
    /// The variable's name.
    pub variable: &'a str,
    /// The value.
    pub value: &'a str,
}

/// Every non-empty literal `env[].value` of the containers `scope` covers.
pub fn literal_env<'a>(spec: &'a PodSpec, prefix: &str, scope: Scope<'_>) -> Vec<LiteralEnv<'a>> {
    let mut out = Vec::new();
    for (list, i, _, env, _) in containers(spec, scope) {
        for (k, var) in env.iter().flatten().enumerate() {
            if let Some(value) = var.value.as_deref().filter(|v| !v.is_empty()) {
                let field = format!("{prefix}.{}[{i}].env[{k}].value", list.field());
                out.push(LiteralEnv { field, variable: &var.name, value });
            }
        }
    }
    out
}

fn item_keys<'a>(items: &'a Option<Vec<KeyToPath>>, path: &str) -> Vec<KeyRef<'a>> {
    items
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, item)| KeyRef { key: &item.key, field: format!("{path}.items[{i}].key") })
        .collect()
}

fn required(reference: &Option<LocalObjectReference>) -> Option<&str> {
    reference.as_ref().map(|r| r.name.as_str())
}

fn volume_refs<'a>(volume: &'a Volume, path: &str, refs: &mut Vec<SecretRef<'a>>) {
    let name = volume.name.as_str();
    if let Some(secret) = &volume.secret
        && let Some(secret_name) = secret.secret_name.as_deref().filter(|n| !n.is_empty())
    {
        refs.push(SecretRef {
            name: secret_name,
            field: format!("{path}.secret.secretName"),
            optional: secret.optional == Some(true),
            keys: item_keys(&secret.items, &format!("{path}.secret")),
            kind: RefKind::SecretVolume { volume: name },
        });
    }
    if let Some(projected) = &volume.projected {
        for (j, source) in projected.sources.iter().flatten().enumerate() {
            if let Some(secret) = source.secret.as_ref().filter(|s| !s.name.is_empty()) {
                let source_path = format!("{path}.projected.sources[{j}].secret");
                refs.push(SecretRef {
                    name: &secret.name,
                    field: format!("{source_path}.name"),
                    optional: secret.optional == Some(true),
                    keys: item_keys(&secret.items, &source_path),
                    kind: RefKind::ProjectedSecret { volume: name },
                });
            }
        }
    }
    if let Some(csi) = &volume.csi
        && let Some(secret) = required(&csi.node_publish_secret_ref)
    {
        push_plain(refs, secret, format!("{path}.csi.nodePublishSecretRef.name"), RefKind::Csi { volume: name });
    }
    let plugins: [(Option<&'a str>, &'static str); 8] = [
        (volume.azure_file.as_ref().map(|v| v.secret_name.as_str()), "azureFile.secretName"),
        (volume.cephfs.as_ref().and_then(|v| required(&v.secret_ref)), "cephfs.secretRef.name"),
        (volume.cinder.as_ref().and_then(|v| required(&v.secret_ref)), "cinder.secretRef.name"),
        (volume.flex_volume.as_ref().and_then(|v| required(&v.secret_ref)), "flexVolume.secretRef.name"),
        (volume.iscsi.as_ref().and_then(|v| required(&v.secret_ref)), "iscsi.secretRef.name"),
        (volume.rbd.as_ref().and_then(|v| required(&v.secret_ref)), "rbd.secretRef.name"),
        (volume.scale_io.as_ref().map(|v| v.secret_ref.name.as_str()), "scaleIO.secretRef.name"),
        (volume.storageos.as_ref().and_then(|v| required(&v.secret_ref)), "storageos.secretRef.name"),
    ];
    for (secret, reference) in plugins {
        if let Some(secret) = secret {
            let kind = RefKind::VolumePlugin { volume: name, reference };
            push_plain(refs, secret, format!("{path}.{reference}"), kind);
        }
    }
}

/// A required reference without keys (CSI, in-tree plugins).
fn push_plain<'a>(refs: &mut Vec<SecretRef<'a>>, name: &'a str, field: String, kind: RefKind<'a>) {
    if !name.is_empty() {
        refs.push(SecretRef { name, field, optional: false, keys: Vec::new(), kind });
    }
}

fn container_refs<'a>(
    container: ContainerAt<'a>,
    env: &'a Option<Vec<EnvVar>>,
    env_from: &'a Option<Vec<EnvFromSource>>,
    path: &str,
    refs: &mut Vec<SecretRef<'a>>,
) {
    for (k, var) in env.iter().flatten().enumerate() {
        if let Some(selector) = var.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref())
            && !selector.name.is_empty()
        {
            let selector_path = format!("{path}.env[{k}].valueFrom.secretKeyRef");
            refs.push(SecretRef {
                name: &selector.name,
                field: format!("{selector_path}.name"),
                optional: selector.optional == Some(true),
                keys: vec![KeyRef { key: &selector.key, field: format!("{selector_path}.key") }],
                kind: RefKind::EnvVar { container, variable: &var.name },
            });
        }
    }
    for (k, source) in env_from.iter().flatten().enumerate() {
        if let Some(secret) = source.secret_ref.as_ref().filter(|s| !s.name.is_empty()) {
            let entry = format!("{path}.envFrom[{k}]");
            refs.push(SecretRef {
                name: &secret.name,
                field: format!("{entry}.secretRef.name"),
                optional: secret.optional == Some(true),
                keys: Vec::new(),
                kind: RefKind::EnvFrom { container, prefix: source.prefix.as_deref().unwrap_or_default(), entry },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pod::test_support::everything_pod;

    #[test]
    fn finds_every_reference_kind_in_every_list() {
        let pod = everything_pod();
        let spec = pod.spec.as_ref().unwrap();
        let refs = secret_refs(spec, "spec", Scope::All);
        let fields: Vec<&str> = refs.iter().map(|r| r.field.as_str()).collect();
        let want = [
            "spec.volumes[0].secret.secretName",
            "spec.volumes[1].projected.sources[1].secret.name",
            "spec.volumes[2].csi.nodePublishSecretRef.name",
            "spec.volumes[3].azureFile.secretName",
            "spec.volumes[4].cephfs.secretRef.name",
            "spec.volumes[5].cinder.secretRef.name",
            "spec.volumes[6].flexVolume.secretRef.name",
            "spec.volumes[7].iscsi.secretRef.name",
            "spec.volumes[8].rbd.secretRef.name",
            "spec.volumes[9].scaleIO.secretRef.name",
            "spec.volumes[10].storageos.secretRef.name",
            "spec.containers[0].env[1].valueFrom.secretKeyRef.name",
            "spec.containers[0].envFrom[0].secretRef.name",
            "spec.initContainers[0].env[0].valueFrom.secretKeyRef.name",
            "spec.initContainers[0].envFrom[0].secretRef.name",
            "spec.ephemeralContainers[0].env[0].valueFrom.secretKeyRef.name",
            "spec.ephemeralContainers[0].envFrom[0].secretRef.name",
            "spec.imagePullSecrets[0].name",
        ];
        assert_eq!(fields, want);
        let names: Vec<&str> = refs.iter().map(|r| r.name).collect();
        assert_eq!(names[0], "vol-secret");
        assert_eq!(names.last(), Some(&"pull"));
        assert_eq!(refs[0].keys, vec![KeyRef { key: "a", field: "spec.volumes[0].secret.items[0].key".into() }]);
        assert!(refs[0].optional);
        assert_eq!(refs[11].keys[0].key, "password");
        assert!(matches!(&refs[12].kind, RefKind::EnvFrom { prefix: "P_", .. }));
    }

    #[test]
    fn ephemeral_scope_walks_only_new_ephemeral_containers() {
        let pod = everything_pod();
        let spec = pod.spec.as_ref().unwrap();
        let refs = secret_refs(spec, "spec", Scope::NewEphemeral { existing: &[] });
        assert_eq!(refs.len(), 2);
        assert!(refs.iter().all(|r| r.field.starts_with("spec.ephemeralContainers[0]")));
        assert!(secret_refs(spec, "spec", Scope::NewEphemeral { existing: &["debug"] }).is_empty());
    }

    #[test]
    fn prefixes_are_applied_to_paths() {
        let pod = everything_pod();
        let refs = secret_refs(pod.spec.as_ref().unwrap(), "spec.template.spec", Scope::All);
        assert!(refs.iter().all(|r| r.field.starts_with("spec.template.spec.")));
    }
}
