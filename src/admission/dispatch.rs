//! The admission adapter: prepare (decode the subject), evaluate (run the
//! policy), respond (build the answer).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as KubeOperation};

use super::decode::{Decoded, Unusable};
use super::events::{self, EventIntent};
use super::labels::{KindLabel, Outcome, Webhook};
use super::respond;
use super::subject::Subject;
use crate::policy::pod::refs::Scope;
use crate::policy::{
    self, Action, ClusterView, Context, Decision, ObjectKey, PodScope, Policy, Requester, Resolved, RuleId, Settings,
};

/// The audit annotation (recorded under the webhook's name, e.g.
/// `pods.validate.secretgate.io/policy`) naming the overrides and exemptions that decided an
/// answer. Contract §4.1 writes `secretgate.io/policy`, but the API server
/// drops a webhook's audit annotation key that holds a `/`.
pub const POLICY_ANNOTATION: &str = "policy";

/// A decoded request, its typed subject taken out of it.
pub struct Prepared {
    request: AdmissionRequest<DynamicObject>,
    webhook: Webhook,
    subject: Subject,
    resolved: Resolved,
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

    /// The settings this request is judged by, and what decided them.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
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

/// The admission adapter: the policy in force plus the dispatch logic.
/// Clones share the policy: [`Admission::replace_policy`] on one (a reload)
/// applies to every clone's next request.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    policy: Arc<RwLock<Arc<Policy>>>,
}

impl Admission {
    /// An adapter applying `policy`.
    pub fn new(policy: Policy) -> Self {
        Admission { policy: Arc::new(RwLock::new(Arc::new(policy))) }
    }

    /// An adapter applying plain `settings` everywhere (tests, benchmarks).
    pub fn with_settings(settings: Settings) -> Self {
        Admission::new(Policy::from(settings))
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Apply `policy` to every request prepared from now on.
    pub fn replace_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
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
        let prepared = self.prepare(webhook, self.decode(webhook, body)?, view)?;
        let evaluation = self.evaluate(&prepared, view, now_unix);
        Ok(self.respond(&prepared, evaluation))
    }

    /// Resolve the policy for the request's namespace (its labels from
    /// `view`) and requester, and take the typed subject out of it.
    pub fn prepare(
        &self,
        webhook: Webhook,
        mut decoded: Decoded<'_>,
        view: &dyn ClusterView,
    ) -> Result<Prepared, Unusable> {
        let request = &decoded.request;
        let namespace = request.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default");
        let user = request.user_info.username.as_deref().unwrap_or_default();
        let groups = request.user_info.groups.as_deref().unwrap_or_default();
        let requester = Requester { user, groups };
        let summary = view.namespace(namespace);
        let resolved = self.policy().resolve(namespace, summary.as_ref().map(|n| &n.labels), Some(&requester));
        let subject = Subject::take(webhook, &mut decoded, &resolved.settings)?;
        Ok(Prepared { request: decoded.request, webhook, subject, resolved })
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
        let resolved = &prepared.resolved;
        let settings = &*resolved.settings;
        let ctx = Context { settings, view, now_unix };
        let namespace = prepared.namespace();
        let own_action = |rule: RuleId| resolved.action(rule, settings.action(rule));
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
                let decision =
                    policy::decide(&report.findings, |rule| resolved.action(rule, settings.template_action(rule)));
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
            Subject::ConfigMap { configmap, old } => {
                let report = policy::configmap::validate_configmap(configmap, old.as_deref(), &ctx);
                Evaluation::of(policy::decide(&report.findings, own_action), report.unresolved)
            }
            Subject::Unhandled => Evaluation::default(),
        }
    }

    /// Build the answer.
    pub fn respond(&self, prepared: &Prepared, evaluation: Evaluation) -> Answer {
        let mut response =
            respond::apply(AdmissionResponse::from(&prepared.request), &evaluation.decision, &evaluation.warnings);
        for (rule, texts) in &evaluation.decision.exempt {
            let by = prepared.resolved.exemption(*rule).unwrap_or_default();
            response.audit_annotations.insert(rule.as_str().to_string(), respond::exempt_value(by, texts));
        }
        if !matches!(prepared.subject, Subject::Unhandled)
            && let Some(value) = policy_annotation(&prepared.resolved, &evaluation.decision)
        {
            response.audit_annotations.insert(POLICY_ANNOTATION.to_string(), value);
        }
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

/// The overrides that matched, then the exemptions that lifted a violation:
/// their names, comma-separated; `None` when neither did anything.
fn policy_annotation(resolved: &Resolved, decision: &Decision) -> Option<String> {
    let mut names: Vec<&str> = resolved.overrides.iter().map(|n| &**n).collect();
    for rule in decision.exempt.keys() {
        if let Some(name) = resolved.exemption(*rule)
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    (!names.is_empty()).then(|| names.join(", "))
}

impl Evaluation {
    fn of(decision: Decision, unresolved: BTreeSet<ObjectKey>) -> Self {
        Evaluation { decision, unresolved, ..Evaluation::default() }
    }
}
