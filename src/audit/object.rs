//! The objects an audit checks, typed: Secrets, Pods, ConfigMaps and the pod
//! templates of workloads, from a document (snapshot files) or from a typed list (live).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec, ReplicationController, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use crate::documents::describe_serde_message;
use crate::policy::configmap::ConfigMapObject;
use crate::policy::secret::EncodedSecret;

/// One object to check.
#[derive(Debug)]
pub enum Object {
    /// A Secret, values and all (dropped after the check).
    Secret(Box<Secret>),
    /// A Secret from a file, values still base64 (never decoded whole).
    EncodedSecret(Box<EncodedSecret>),
    /// A Pod.
    Pod(Box<Pod>),
    /// A ConfigMap (`configmap-credentials`).
    ConfigMap(Box<ConfigMapObject>),
    /// A workload's pod template.
    Workload {
        /// Its kind.
        kind: &'static str,
        /// Its apiVersion.
        api_version: &'static str,
        /// Its metadata.
        metadata: Box<ObjectMeta>,
        /// The template's spec, if it has one.
        spec: Option<Box<PodSpec>>,
        /// The template's field path.
        prefix: &'static str,
    },
}

/// The workload kinds an audit reads: (apiVersion, kind, template path).
pub const WORKLOADS: [(&str, &str, &str); 7] = [
    ("apps/v1", "Deployment", "spec.template.spec"),
    ("apps/v1", "StatefulSet", "spec.template.spec"),
    ("apps/v1", "DaemonSet", "spec.template.spec"),
    ("apps/v1", "ReplicaSet", "spec.template.spec"),
    ("v1", "ReplicationController", "spec.template.spec"),
    ("batch/v1", "Job", "spec.template.spec"),
    ("batch/v1", "CronJob", "spec.jobTemplate.spec.template.spec"),
];

/// What a workload is to the audit: its template's spec.
pub trait Workload: Sized {
    /// Its kind.
    const KIND: &'static str;
    /// Take metadata and the template's spec.
    fn split(self) -> (ObjectMeta, Option<PodSpec>);
}

macro_rules! workload {
    ($type:ty, $kind:literal, |$w:ident| $spec:expr) => {
        impl Workload for $type {
            const KIND: &'static str = $kind;
            fn split(self) -> (ObjectMeta, Option<PodSpec>) {
                let $w = self;
                let metadata = $w.metadata.clone();
                (metadata, $spec)
            }
        }
    };
}

workload!(Deployment, "Deployment", |w| w.spec.and_then(|s| s.template.spec));
workload!(StatefulSet, "StatefulSet", |w| w.spec.and_then(|s| s.template.spec));
workload!(DaemonSet, "DaemonSet", |w| w.spec.and_then(|s| s.template.spec));
workload!(ReplicaSet, "ReplicaSet", |w| w.spec.and_then(|s| s.template?.spec));
workload!(ReplicationController, "ReplicationController", |w| w.spec.and_then(|s| s.template?.spec));
workload!(Job, "Job", |w| w.spec.and_then(|s| s.template.spec));
workload!(CronJob, "CronJob", |w| w.spec.and_then(|s| s.job_template.spec?.template.spec));

impl Object {
    /// A typed workload.
    pub fn workload<W: Workload>(workload: W) -> Object {
        let (api_version, kind, prefix) =
            WORKLOADS.into_iter().find(|(_, k, _)| *k == W::KIND).expect("every Workload kind is listed");
        let (metadata, spec) = workload.split();
        Object::Workload { kind, api_version, metadata: Box::new(metadata), spec: spec.map(Box::new), prefix }
    }

    /// The object a document holds: `Ok(None)` for kinds the audit does not
    /// check. Errors name the kind and object, never a value.
    pub fn from_value(value: Value) -> Result<Option<Object>, String> {
        let text = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let what = format!("{kind} {name}");
        fn typed<T: for<'de> Deserialize<'de>>(value: Value, what: &str) -> Result<T, String> {
            T::deserialize(value).map_err(|e| format!("{what}: {}", describe_serde_message(&e.to_string())))
        }
        Ok(Some(match (api_version.as_str(), kind.as_str()) {
            ("v1", "Secret") => Object::EncodedSecret(Box::new(typed(value, &what)?)),
            ("v1", "Pod") => Object::Pod(Box::new(typed(value, &what)?)),
            ("v1", "ConfigMap") => Object::ConfigMap(Box::new(typed(value, &what)?)),
            ("apps/v1", "Deployment") => Object::workload(typed::<Deployment>(value, &what)?),
            ("apps/v1", "StatefulSet") => Object::workload(typed::<StatefulSet>(value, &what)?),
            ("apps/v1", "DaemonSet") => Object::workload(typed::<DaemonSet>(value, &what)?),
            ("apps/v1", "ReplicaSet") => Object::workload(typed::<ReplicaSet>(value, &what)?),
            ("v1", "ReplicationController") => Object::workload(typed::<ReplicationController>(value, &what)?),
            ("batch/v1", "Job") => Object::workload(typed::<Job>(value, &what)?),
            ("batch/v1", "CronJob") => Object::workload(typed::<CronJob>(value, &what)?),
            _ => return Ok(None),
        }))
    }
}
