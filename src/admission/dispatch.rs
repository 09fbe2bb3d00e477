//! Dispatch on (webhook, group, kind, subresource, operation) to the policy,
//! and build the answer.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as KubeOperation};

use super::decode::{Unusable, decode, typed};
use super::respond;
use crate::policy::{self, Action, ClusterView, Context, Decision, ObjectKey, Operation, PodScope, RuleId, Settings};

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

/// The kind of a reviewed object, from a fixed set (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindLabel {
    /// `v1 Pod`.
    Pod,
    /// `v1 Secret`.
    Secret,
    /// Anything else.
    Other,
}

impl KindLabel {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            KindLabel::Pod => "Pod",
            KindLabel::Secret => "Secret",
            KindLabel::Other => "other",
        }
    }

    fn of(request: &AdmissionRequest<DynamicObject>) -> Self {
        match (request.kind.group.as_str(), request.kind.kind.as_str()) {
            ("", "Pod") => KindLabel::Pod,
            ("", "Secret") => KindLabel::Secret,
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

/// The typed object(s) under review.
enum Subject {
    Secret {
        secret: Box<Secret>,
        old: Option<Box<Secret>>,
        operation: Operation,
    },
    /// A Pod CREATE, or (`ephemeral`) an update of its ephemeral containers.
    Pod {
        pod: Box<Pod>,
        old: Option<Box<Pod>>,
        ephemeral: bool,
    },
    /// A Pod CREATE for the mutating webhook.
    MutatePod {
        pod: Box<Pod>,
    },
    Unhandled,
}

/// A decoded request, its typed subject taken out of it.
pub struct Prepared {
    request: AdmissionRequest<DynamicObject>,
    webhook: Webhook,
    subject: Subject,
}

impl Prepared {
    /// The request's uid.
    pub fn uid(&self) -> &str {
        &self.request.uid
    }

    /// The kind label.
    pub fn kind(&self) -> KindLabel {
        KindLabel::of(&self.request)
    }

    /// The operation, upper case as on the wire.
    pub fn operation(&self) -> &'static str {
        match self.request.operation {
            KubeOperation::Create => "CREATE",
            KubeOperation::Update => "UPDATE",
            KubeOperation::Delete => "DELETE",
            KubeOperation::Connect => "CONNECT",
        }
    }

    /// The namespace of the request (policy.md §0: `request.namespace`;
    /// `default` if a hand-written review leaves it out).
    pub fn namespace(&self) -> &str {
        self.request.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
    }

    /// The object's name (empty on CREATE with generateName).
    pub fn name(&self) -> &str {
        &self.request.name
    }
}

/// What the policy made of a prepared request.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// The decision of the validating rules.
    pub decision: Decision,
    /// The mutation's patch, when it changes anything.
    pub patch: Option<json_patch::Patch>,
    /// The mutation's warnings.
    pub warnings: Vec<String>,
    /// Lookups that missed and mattered: a live view confirms them and
    /// evaluates again.
    pub unresolved: BTreeSet<ObjectKey>,
}

/// The answer to one review.
#[derive(Debug)]
pub struct Answer {
    /// The response to encode.
    pub response: AdmissionResponse,
    /// What happened, for logs and metrics.
    pub summary: Summary,
}

/// What happened in one review, in labels from fixed sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Which webhook answered.
    pub webhook: Webhook,
    /// The kind reviewed.
    pub kind: KindLabel,
    /// The operation.
    pub operation: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// Each violation with the action that handled it.
    pub tally: Vec<(RuleId, Action)>,
    /// How many warnings the answer carries.
    pub warnings: usize,
}

/// The admission adapter: settings plus the dispatch logic.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    settings: Arc<Settings>,
}

