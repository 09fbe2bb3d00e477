//! The admission adapter: prepare (decode the subject), evaluate (run the
//! policy), respond (build the answer).

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as KubeOperation};

use super::decode::{Decoded, Unusable};
use super::events::{self, EventIntent};
use super::labels::{KindLabel, Outcome, Webhook};
use super::respond;
use super::subject::Subject;
use crate::policy::pod::refs::Scope;
use crate::policy::{self, Action, ClusterView, Context, Decision, ObjectKey, PodScope, RuleId, Settings};

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
    /// Events to record on the owners of controller-made Pods.
    pub events: Vec<EventIntent>,
}

/// The answer to one review.
#[derive(Debug)]
pub struct Answer {
    /// The response to encode.
    pub response: AdmissionResponse,
    /// What happened, for logs and metrics.
    pub summary: Summary,
    /// Events to record (never on dry runs).
    pub events: Vec<EventIntent>,
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
    /// Whether the webhook checks this kind and operation at all.
    pub checked: bool,
    /// Findings of rules that could not decide (no cluster snapshot).
    pub unknown: usize,
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
    /// path for a view that needs no confirmation (benchmarks, tests).
    pub fn review(
        &self,
        webhook: Webhook,
        body: &[u8],
        view: &dyn ClusterView,
        now_unix: i64,
    ) -> Result<Answer, Unusable> {
        let prepared = self.prepare(webhook, self.decode(webhook, body)?)?;
        let evaluation = self.evaluate(&prepared, view, now_unix);
        Ok(self.respond(&prepared, evaluation))
    }

    /// Take the typed subject out of a decoded request.
    pub fn prepare(&self, webhook: Webhook, mut decoded: Decoded<'_>) -> Result<Prepared, Unusable> {
        let subject = Subject::take(webhook, &mut decoded, &self.settings)?;
        Ok(Prepared { request: decoded.request, webhook, subject })
    }

    /// Decode a body for `webhook`: objects go straight into the types the
    /// dispatch will want.
    pub fn decode<'a>(&self, webhook: Webhook, body: &'a [u8]) -> Result<Decoded<'a>, Unusable> {
        super::duplicates::check(body)?;
        let choose = |kind: &kube::core::GroupVersionKind, subresource: &str, operation: &KubeOperation| {
            Subject::target(webhook, kind, subresource, operation)
        };
        super::decode::decode_for(body, &choose)
    }

    /// Run the policy on a prepared request.
    pub fn evaluate(&self, prepared: &Prepared, view: &dyn ClusterView, now_unix: i64) -> Evaluation {
        let settings = &*self.settings;
        let ctx = Context { settings, view, now_unix };
        let namespace = prepared.namespace();
        let own_action = |rule: RuleId| settings.action(rule);
        match &prepared.subject {
            Subject::Secret { secret, old, operation } => {
                let report = policy::secret::validate_encoded_secret(secret, old.as_deref(), *operation, &ctx);
                Evaluation::of(policy::decide(&report.findings, own_action), report.unresolved)
            }
            Subject::Pod { pod, old, ephemeral } => {
                let scope = match ephemeral {
                    true => PodScope::EphemeralUpdate { old: old.as_deref() },
                    false => PodScope::Create,
                };
                let report = policy::validate_pod(pod, namespace, scope, &ctx);
                let mut evaluation = Evaluation::of(policy::decide(&report.findings, own_action), report.unresolved);
                if !ephemeral {
                    evaluation.events = events::intents(pod, namespace, &evaluation.decision, prepared.request.dry_run);
                }
                evaluation
            }
            Subject::Workload { spec, prefix } => {
                let report = policy::pod::validate_spec(spec, prefix, namespace, Scope::All, &ctx);
                // with `workloads: warn` the Pods are checked again when they are created: warn now
                let decision = policy::decide(&report.findings, |rule| settings.template_action(rule));
                Evaluation::of(decision, report.unresolved)
            }
            Subject::MutatePod { pod } => {
                let mutation = policy::pod::mutate::mutate_pod(pod, namespace, &ctx);
                let patch = mutation.changes.map(|c| super::patch::pod_patch(pod, &c)).filter(|p| !p.0.is_empty());
                let mut evaluation = Evaluation {
                    patch,
                    warnings: mutation.warnings,
                    unresolved: mutation.unresolved,
                    ..Evaluation::default()
                };
                evaluation.decision.unknown = usize::from(mutation.unknown);
                evaluation
            }
            Subject::Unhandled => Evaluation::default(),
        }
    }

    /// Build the answer.
    pub fn respond(&self, prepared: &Prepared, evaluation: Evaluation) -> Answer {
        let mut response =
            respond::apply(AdmissionResponse::from(&prepared.request), &evaluation.decision, &evaluation.warnings);
        if let Some(patch) = evaluation.patch {
            response = response.with_patch(patch).expect("a JSON Patch always serializes");
        }
        let outcome = match (response.allowed, response.patch.is_some()) {
            (false, _) => Outcome::Denied,
            (true, true) => Outcome::Mutated,
            (true, false) => Outcome::Allowed,
        };
        let summary = Summary {
            webhook: prepared.webhook,
            kind: prepared.kind(),
            operation: prepared.operation(),
            outcome,
            tally: evaluation.decision.tally,
            warnings: response.warnings.as_ref().map_or(0, Vec::len),
            checked: !matches!(prepared.subject, Subject::Unhandled),
            unknown: evaluation.decision.unknown,
        };
        Answer { response, summary, events: evaluation.events }
    }
}

impl Evaluation {
    fn of(decision: Decision, unresolved: BTreeSet<ObjectKey>) -> Self {
        Evaluation { decision, unresolved, ..Evaluation::default() }
    }
}
