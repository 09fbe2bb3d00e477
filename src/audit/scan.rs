//! One audit pass, without I/O: objects at rest go in one at a time, findings
//! come out. The same rules as admission, as if each object were created
//! now: the Secret rules but `secret-immutable` (an object at rest has no
//! old version), the Pod rules on Pods and on workload templates (with the
//! `workloads` action, as the validating webhook applies it).
//!
//! Secrets are summarised into the scan's own inventory as they pass, so the
//! Pods checked after them see one consistent view; values are dropped with
//! the object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodSpec, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::object::Object;
use crate::policy::Settings;
use crate::policy::overrides::Setting;
use crate::policy::pod::refs::Scope;
use crate::policy::settings::WorkloadAction;
use crate::policy::view::NamespaceSummary;
use crate::policy::{
    self, Action, ClusterView, Context, Inventory, ObjectKey, Operation, Policy, RuleId, SecretSummary,
};
use crate::policy::{ServiceAccountSummary, decision::Finding};

/// Findings kept per object; the rest are counted.
pub const MAX_FINDINGS_PER_OBJECT: usize = 64;

const DAY: i64 = 86_400;

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    /// Its namespace.
    pub namespace: String,
    /// Its kind (`Pod`, `Secret`, `Deployment`, ...).
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// `apiVersion`.
    pub api_version: &'static str,
    /// `metadata.uid`, when known.
    pub uid: Option<String>,
}

impl Subject {
    fn of(kind: &'static str, api_version: &'static str, metadata: &ObjectMeta) -> Subject {
        Subject {
            namespace: metadata.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into()),
            kind,
            name: metadata.name.clone().unwrap_or_default(),
            api_version,
            uid: metadata.uid.clone(),
        }
    }
}

/// One violation of an object at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFinding {
    /// The object.
    pub subject: Arc<Subject>,
    /// The rule.
    pub rule: RuleId,
    /// The action the rule has for this object (what admission would do now).
    pub action: Action,
    /// The field path.
    pub field: String,
    /// Why; never a value.
    pub message: String,
}

impl AuditFinding {
    /// `[rule] field: message`.
    pub fn text(&self) -> String {
        match self.field.is_empty() {
            true => format!("[{}] {}", self.rule, self.message),
            false => format!("[{}] {}: {}", self.rule, self.field, self.message),
        }
    }
}

/// TLS Secrets by how soon their certificate expires (exclusive buckets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsExpiry {
    /// Already expired.
    pub expired: u64,
    /// Within 7 days.
    pub within_7d: u64,
    /// In 7 to 30 days.
    pub within_30d: u64,
    /// In 30 to 90 days.
    pub within_90d: u64,
    /// Later.
    pub later: u64,
}

impl TlsExpiry {
    fn count(&mut self, not_after: i64, now: i64) {
        let left = not_after - now;
        let bucket = match left {
            ..=0 => &mut self.expired,
            l if l <= 7 * DAY => &mut self.within_7d,
            l if l <= 30 * DAY => &mut self.within_30d,
            l if l <= 90 * DAY => &mut self.within_90d,
            _ => &mut self.later,
        };
        *bucket += 1;
    }

    /// `(label, count)` for the metric, in a fixed order.
    pub fn buckets(&self) -> [(&'static str, u64); 5] {
        [
            ("expired", self.expired),
            ("7d", self.within_7d),
            ("30d", self.within_30d),
            ("90d", self.within_90d),
            ("later", self.later),
        ]
    }
}

/// What one object's check produced, before it is recorded.
#[derive(Debug, Default)]
pub struct Checked {
    subject: Option<Arc<Subject>>,
    findings: Vec<(Finding, Action)>,
    /// Lookups that missed: a live source confirms them, adds what it finds
    /// with [`Scan::remember`] and checks again.
    pub unresolved: BTreeSet<ObjectKey>,
    tls_not_after: Option<i64>,
}

/// The outcome of a pass.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings sorted by namespace, kind and name (an object's findings in
    /// the order the rules produced them).
    pub findings: Vec<AuditFinding>,
    /// Findings past [`MAX_FINDINGS_PER_OBJECT`], counted only.
    pub omitted: usize,
    /// Objects checked, by kind.
    pub scanned: BTreeMap<&'static str, u64>,
    /// TLS Secrets by expiry.
    pub tls: TlsExpiry,
    /// Namespaces that hold a checked object (reports of the others are pruned).
    pub namespaces: BTreeSet<String>,
}

impl Outcome {
    /// Findings by action.
    pub fn by_action(&self, action: Action) -> usize {
        self.findings.iter().filter(|f| f.action == action).count()
    }

    /// Findings by rule and action, every rule and action present (zeros
    /// included) so a metric that drops to zero says so.
    pub fn by_rule(&self) -> BTreeMap<(RuleId, Action), u64> {
        let mut counts: BTreeMap<(RuleId, Action), u64> = BTreeMap::new();
        for rule in RuleId::ALL {
            for action in [Action::Deny, Action::Warn, Action::Audit] {
                counts.insert((rule, action), 0);
            }
        }
        for f in &self.findings {
            *counts.entry((f.rule, f.action)).or_default() += 1;
        }
        counts
    }
}

