//! What a request is about: the typed object(s) taken out of it, chosen by
//! (webhook, group, kind, subresource, operation).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::core::GroupVersionKind;
use kube::core::admission::Operation as KubeOperation;
use serde::de::DeserializeOwned;

use super::decode::{Decoded, Slot, Unusable, typed};
use super::labels::{KindLabel, Webhook};
use super::single_pass::Target;
use crate::policy::configmap::ConfigMapObject;
use crate::policy::secret::EncodedSecret;
use crate::policy::settings::{Settings, WorkloadAction};
use crate::policy::{Operation, RuleId};

/// The typed object(s) under review.
pub(crate) enum Subject {
    /// A Secret CREATE or UPDATE.
    Secret { secret: Box<EncodedSecret>, old: Option<Box<EncodedSecret>>, operation: Operation },
    /// A Pod CREATE, or (`ephemeral`) an update of its ephemeral containers.
    Pod { pod: Box<Pod>, old: Option<Box<Pod>>, ephemeral: bool },
    /// A Pod CREATE for the mutating webhook.
    MutatePod { pod: Box<Pod> },
    /// The pod template of a workload, and the template's field path.
    Workload { spec: Box<PodSpec>, prefix: &'static str },
    /// A ConfigMap on CREATE or UPDATE (`configmap-credentials`), with the
    /// old one on UPDATE: only added or changed values are judged.
    ConfigMap { configmap: Box<ConfigMapObject>, old: Option<Box<ConfigMapObject>> },
    /// Nothing to check: allowed untouched.
    Unhandled,
}

impl Subject {
    /// Take the subject out of a decoded request.
    pub(crate) fn take(webhook: Webhook, decoded: &mut Decoded<'_>, settings: &Settings) -> Result<Subject, Unusable> {
        let request = &decoded.request;
        let subresource = request.sub_resource.as_deref().unwrap_or_default();
        let kind = KindLabel::of(request);
        let Some(operation) = operation(&request.operation) else {
            return Ok(Subject::Unhandled);
        };
        let object = std::mem::replace(&mut decoded.object, Slot::Absent);
        let old_object = std::mem::replace(&mut decoded.old_object, Slot::Absent);
        Ok(match (webhook, kind, subresource, operation) {
            (Webhook::Validate, KindLabel::Secret, "", operation) => {
                let secret = take_secret(object, "request.object")?;
                let old = match operation {
                    Operation::Update => Some(take_secret(old_object, "request.oldObject")?),
                    Operation::Create => None,
                };
                Subject::Secret { secret, old, operation }
            }
            (Webhook::Validate, KindLabel::Pod, "", Operation::Create) => {
                Subject::Pod { pod: take_pod(object, "request.object")?, old: None, ephemeral: false }
            }
            (Webhook::Validate, KindLabel::Pod, "ephemeralcontainers", Operation::Update) => {
                let pod = take_pod(object, "request.object")?;
                let old = match old_object.is_present() {
                    true => Some(take_pod(old_object, "request.oldObject")?),
                    false => None,
                };
                Subject::Pod { pod, old, ephemeral: true }
            }
            (Webhook::Mutate, KindLabel::Pod, "", Operation::Create) => {
                Subject::MutatePod { pod: take_pod(object, "request.object")? }
            }
            (Webhook::Validate, KindLabel::ConfigMap, "", _) if settings.enabled(RuleId::ConfigmapCredentials) => {
                let configmap = take_configmap(object, "request.object")?;
                let old = match (operation, old_object.is_present()) {
                    (Operation::Update, true) => Some(take_configmap(old_object, "request.oldObject")?),
                    _ => None,
                };
                Subject::ConfigMap { configmap, old }
            }
            (Webhook::Validate, workload, "", operation) if settings.workloads != WorkloadAction::Off => {
                workload_subject(workload, operation, object, old_object)?
            }
            _ => Subject::Unhandled,
        })
    }

