//! One input answered as the server would answer it: a manifest becomes a
//! CREATE (or UPDATE) request, an AdmissionReview is taken as it is, and both
//! go through the server's own decode → dispatch → policy → encode path.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::inputs::Input;
use crate::admission::{Admission, Webhook};
use crate::app::now_unix;
use crate::cluster::View;
use crate::policy::{Action, Policy, RuleId};

/// The uid of a synthesised request: fixed, so answers are reproducible.
pub const SYNTHESISED_UID: &str = "00000000-0000-0000-0000-000000000000";

/// How requests are made from manifests.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--namespace`: for manifests without `metadata.namespace`.
    pub namespace: Option<String>,
    /// `--old`: makes the (single) manifest an UPDATE.
    pub old: Option<Value>,
    /// `--as`: the requester's user name (default `secretgate-review`).
    pub user: Option<String>,
    /// `--as-group`: the requester's groups.
    pub groups: Vec<String>,
}

/// The requester of a synthesised request when `--as` is not given.
pub const DEFAULT_USER: &str = "secretgate-review";
/// The group the API server gives every authenticated requester.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// What the server answered for one input.
#[derive(Clone, Debug)]
pub struct Reviewed {
    /// Where the input came from.
    pub source: String,
    /// `Kind namespace/name`, for people.
    pub kind: String,
    /// The request's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// CREATE or UPDATE.
    pub operation: String,
    /// Which webhook answered.
    pub webhook: Webhook,
    /// Whether the webhook checks this kind at all.
    pub checked: bool,
    /// Allowed?
    pub allowed: bool,
    /// The denial's HTTP code and message.
    pub denial: Option<(u16, String)>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
    /// `response.auditAnnotations`, sorted.
    pub audit: BTreeMap<String, String>,
    /// Every violation with the action that handled it.
    pub rules: Vec<(RuleId, Action)>,
    /// Lookups that could not be answered (no cluster snapshot).
    pub unknown: usize,
    /// The JSON Patch of a mutation.
    pub patch: Option<Value>,
    /// The object with the patch applied (mutate), or as it came (no patch).
    pub patched: Option<Value>,
    /// The response, encoded only when the AdmissionReview is printed.
    pub response: kube::core::admission::AdmissionResponse,
    /// `request.userInfo.username`.
    pub user: String,
    /// `request.userInfo.groups`.
    pub groups: Vec<String>,
}

impl Reviewed {
    /// `Kind namespace/name` (or `Kind name` for a cluster-scoped object).
    pub fn subject(&self) -> String {
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (_, true) => format!("{} in {}", self.kind, self.namespace),
            (true, false) => format!("{} {}", self.kind, self.name),
            (false, false) => format!("{} {}/{}", self.kind, self.namespace, self.name),
        }
    }

    /// The AdmissionReview answer, pretty JSON, exactly as `review` prints it.
    pub fn answer(&self) -> Vec<u8> {
        crate::admission::encode_pretty(&self.response)
    }

    /// Whether any rule fired with `action`.
    pub fn fired(&self, rule: RuleId, action: Action) -> bool {
        self.rules.iter().any(|(r, a)| *r == rule && *a == action)
    }
}

