//! What a request is about: the typed object(s) taken out of it, chosen by
//! (webhook, group, kind, subresource, operation).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec, Secret};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation as KubeOperation};
use serde::de::DeserializeOwned;

use super::decode::{Unusable, typed};
use super::labels::{KindLabel, Webhook};
use crate::policy::Operation;
use crate::policy::settings::{Settings, WorkloadAction};

/// The typed object(s) under review.
pub(crate) enum Subject {
    /// A Secret CREATE or UPDATE.
    Secret { secret: Box<Secret>, old: Option<Box<Secret>>, operation: Operation },
    /// A Pod CREATE, or (`ephemeral`) an update of its ephemeral containers.
    Pod { pod: Box<Pod>, old: Option<Box<Pod>>, ephemeral: bool },
    /// A Pod CREATE for the mutating webhook.
    MutatePod { pod: Box<Pod> },
    /// The pod template of a workload, and the template's field path.
    Workload { spec: Box<PodSpec>, prefix: &'static str },
    /// Nothing to check: allowed untouched.
    Unhandled,
}

impl Subject {
    /// Take the subject out of `request`.
    pub(crate) fn take(
        webhook: Webhook,
        request: &mut AdmissionRequest<DynamicObject>,
        settings: &Settings,
    ) -> Result<Subject, Unusable> {
        let operation = match request.operation {
            KubeOperation::Create => Some(Operation::Create),
            KubeOperation::Update => Some(Operation::Update),
            KubeOperation::Delete | KubeOperation::Connect => None,
        };
        let subresource = request.sub_resource.as_deref().unwrap_or_default();
        let kind = KindLabel::of(request);
        Ok(match (webhook, kind, subresource, operation) {
            (Webhook::Validate, KindLabel::Secret, "", Some(operation)) => {
                let secret = take(&mut request.object, "request.object")?;
                let old = match operation {
                    Operation::Update => Some(take(&mut request.old_object, "request.oldObject")?),
                    Operation::Create => None,
                };
                Subject::Secret { secret, old, operation }
            }
            (Webhook::Validate, KindLabel::Pod, "", Some(Operation::Create)) => {
                Subject::Pod { pod: take(&mut request.object, "request.object")?, old: None, ephemeral: false }
            }
            (Webhook::Validate, KindLabel::Pod, "ephemeralcontainers", Some(Operation::Update)) => {
                let pod = take(&mut request.object, "request.object")?;
                let old = match request.old_object.is_some() {
                    true => Some(take(&mut request.old_object, "request.oldObject")?),
                    false => None,
                };
                Subject::Pod { pod, old, ephemeral: true }
            }
            (Webhook::Mutate, KindLabel::Pod, "", Some(Operation::Create)) => {
                Subject::MutatePod { pod: take(&mut request.object, "request.object")? }
            }
            (Webhook::Validate, workload, "", Some(operation)) if settings.workloads != WorkloadAction::Off => {
                workload_subject(workload, operation, request)?
            }
            _ => Subject::Unhandled,
        })
    }
}

fn take<K: DeserializeOwned>(object: &mut Option<DynamicObject>, field: &str) -> Result<Box<K>, Unusable> {
    let object = object.take().ok_or_else(|| Unusable(format!("{field} is missing")))?;
    typed(object, field).map(Box::new)
}

/// The template of a workload kind, or `Unhandled` for other kinds and for
/// updates that leave the template as it was (a scale, a status change).
fn workload_subject(
    kind: KindLabel,
    operation: Operation,
    request: &mut AdmissionRequest<DynamicObject>,
) -> Result<Subject, Unusable> {
    fn template<K: DeserializeOwned>(
        request: &mut AdmissionRequest<DynamicObject>,
        operation: Operation,
        spec_of: fn(K) -> Option<PodSpec>,
    ) -> Result<(Option<PodSpec>, Option<PodSpec>), Unusable> {
        let new = spec_of(*take::<K>(&mut request.object, "request.object")?);
        let old = match (operation, request.old_object.is_some()) {
            (Operation::Update, true) => spec_of(*take::<K>(&mut request.old_object, "request.oldObject")?),
            _ => None,
        };
        Ok((new, old))
    }
    let (prefix, (spec, old)): (&'static str, _) = match kind {
        KindLabel::Deployment => {
            ("spec.template.spec", template::<Deployment>(request, operation, |d| d.spec?.template.spec)?)
        }
        KindLabel::StatefulSet => {
            ("spec.template.spec", template::<StatefulSet>(request, operation, |s| s.spec?.template.spec)?)
        }
        KindLabel::DaemonSet => {
            ("spec.template.spec", template::<DaemonSet>(request, operation, |d| d.spec?.template.spec)?)
        }
        KindLabel::ReplicaSet => {
            ("spec.template.spec", template::<ReplicaSet>(request, operation, |r| r.spec?.template?.spec)?)
        }
        KindLabel::Job => ("spec.template.spec", template::<Job>(request, operation, |j| j.spec?.template.spec)?),
        KindLabel::CronJob => (
            "spec.jobTemplate.spec.template.spec",
            template::<CronJob>(request, operation, |c| c.spec?.job_template.spec?.template.spec)?,
        ),
        _ => return Ok(Subject::Unhandled),
    };
    match spec {
        Some(spec) if old.as_ref() != Some(&spec) => Ok(Subject::Workload { spec: Box::new(spec), prefix }),
        _ => Ok(Subject::Unhandled),
    }
}
