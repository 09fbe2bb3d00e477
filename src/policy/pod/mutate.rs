//! Mutation of Pods (policy.md §3): merge the ServiceAccount's
//! imagePullSecrets, and mount its Secrets PodPreset-style. Returns the
//! intended Pod; the admission adapter turns the difference into a patch.
//!
//! Idempotent by construction: a second pass over its own output changes
//! nothing (the API server may reinvoke the webhook).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, LocalObjectReference, Pod, PodSpec, SecretVolumeSource, Volume, VolumeMount,
};

use super::refs::{RefKind, Scope, secret_refs};
use super::service_account_name;
use crate::policy::settings::PullSecretMode;
use crate::policy::view::ServiceAccountSummary;
use crate::policy::{Context, ObjectKey};

/// Pod annotation that opts out of every mutation.
pub const INJECT: &str = "secretgate.io/inject";
/// Pod annotation naming the Secrets the webhook mounted.
pub const INJECTED_SECRETS: &str = "secretgate.io/injected-secrets";
/// Present on mirror pods, which are never mutated.
pub const MIRROR: &str = "kubernetes.io/config.mirror";
#[cfg(test)]
mod tests;
/// Prefix of generated volume names.
const VOLUME_PREFIX: &str = "secretgate-";

/// The new values of the only fields a mutation touches. The request path
/// turns these into a patch without ever copying the whole Pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodChanges {
    /// New `metadata.annotations`.
    pub annotations: Option<BTreeMap<String, String>>,
    /// New `spec.imagePullSecrets`.
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// New `spec.volumes`.
    pub volumes: Option<Vec<Volume>>,
    /// New `volumeMounts` by index in `spec.containers`.
    pub container_mounts: BTreeMap<usize, Vec<VolumeMount>>,
    /// New `volumeMounts` by index in `spec.initContainers`.
    pub init_container_mounts: BTreeMap<usize, Vec<VolumeMount>>,
}

impl PodChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == PodChanges::default()
    }

    /// The intended Pod: `pod` with these changes.
    pub fn apply(&self, pod: &Pod) -> Pod {
        let mut pod = pod.clone();
        if let Some(annotations) = &self.annotations {
            pod.metadata.annotations = Some(annotations.clone());
        }
        let spec = pod.spec.get_or_insert_with(Default::default);
        if let Some(pulls) = &self.image_pull_secrets {
            spec.image_pull_secrets = Some(pulls.clone());
        }
        if let Some(volumes) = &self.volumes {
            spec.volumes = Some(volumes.clone());
        }
        for (i, mounts) in &self.container_mounts {
            spec.containers[*i].volume_mounts = Some(mounts.clone());
        }
        for (i, mounts) in &self.init_container_mounts {
            spec.init_containers.as_mut().expect("indexes come from the Pod")[*i].volume_mounts = Some(mounts.clone());
        }
        pod
    }
}

/// What the mutation produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mutation {
    /// What changes, when anything does.
    pub changes: Option<PodChanges>,
    /// Problems worth telling the user (the webhook never denies).
    pub warnings: Vec<String>,
    /// Lookups that missed and mattered.
    pub unresolved: BTreeSet<ObjectKey>,
    /// The ServiceAccount could not be looked up (no cluster snapshot).
    pub unknown: bool,
}

impl Mutation {
    /// The intended Pod, when anything changes.
    pub fn pod(&self, before: &Pod) -> Option<Pod> {
        self.changes.as_ref().map(|changes| changes.apply(before))
    }
}

/// Mutate a Pod being created in `namespace`.
pub fn mutate_pod(pod: &Pod, namespace: &str, ctx: &Context<'_>) -> Mutation {
    let mut mutation = Mutation::default();
    let annotations = pod.metadata.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key));
    if annotation(MIRROR).is_some() || annotation(INJECT).is_some_and(|v| v == "false") {
        return mutation;
    }
    let Some(spec) = &pod.spec else {
        return mutation;
    };
    let settings = ctx.settings;
    if !settings.image_pull_secrets.enabled && !settings.secret_mounts.enabled {
        return mutation;
    }
    let sa_name = service_account_name(spec);
    let Some(sa) = ctx.view.service_account(namespace, sa_name) else {
        if !ctx.view.complete() {
            mutation.warnings.push(format!(
                "no cluster snapshot was given (--cluster): ServiceAccount {namespace}/{sa_name} is unknown, so its imagePullSecrets and secrets were not injected"
            ));
            mutation.unknown = true;
            return mutation;
        }
        // The ServiceAccount admission plugin has already checked that it
        // exists: a miss is informer lag, for a live view to confirm.
        mutation.unresolved.insert(ObjectKey::ServiceAccount { namespace: namespace.into(), name: sa_name.into() });
        return mutation;
    };

    let mut changes = PodChanges::default();
    if settings.image_pull_secrets.enabled {
        changes.image_pull_secrets = merge_pull_secrets(spec, &sa, settings.image_pull_secrets.mode);
    }
    if settings.secret_mounts.enabled && sa.inject_secrets {
        let plan = plan_mounts(spec, namespace, sa_name, &sa, &settings.secret_mounts.base_path, ctx, &mut mutation);
        add_mounts(pod, spec, plan, &mut changes, &mut mutation.warnings);
    }
    if !changes.is_empty() {
        mutation.changes = Some(changes);
    }
    mutation
}

