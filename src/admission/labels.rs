//! Fixed label sets: which webhook, which kind, how it ended.

use kube::core::admission::AdmissionRequest;
use kube::core::{DynamicObject, GroupVersionKind};

/// Which webhook is answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Webhook {
    /// The validating webhook (`/validate`).
    Validate,
    /// The mutating webhook (`/mutate`).
    Mutate,
}

impl Webhook {
    /// `validate` or `mutate`, as in paths and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Webhook::Validate => "validate",
            Webhook::Mutate => "mutate",
        }
    }
}

/// The kind of a reviewed object (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindLabel {
    /// `v1 Pod`.
    Pod,
    /// `v1 Secret`.
    Secret,
    /// `v1 ConfigMap`.
    ConfigMap,
    /// `apps/v1 Deployment`.
    Deployment,
    /// `apps/v1 StatefulSet`.
    StatefulSet,
    /// `apps/v1 DaemonSet`.
    DaemonSet,
    /// `apps/v1 ReplicaSet`.
    ReplicaSet,
    /// `batch/v1 Job`.
    Job,
    /// `batch/v1 CronJob`.
    CronJob,
    /// Anything else.
    Other,
}

impl KindLabel {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            KindLabel::Pod => "Pod",
            KindLabel::Secret => "Secret",
            KindLabel::ConfigMap => "ConfigMap",
            KindLabel::Deployment => "Deployment",
            KindLabel::StatefulSet => "StatefulSet",
            KindLabel::DaemonSet => "DaemonSet",
            KindLabel::ReplicaSet => "ReplicaSet",
            KindLabel::Job => "Job",
            KindLabel::CronJob => "CronJob",
            KindLabel::Other => "other",
        }
    }

    /// The label of a request's kind (the kind the webhook registered for).
    pub fn of(request: &AdmissionRequest<DynamicObject>) -> Self {
        Self::of_gvk(&request.kind)
    }

    /// The label of a group/version/kind.
    pub fn of_gvk(kind: &GroupVersionKind) -> Self {
        match (kind.group.as_str(), kind.kind.as_str()) {
            ("", "Pod") => KindLabel::Pod,
            ("", "Secret") => KindLabel::Secret,
            ("", "ConfigMap") => KindLabel::ConfigMap,
            ("apps", "Deployment") => KindLabel::Deployment,
            ("apps", "StatefulSet") => KindLabel::StatefulSet,
            ("apps", "DaemonSet") => KindLabel::DaemonSet,
            ("apps", "ReplicaSet") => KindLabel::ReplicaSet,
            ("batch", "Job") => KindLabel::Job,
            ("batch", "CronJob") => KindLabel::CronJob,
            _ => KindLabel::Other,
        }
    }
}

/// How a review ended (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Allowed without changes.
    Allowed,
    /// Allowed with a patch.
    Mutated,
    /// Denied.
    Denied,
}

impl Outcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Mutated => "mutated",
            Outcome::Denied => "denied",
        }
    }
}
