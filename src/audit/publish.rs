//! Writing the reports: create or update one per namespace with findings
//! (server-side apply, field manager `secretgate`; an unchanged report is
//! not written), delete the ones whose namespace has none left.

use std::collections::BTreeMap;

use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::reports::{MANAGED_BY, ReportApi, same_findings};

/// What a publication did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Reports created or changed.
    pub written: usize,
    /// Reports left as they were.
    pub unchanged: usize,
    /// Reports deleted (no findings left in their namespace).
    pub deleted: usize,
    /// Writes that failed (a namespace being deleted refuses new content):
    /// the others are still written.
    pub failed: Vec<String>,
}

/// Why reports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The API is not served (its CRD is not installed).
    #[error("the {0} API is not served (install its CRD; the chart's crds/ directory holds it)")]
    NotInstalled(String),
    /// A request failed.
    #[error("{0}")]
    Failed(String),
}

/// Make the cluster's reports named `name` equal `desired` (by namespace),
/// each owned by `owner` (an owner reference) when given.
pub async fn publish(
    client: &Client,
    api: ReportApi,
    name: &str,
    desired: &BTreeMap<String, Value>,
    owner: Option<&Value>,
) -> Result<Published, PublishError> {
    let (group, version, kind, plural) = api.resource();
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
    let existing = match all.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Err(PublishError::NotInstalled(format!("{group}/{version} {kind}")));
        }
        Err(e) => return Err(PublishError::Failed(format!("listing {kind}s: {e}"))),
    };
    let mut current: BTreeMap<String, Value> = BTreeMap::new();
    for report in existing.into_iter().filter(|r| r.metadata.name.as_deref() == Some(name)) {
        let namespace = report.metadata.namespace.clone().unwrap_or_default();
        current.insert(namespace, serde_json::to_value(report).unwrap_or(Value::Null));
    }
    let mut done = Published::default();
    let params = PatchParams::apply("secretgate").force();
    for (namespace, report) in desired {
        // unchanged, and owned as it should be (an owner missing after a failed lookup is added)
        let owned = |c: &Value| owner.is_none_or(|o| c["metadata"]["ownerReferences"][0]["uid"] == o["uid"]);
        if current.get(namespace).is_some_and(|c| same_findings(c, report) && owned(c)) {
            done.unchanged += 1;
            continue;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let mut report = report.clone();
        if let Some(owner) = owner {
            report["metadata"]["ownerReferences"] = serde_json::json!([owner]);
        }
        match api.patch(name, &params, &Patch::Apply(&report)).await {
            Ok(_) => done.written += 1,
            Err(e) => done.failed.push(format!("writing {kind} {namespace}/{name}: {e}")),
        }
    }
    for namespace in current.keys().filter(|ns| !desired.contains_key(*ns)) {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => done.deleted += 1,
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => done.failed.push(format!("deleting {kind} {namespace}/{name}: {e}")),
        }
    }
    Ok(done)
}

/// An owner reference to the ValidatingWebhookConfiguration `name`: the
/// garbage collector deletes the reports when it goes (`helm uninstall`).
pub async fn webhook_owner(client: &Client, name: &str) -> Result<Value, kube::Error> {
    let api: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    let configuration = api.get(name).await?;
    Ok(serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "name": name,
        "uid": configuration.metadata.uid.unwrap_or_default(),
    }))
}