/// Answers inputs with one policy and one cluster view.
pub struct Engine {
    admission: Admission,
    view: View,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `policy` and `view`.
    pub fn new(policy: Policy, view: View) -> Result<Engine, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
        Ok(Engine { admission: Admission::new(policy), view, runtime })
    }

    /// `--explain`: every setting in force for `reviewed`, where each came
    /// from, and what each rule did.
    pub fn explain(&self, reviewed: &Reviewed) -> String {
        super::explain::explain(&self.admission.policy(), self.view.cluster(), reviewed)
    }

    /// Answer one input as `webhook`.
    pub fn review(&self, input: &Input, webhook: Webhook, options: &Options) -> Result<Reviewed, String> {
        let at = |e: String| format!("{}: {e}", input.source);
        let is_review = input.document.get("kind").and_then(Value::as_str) == Some("AdmissionReview");
        let body = if is_review {
            if options.old.is_some()
                || options.namespace.is_some()
                || options.user.is_some()
                || !options.groups.is_empty()
            {
                return Err(at(
                    "--old, --namespace, --as and --as-group apply to a plain manifest, not to an AdmissionReview (edit its request instead)"
                        .into(),
                ));
            }
            input.document.clone()
        } else {
            let mut body =
                synthesise(input.document.clone(), options.old.clone(), options.namespace.as_deref()).map_err(at)?;
            // the API server adds system:authenticated to every authenticated requester
            let mut groups = options.groups.clone();
            if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
                groups.push(AUTHENTICATED_GROUP.to_string());
            }
            body["request"]["userInfo"] = json!({
                "username": options.user.as_deref().unwrap_or(DEFAULT_USER),
                "groups": groups,
            });
            body
        };
        let request = &body["request"];
        let object = request.get("object").filter(|o| o.is_object()).cloned();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let bytes = serde_json::to_vec(&body).map_err(|e| at(e.to_string()))?;
        // the server's own path; with a snapshot nothing is awaited
        let answer = self
            .runtime
            .block_on(crate::admission::answer(&self.admission, webhook, &bytes, &self.view, now_unix()))
            .map_err(|e| at(e.to_string()))?;
        crate::cluster::EventSink::Print.emit(answer.events);
        let response = &answer.response;
        let patch: Option<Value> = response.patch.as_deref().and_then(|p| serde_json::from_slice(p).ok());
        let patched = match (&object, &patch) {
            (Some(object), Some(patch)) => Some(apply(object, patch).map_err(at)?),
            (Some(object), None) => Some(object.clone()),
            _ => None,
        };
        Ok(Reviewed {
            source: input.source.clone(),
            kind: text(&request["kind"]["kind"]),
            namespace: text(&request["namespace"]),
            name: text(&request["name"]),
            operation: text(&request["operation"]),
            webhook,
            checked: answer.summary.checked,
            allowed: response.allowed,
            denial: (!response.allowed).then(|| (response.result.code, response.result.message.clone())),
            warnings: response.warnings.clone().unwrap_or_default(),
            audit: response.audit_annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            rules: answer.summary.tally.clone(),
            unknown: answer.summary.unknown,
            patch,
            patched,
            response: answer.response,
            user: text(&request["userInfo"]["username"]),
            groups: request["userInfo"]["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }
}

fn apply(object: &Value, patch: &Value) -> Result<Value, String> {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| format!("the mutation's patch does not apply: {e}"))?;
    Ok(patched)
}

/// A CREATE (or, with `old`, UPDATE) AdmissionReview for a plain manifest.
pub fn synthesise(object: Value, old: Option<Value>, namespace: Option<&str>) -> Result<Value, String> {
    let field = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
    let Some(kind) = field(&object, "kind") else {
        return Err("the input has no kind: expected an AdmissionReview or a Kubernetes manifest".into());
    };
    let Some(api_version) = field(&object, "apiVersion") else {
        return Err(format!("the {kind} manifest has no apiVersion"));
    };
    if let Some(old) = &old
        && (field(old, "kind").as_deref() != Some(&kind) || field(old, "apiVersion").as_deref() != Some(&api_version))
    {
        return Err(format!("--old must hold the same apiVersion and kind as the input ({api_version} {kind})"));
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| field(m, "name")).unwrap_or_default();
    let namespace = if CLUSTER_SCOPED.contains(&kind.as_str()) {
        String::new()
    } else {
        metadata
            .and_then(|m| field(m, "namespace"))
            .filter(|n| !n.is_empty())
            .or_else(|| namespace.map(str::to_string))
            .unwrap_or_else(|| "default".to_string())
    };
    let (operation, options) = if old.is_some() { ("UPDATE", "UpdateOptions") } else { ("CREATE", "CreateOptions") };
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": plural(&kind)});
    Ok(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": SYNTHESISED_UID,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": DEFAULT_USER},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options},
        }
    }))
}

/// Built-in kinds without a namespace: their requests carry none.
const CLUSTER_SCOPED: [&str; 14] = [
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "APIService",
];

/// The resource name of a kind, as the API server names the built-in ones.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') || lower.ends_with('x') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_the_kinds_we_review() {
        for (kind, want) in [
            ("Pod", "pods"),
            ("Secret", "secrets"),
            ("Deployment", "deployments"),
            ("CronJob", "cronjobs"),
            ("NetworkPolicy", "networkpolicies"),
            ("Ingress", "ingresses"),
        ] {
            assert_eq!(plural(kind), want);
        }
    }

    #[test]
    fn synthesised_requests_take_the_namespace_in_order() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert_eq!(synthesise(pod.clone(), None, None).unwrap()["request"]["namespace"], "default");
        assert_eq!(synthesise(pod.clone(), None, Some("ns")).unwrap()["request"]["namespace"], "ns");
        let mut own = pod.clone();
        own["metadata"]["namespace"] = "mine".into();
        assert_eq!(synthesise(own, None, Some("ns")).unwrap()["request"]["namespace"], "mine");
        let update = synthesise(pod.clone(), Some(pod), None).unwrap();
        assert_eq!(update["request"]["operation"], "UPDATE");
        assert_eq!(update["request"]["kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
    }

    #[test]
    fn synthesis_needs_kind_and_matching_old() {
        assert!(synthesise(json!({"a": 1}), None, None).unwrap_err().contains("has no kind"));
        let pod = json!({"apiVersion": "v1", "kind": "Pod"});
        let secret = json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(synthesise(pod, Some(secret), None).unwrap_err().contains("--old must hold the same"));
        let deploy = synthesise(json!({"apiVersion": "apps/v1", "kind": "Deployment"}), None, None).unwrap();
        assert_eq!(deploy["request"]["resource"]["group"], "apps");
    }
}