/// `merge`: append the ServiceAccount's names the Pod lacks, in order.
/// `ifEmpty`: upstream's rule, copy only when the Pod has none.
/// Returns the new list when it differs.
fn merge_pull_secrets(
    spec: &PodSpec,
    sa: &ServiceAccountSummary,
    mode: PullSecretMode,
) -> Option<Vec<LocalObjectReference>> {
    let own = spec.image_pull_secrets.as_deref().unwrap_or_default();
    if mode == PullSecretMode::IfEmpty && !own.is_empty() {
        return None;
    }
    let mut merged: Option<Vec<LocalObjectReference>> = None;
    for name in sa.image_pull_secrets.iter().filter(|n| !n.is_empty()) {
        let list = merged.as_deref().unwrap_or(own);
        if !list.iter().any(|r| r.name == **name) {
            merged.get_or_insert_with(|| own.to_vec()).push(LocalObjectReference { name: name.to_string() });
        }
    }
    merged
}

/// One Secret to mount.
#[derive(Debug)]
struct Candidate {
    secret: String,
    volume: String,
    path: String,
    /// The volume is already in the Pod (an earlier pass of this webhook).
    volume_present: bool,
}

/// The candidates, or the conflicts that stop every mount.
enum Plan {
    Mount(Vec<Candidate>),
    Conflicts(Vec<String>),
}

fn plan_mounts(
    spec: &PodSpec,
    namespace: &str,
    sa_name: &str,
    sa: &ServiceAccountSummary,
    base_path: &str,
    ctx: &Context<'_>,
    mutation: &mut Mutation,
) -> Plan {
    // Secrets the Pod already mounts itself, as `secret` volumes
    let used: BTreeSet<&str> = secret_refs(spec, "spec", Scope::All)
        .into_iter()
        .filter(|r| matches!(r.kind, RefKind::SecretVolume { .. }))
        .map(|r| r.name)
        .collect();
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let mut candidates = Vec::new();
    let mut conflicts = Vec::new();
    let mut seen = BTreeSet::new();
    for secret in sa.secrets.iter().map(|s| &**s) {
        if secret.is_empty() || !seen.insert(secret) {
            continue;
        }
        match ctx.view.secret(namespace, secret) {
            None => {
                mutation.unresolved.insert(ObjectKey::Secret { namespace: namespace.into(), name: secret.into() });
                mutation.warnings.push(format!(
                    "[inject-secrets] secret \"{namespace}/{secret}\" listed by service account {sa_name} does not exist; not mounted"
                ));
                continue;
            }
            Some(summary) if summary.is_service_account_token() => continue,
            Some(_) => {}
        }
        let volume = volume_name(secret);
        let path = match sa.mount_path(secret) {
            Some(annotated) => annotated.to_string(),
            None => format!("{base_path}/{secret}"),
        };
        if !is_valid_mount_path(&path) {
            conflicts.push(format!(
                "[inject-secrets] metadata.annotations[secretgate.io/mount-path.{secret}] of service account {sa_name}: \
                 {path:?} is not an absolute path without '..' or ':'; no secrets were mounted"
            ));
            continue;
        }
        let volume_present = match volumes.iter().find(|v| v.name == volume) {
            Some(v) if is_our_volume(v, secret) => true,
            Some(_) => {
                conflicts.push(format!(
                    "[inject-secrets] spec.volumes: volume {volume} already exists with another source; no secrets were mounted"
                ));
                continue;
            }
            // a Secret the Pod mounts itself is left to the Pod
            None if used.contains(secret) => continue,
            None => false,
        };
        candidates.push(Candidate { secret: secret.to_string(), volume, path, volume_present });
    }
    // two candidates at one path
    for (i, a) in candidates.iter().enumerate() {
        if let Some(b) = candidates[i + 1..].iter().find(|b| b.path == a.path) {
            conflicts.push(format!(
                "[inject-secrets] secrets {} and {} of service account {sa_name} both mount at {}; no secrets were mounted",
                a.secret, b.secret, a.path
            ));
        }
    }
    for (list, containers) in injected_containers(spec) {
        for (i, (container, mounts)) in containers.into_iter().enumerate() {
            for (j, mount) in mounts.iter().enumerate() {
                for candidate in &candidates {
                    let same_path = mount.mount_path == candidate.path;
                    let same_name = mount.name == candidate.volume;
                    let ours = same_path && same_name && mount.read_only == Some(true);
                    if (same_path || same_name) && !ours {
                        let field = format!("spec.{list}[{i}].volumeMounts[{j}]");
                        let what = if same_path {
                            format!(
                                "{} is already a mount of volume {} in container {container}",
                                candidate.path, mount.name
                            )
                        } else {
                            format!(
                                "volume {} is already mounted at {} in container {container}",
                                candidate.volume, mount.mount_path
                            )
                        };
                        conflicts.push(format!("[inject-secrets] {field}: {what}; no secrets were mounted"));
                    }
                }
            }
        }
    }
    if conflicts.is_empty() { Plan::Mount(candidates) } else { Plan::Conflicts(conflicts) }
}