/// One audit pass.
pub struct Scan {
    policy: Arc<Policy>,
    inventory: Inventory,
    now_unix: i64,
    outcome: Outcome,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").field("scanned", &self.outcome.scanned).finish_non_exhaustive()
    }
}

impl Scan {
    /// A pass under `policy` at `now_unix`, looking up in `inventory`
    /// (a snapshot's, or empty for a live source that fills it as it lists).
    /// Each object is judged by the overrides of its namespace; no exemption
    /// applies (they are for requesters, and an object at rest has none).
    pub fn new(policy: Arc<Policy>, inventory: Inventory, now_unix: i64) -> Scan {
        Scan { policy, inventory, now_unix, outcome: Outcome::default() }
    }

    /// Add a Namespace's labels to the lookups (they select overrides).
    pub fn remember_namespace(&self, metadata: &ObjectMeta) {
        if let Some(name) = metadata.name.as_deref() {
            self.inventory.namespaces.insert("", name, NamespaceSummary::from_metadata(metadata));
        }
    }

    /// Whether an override selects namespaces by label, so Namespaces must be listed.
    pub fn needs_namespaces(&self) -> bool {
        self.policy.overrides().iter().any(|o| o.namespaces.selector.is_some())
    }

    /// The settings objects of `namespace` are judged by.
    fn settings_for(&self, namespace: &str) -> Arc<Settings> {
        let summary = self.inventory.namespace(namespace);
        self.policy.resolve(namespace, summary.as_ref().map(|n| &n.labels), None).settings
    }

    /// Add a Secret's summary to the lookups (no check).
    pub fn remember_secret(&self, secret: &Secret) {
        let (namespace, name) = key_of(&secret.metadata);
        self.inventory.secrets.insert(namespace, name, SecretSummary::from_secret(secret));
    }

    /// Add a Secret known by its metadata only (type and keys unknown).
    pub fn remember_secret_metadata(&self, metadata: &ObjectMeta) {
        let (namespace, name) = key_of(metadata);
        self.inventory.secrets.insert(namespace, name, SecretSummary::from_metadata(metadata));
    }

    /// Add a ServiceAccount to the lookups.
    pub fn remember_service_account(&self, sa: &ServiceAccount) {
        let (namespace, name) = key_of(&sa.metadata);
        self.inventory.service_accounts.insert(namespace, name, ServiceAccountSummary::from_service_account(sa));
    }