    /// What the decoder should parse `object` into for this webhook: the
    /// same choice [`Subject::take`] makes, known before the object is read.
    pub(crate) fn target(
        webhook: Webhook,
        kind: &GroupVersionKind,
        subresource: &str,
        operation: &KubeOperation,
    ) -> Target {
        let Some(operation) = self::operation(operation) else { return Target::Raw };
        match (webhook, KindLabel::of_gvk(kind), subresource, operation) {
            (Webhook::Validate, KindLabel::Secret, "", _) => Target::Secret,
            (Webhook::Validate, KindLabel::ConfigMap, "", _) => Target::ConfigMap,
            (Webhook::Validate, KindLabel::Pod, "", Operation::Create)
            | (Webhook::Validate, KindLabel::Pod, "ephemeralcontainers", Operation::Update)
            | (Webhook::Mutate, KindLabel::Pod, "", Operation::Create) => Target::Pod,
            _ => Target::Raw,
        }
    }
}

fn operation(operation: &KubeOperation) -> Option<Operation> {
    match operation {
        KubeOperation::Create => Some(Operation::Create),
        KubeOperation::Update => Some(Operation::Update),
        KubeOperation::Delete | KubeOperation::Connect => None,
    }
}

fn missing(field: &str) -> Unusable {
    Unusable(format!("{field} is missing"))
}

fn take_secret(slot: Slot<'_>, field: &str) -> Result<Box<EncodedSecret>, Unusable> {
    match slot {
        Slot::Secret(secret) => Ok(secret),
        Slot::Raw(raw) => typed(raw, field).map(Box::new),
        _ => Err(missing(field)),
    }
}

fn take_pod(slot: Slot<'_>, field: &str) -> Result<Box<Pod>, Unusable> {
    match slot {
        Slot::Pod(pod) => Ok(pod),
        Slot::Raw(raw) => typed(raw, field).map(Box::new),
        _ => Err(missing(field)),
    }
}

fn take_configmap(slot: Slot<'_>, field: &str) -> Result<Box<ConfigMapObject>, Unusable> {
    match slot {
        Slot::ConfigMap(configmap) => Ok(configmap),
        Slot::Raw(raw) => typed(raw, field).map(Box::new),
        _ => Err(missing(field)),
    }
}

fn take_raw<K: DeserializeOwned>(slot: Slot<'_>, field: &str) -> Result<K, Unusable> {
    match slot {
        Slot::Raw(raw) => typed(raw, field),
        _ => Err(missing(field)),
    }
}

/// The template of a workload kind, or `Unhandled` for other kinds and for
/// updates that leave the template as it was (a scale, a status change).
fn workload_subject(
    kind: KindLabel,
    operation: Operation,
    object: Slot<'_>,
    old: Slot<'_>,
) -> Result<Subject, Unusable> {
    fn template<K: DeserializeOwned>(
        object: Slot<'_>,
        old: Slot<'_>,
        operation: Operation,
        spec_of: fn(K) -> Option<PodSpec>,
    ) -> Result<(Option<PodSpec>, Option<PodSpec>), Unusable> {
        let new = spec_of(take_raw::<K>(object, "request.object")?);
        let old = match (operation, old.is_present()) {
            (Operation::Update, true) => spec_of(take_raw::<K>(old, "request.oldObject")?),
            _ => None,
        };
        Ok((new, old))
    }
    let (prefix, (spec, old)): (&'static str, _) = match kind {
        KindLabel::Deployment => {
            ("spec.template.spec", template::<Deployment>(object, old, operation, |d| d.spec?.template.spec)?)
        }
        KindLabel::StatefulSet => {
            ("spec.template.spec", template::<StatefulSet>(object, old, operation, |s| s.spec?.template.spec)?)
        }
        KindLabel::DaemonSet => {
            ("spec.template.spec", template::<DaemonSet>(object, old, operation, |d| d.spec?.template.spec)?)
        }
        KindLabel::ReplicaSet => {
            ("spec.template.spec", template::<ReplicaSet>(object, old, operation, |r| r.spec?.template?.spec)?)
        }
        KindLabel::Job => ("spec.template.spec", template::<Job>(object, old, operation, |j| j.spec?.template.spec)?),
        KindLabel::CronJob => (
            "spec.jobTemplate.spec.template.spec",
            template::<CronJob>(object, old, operation, |c| c.spec?.job_template.spec?.template.spec)?,
        ),
        _ => return Ok(Subject::Unhandled),
    };
    match spec {
        Some(spec) if old.as_ref() != Some(&spec) => Ok(Subject::Workload { spec: Box::new(spec), prefix }),
        _ => Ok(Subject::Unhandled),
    }
}