/// `containers` and `initContainers` (ephemeral containers get no mounts),
/// as (list field, [(name, mounts)]).
fn injected_containers(spec: &PodSpec) -> [(&'static str, Vec<NamedMounts<'_>>); 2] {
    [
        ("containers", spec.containers.iter().map(mounts_of).collect()),
        ("initContainers", spec.init_containers.iter().flatten().map(mounts_of).collect()),
    ]
}

/// A container's name and its mounts.
type NamedMounts<'a> = (&'a str, &'a [VolumeMount]);

fn mounts_of(c: &Container) -> NamedMounts<'_> {
    (c.name.as_str(), c.volume_mounts.as_deref().unwrap_or_default())
}

/// Apply a plan to `changes`; all or nothing.
fn add_mounts(pod: &Pod, spec: &PodSpec, plan: Plan, changes: &mut PodChanges, warnings: &mut Vec<String>) {
    let candidates = match plan {
        Plan::Conflicts(conflicts) => {
            warnings.extend(conflicts);
            return;
        }
        Plan::Mount(candidates) if candidates.is_empty() => return,
        Plan::Mount(candidates) => candidates,
    };
    let missing: Vec<&Candidate> = candidates.iter().filter(|c| !c.volume_present).collect();
    if !missing.is_empty() {
        let mut volumes = spec.volumes.clone().unwrap_or_default();
        volumes.extend(missing.iter().map(|c| Volume {
            name: c.volume.clone(),
            secret: Some(SecretVolumeSource { secret_name: Some(c.secret.clone()), ..Default::default() }),
            ..Default::default()
        }));
        changes.volumes = Some(volumes);
    }
    let mount = |container: &Container| -> Option<Vec<VolumeMount>> {
        let own = container.volume_mounts.as_deref().unwrap_or_default();
        let lacking: Vec<&Candidate> =
            candidates.iter().filter(|c| !own.iter().any(|m| m.name == c.volume && m.mount_path == c.path)).collect();
        if lacking.is_empty() {
            return None;
        }
        let mut mounts = own.to_vec();
        mounts.extend(lacking.iter().map(|c| VolumeMount {
            name: c.volume.clone(),
            mount_path: c.path.clone(),
            read_only: Some(true),
            ..Default::default()
        }));
        Some(mounts)
    };
    for (i, container) in spec.containers.iter().enumerate() {
        if let Some(mounts) = mount(container) {
            changes.container_mounts.insert(i, mounts);
        }
    }
    for (i, container) in spec.init_containers.iter().flatten().enumerate() {
        if let Some(mounts) = mount(container) {
            changes.init_container_mounts.insert(i, mounts);
        }
    }
    let value = candidates.iter().map(|c| c.secret.as_str()).collect::<Vec<_>>().join(",");
    let annotations = pod.metadata.annotations.as_ref();
    if annotations.and_then(|a| a.get(INJECTED_SECRETS)) != Some(&value) {
        let mut annotations = annotations.cloned().unwrap_or_default();
        annotations.insert(INJECTED_SECRETS.to_string(), value);
        changes.annotations = Some(annotations);
    }
}

fn is_our_volume(volume: &Volume, secret: &str) -> bool {
    volume.secret.as_ref().is_some_and(|s| s.secret_name.as_deref() == Some(secret))
}

fn is_valid_mount_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(':') && !path.split('/').any(|c| c == "..")
}

/// A stable, valid DNS-1123 label (≤ 63 characters) for the volume of
/// `secret`. Names that are not already a short label (dots, length) get a
/// hash suffix so that `a.b` and `a-b` stay distinct.
pub fn volume_name(secret: &str) -> String {
    let plain = format!("{VOLUME_PREFIX}{secret}");
    if crate::policy::names::is_dns1123_label(&plain) {
        return plain;
    }
    let sanitized: String =
        secret.chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' }).collect();
    const HASH_LEN: usize = 8;
    let room = 63 - VOLUME_PREFIX.len() - 1 - HASH_LEN;
    let stem: &str = sanitized[..sanitized.len().min(room)].trim_matches('-');
    let hash = fnv1a32(secret.as_bytes());
    if stem.is_empty() { format!("{VOLUME_PREFIX}{hash:08x}") } else { format!("{VOLUME_PREFIX}{stem}-{hash:08x}") }
}

/// FNV-1a: a hash whose value never changes between builds or versions.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}