impl Admission {
    /// An adapter applying `settings`.
    pub fn new(settings: Arc<Settings>) -> Self {
        Admission { settings }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Decode, evaluate against `view` at `now_unix`, and answer: the whole
    /// path for a view that needs no confirmation (a snapshot).
    pub fn review(
        &self,
        webhook: Webhook,
        body: &[u8],
        view: &dyn ClusterView,
        now_unix: i64,
    ) -> Result<Answer, Unusable> {
        let prepared = self.prepare(webhook, decode(body)?)?;
        let evaluation = self.evaluate(&prepared, view, now_unix);
        Ok(self.respond(&prepared, &evaluation))
    }

    /// Take the typed subject out of a decoded request.
    pub fn prepare(
        &self,
        webhook: Webhook,
        mut request: AdmissionRequest<DynamicObject>,
    ) -> Result<Prepared, Unusable> {
        let operation = match request.operation {
            KubeOperation::Create => Some(Operation::Create),
            KubeOperation::Update => Some(Operation::Update),
            KubeOperation::Delete | KubeOperation::Connect => None,
        };
        let subresource = request.sub_resource.as_deref().unwrap_or_default();
        let kind = (request.kind.group.as_str(), request.kind.kind.as_str());
        let subject = match (webhook, kind, subresource, operation) {
            (Webhook::Validate, ("", "Secret"), "", Some(operation)) => {
                let secret = take_object(&mut request.object, "request.object")?;
                let old = match operation {
                    Operation::Update => Some(take_object(&mut request.old_object, "request.oldObject")?),
                    Operation::Create => None,
                };
                Subject::Secret { secret, old, operation }
            }
            (Webhook::Validate, ("", "Pod"), "", Some(Operation::Create)) => {
                Subject::Pod { pod: take_object(&mut request.object, "request.object")?, old: None, ephemeral: false }
            }
            (Webhook::Validate, ("", "Pod"), "ephemeralcontainers", Some(Operation::Update)) => {
                let pod = take_object(&mut request.object, "request.object")?;
                let old = match request.old_object.is_some() {
                    true => Some(take_object(&mut request.old_object, "request.oldObject")?),
                    false => None,
                };
                Subject::Pod { pod, old, ephemeral: true }
            }
            (Webhook::Mutate, ("", "Pod"), "", Some(Operation::Create)) => {
                Subject::MutatePod { pod: take_object(&mut request.object, "request.object")? }
            }
            _ => Subject::Unhandled,
        };
        Ok(Prepared { request, webhook, subject })
    }

    /// Run the policy on a prepared request.
    pub fn evaluate(&self, prepared: &Prepared, view: &dyn ClusterView, now_unix: i64) -> Evaluation {
        let ctx = Context { settings: &self.settings, view, now_unix };
        let report = match &prepared.subject {
            Subject::Secret { secret, old, operation } => {
                policy::validate_secret(secret, old.as_deref(), *operation, &ctx)
            }
            Subject::Pod { pod, old, ephemeral } => {
                let scope = match ephemeral {
                    true => PodScope::EphemeralUpdate { old: old.as_deref() },
                    false => PodScope::Create,
                };
                policy::validate_pod(pod, prepared.namespace(), scope, &ctx)
            }
            Subject::MutatePod { pod } => {
                let mutation = policy::pod::mutate::mutate_pod(pod, prepared.namespace(), &ctx);
                let patch = mutation.pod.map(|after| super::patch::diff(&**pod, &after)).filter(|p| !p.0.is_empty());
                return Evaluation {
                    patch,
                    warnings: mutation.warnings,
                    unresolved: mutation.unresolved,
                    ..Evaluation::default()
                };
            }
            Subject::Unhandled => return Evaluation::default(),
        };
        Evaluation {
            decision: policy::decide(&report.findings, |rule| self.settings.action(rule)),
            unresolved: report.unresolved,
            ..Evaluation::default()
        }
    }

    /// Build the answer.
    pub fn respond(&self, prepared: &Prepared, evaluation: &Evaluation) -> Answer {
        let mut response =
            respond::apply(AdmissionResponse::from(&prepared.request), &evaluation.decision, &evaluation.warnings);
        if let Some(patch) = &evaluation.patch {
            response = response.with_patch(patch.clone()).expect("a JSON Patch always serializes");
        }
        let outcome = if !response.allowed {
            Outcome::Denied
        } else if response.patch.is_some() {
            Outcome::Mutated
        } else {
            Outcome::Allowed
        };
        let summary = Summary {
            webhook: prepared.webhook,
            kind: prepared.kind(),
            operation: prepared.operation(),
            outcome,
            tally: evaluation.decision.tally.clone(),
            warnings: response.warnings.as_ref().map_or(0, Vec::len),
        };
        Answer { response, summary }
    }
}

fn take_object<K: serde::de::DeserializeOwned>(
    object: &mut Option<DynamicObject>,
    field: &str,
) -> Result<Box<K>, Unusable> {
    let object = object.take().ok_or_else(|| Unusable(format!("{field} is missing")))?;
    typed(object, field).map(Box::new)
}