    /// Check one object (nothing is recorded yet).
    pub fn check(&self, object: &Object) -> Checked {
        let namespace = match object {
            Object::Secret(secret) => key_of(&secret.metadata).0,
            Object::EncodedSecret(secret) => key_of(&secret.metadata).0,
            Object::Pod(pod) => key_of(&pod.metadata).0,
            Object::ConfigMap(configmap) => key_of(&configmap.metadata).0,
            Object::Workload { metadata, .. } => key_of(metadata).0,
        };
        let settings = self.settings_for(namespace);
        let settings = &*settings;
        let ctx = Context { settings, view: &self.inventory, now_unix: self.now_unix };
        match object {
            Object::Secret(_) | Object::EncodedSecret(_) => {
                // at rest: CREATE semantics, so secret-immutable never runs
                let (metadata, report, tls_not_after) = match object {
                    Object::Secret(secret) => (
                        &secret.metadata,
                        policy::validate_secret(secret, None, Operation::Create, &ctx),
                        policy::secret::certificate_not_after(secret),
                    ),
                    Object::EncodedSecret(secret) => (
                        &secret.metadata,
                        policy::secret::validate_encoded_secret(secret, None, Operation::Create, &ctx),
                        policy::secret::encoded_certificate_not_after(secret),
                    ),
                    _ => unreachable!("matched above"),
                };
                let subject = Subject::of("Secret", "v1", metadata);
                Checked {
                    findings: with_actions(report.findings, |r| settings.action(r)),
                    tls_not_after,
                    subject: Some(Arc::new(subject)),
                    unresolved: BTreeSet::new(),
                }
            }
            Object::Pod(pod) => {
                let subject = Subject::of("Pod", "v1", &pod.metadata);
                if finished(pod) {
                    return Checked { subject: Some(Arc::new(subject)), ..Checked::default() };
                }
                let report = policy::validate_pod(pod, &subject.namespace, policy::PodScope::Create, &ctx);
                Checked {
                    findings: with_actions(report.findings, |r| settings.action(r)),
                    unresolved: report.unresolved,
                    subject: Some(Arc::new(subject)),
                    tls_not_after: None,
                }
            }
            Object::ConfigMap(configmap) => {
                let subject = Subject::of("ConfigMap", "v1", &configmap.metadata);
                let report = policy::configmap::validate_configmap(configmap, None, &ctx);
                Checked {
                    findings: with_actions(report.findings, |r| settings.action(r)),
                    unresolved: BTreeSet::new(),
                    subject: Some(Arc::new(subject)),
                    tls_not_after: None,
                }
            }
            Object::Workload { kind, api_version, metadata, spec, prefix } => {
                // a ReplicaSet of a Deployment, a Job of a CronJob: its owner's template is checked
                // (a workload owned by anything else, an operator's resource, is checked itself)
                let owner = |owner: &str| {
                    metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.kind == owner)
                };
                if (*kind == "ReplicaSet" && owner("Deployment")) || (*kind == "Job" && owner("CronJob")) {
                    return Checked::default();
                }
                // `workloads: off` here: admission does not check this template either
                if settings.workloads == WorkloadAction::Off {
                    return Checked::default();
                }
                let subject = Subject::of(kind, api_version, metadata);
                let report = check_template(spec.as_deref(), prefix, &subject.namespace, &ctx);
                Checked {
                    findings: with_actions(report.findings, |r| settings.template_action(r)),
                    unresolved: report.unresolved,
                    subject: Some(Arc::new(subject)),
                    tls_not_after: None,
                }
            }
        }
    }

    /// Record a check's findings.
    pub fn record(&mut self, checked: Checked) {
        let Some(subject) = checked.subject else { return };
        *self.outcome.scanned.entry(subject.kind).or_default() += 1;
        if !self.outcome.namespaces.contains(&subject.namespace) {
            self.outcome.namespaces.insert(subject.namespace.clone());
        }
        if let Some(not_after) = checked.tls_not_after {
            self.outcome.tls.count(not_after, self.now_unix);
        }
        let kept = checked.findings.len().min(MAX_FINDINGS_PER_OBJECT);
        self.outcome.omitted += checked.findings.len() - kept;
        for (finding, action) in checked.findings.into_iter().take(kept) {
            self.outcome.findings.push(AuditFinding {
                subject: subject.clone(),
                rule: finding.rule,
                action,
                field: finding.field,
                message: finding.message,
            });
        }
    }

    /// Check and record one object; returns the lookups that missed.
    pub fn scan(&mut self, object: &Object) -> BTreeSet<ObjectKey> {
        let mut checked = self.check(object);
        let unresolved = std::mem::take(&mut checked.unresolved);
        self.record(checked);
        unresolved
    }

    /// Whether ConfigMaps are checked anywhere (`configmap-credentials` not
    /// off at the top or in some override): otherwise they are not listed.
    pub fn checks_configmaps(&self) -> bool {
        let rule = RuleId::ConfigmapCredentials;
        self.policy.base().enabled(rule)
            || self
                .policy
                .overrides()
                .iter()
                .flat_map(|o| &o.settings)
                .any(|s| matches!(s, Setting::Action(r, a) if *r == rule && *a != Action::Off))
    }

    /// Whether workload templates are checked anywhere (`workloads: off`
    /// everywhere: they are not listed at all).
    pub fn checks_workloads(&self) -> bool {
        let on = |w: WorkloadAction| w != WorkloadAction::Off;
        on(self.policy.base().workloads)
            || self
                .policy
                .overrides()
                .iter()
                .flat_map(|o| &o.settings)
                .any(|s| matches!(s, Setting::Workloads(w) if on(*w)))
    }

    /// The lookups the pass sees.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Objects checked so far.
    pub fn scanned(&self) -> u64 {
        self.outcome.scanned.values().sum()
    }

    /// End the pass: findings sorted by namespace, kind and name.
    pub fn finish(self) -> Outcome {
        let mut outcome = self.outcome;
        // stable: an object's findings keep the rules' order
        outcome.findings.sort_by(|a, b| {
            (&a.subject.namespace, a.subject.kind, &a.subject.name).cmp(&(
                &b.subject.namespace,
                b.subject.kind,
                &b.subject.name,
            ))
        });
        outcome
    }
}

fn check_template(spec: Option<&PodSpec>, prefix: &str, namespace: &str, ctx: &Context<'_>) -> policy::Report {
    match spec {
        Some(spec) => policy::pod::validate_spec(spec, prefix, namespace, Scope::All, ctx),
        None => policy::Report::default(),
    }
}

fn with_actions(findings: Vec<Finding>, action_of: impl Fn(RuleId) -> Action) -> Vec<(Finding, Action)> {
    findings
        .into_iter()
        // unknowns are not violations (a complete view has none)
        .filter(|f| f.severity != policy::Severity::Unknown)
        .filter_map(|f| {
            let action = f.action(action_of(f.rule))?;
            Some((f, action))
        })
        .collect()
}

/// A Pod that ran to completion needs none of its Secrets again.
fn finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn key_of(metadata: &ObjectMeta) -> (&str, &str) {
    let namespace = metadata.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default");
    (namespace, metadata.name.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests;
