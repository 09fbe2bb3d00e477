//! The webhook configurations secretgate registers, as plain JSON: the spec
//! the chart renders into a ConfigMap, the caBundle and owner the server adds,
//! and whether a live object already says what it should. No I/O.
//!
//! The chart renders each ValidatingWebhookConfiguration and
//! MutatingWebhookConfiguration without `webhooks`, so nothing is enforced
//! before a server is ready; the server fills them in once it is. Helm (and
//! GitOps tools) never own the `webhooks` field, so an upgrade leaves it be.

use base64::Engine;
use serde_json::{Value, json};

/// The ConfigMap key holding the spec.
pub const SPEC_KEY: &str = "webhooks.yaml";

/// One webhook configuration to register.
#[derive(Clone, Debug, PartialEq)]
pub struct Configuration {
    /// `ValidatingWebhookConfiguration` or `MutatingWebhookConfiguration`.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its webhooks, as the API takes them (without caBundle unless the chart gave one).
    pub webhooks: Vec<Value>,
}

/// The two kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration.
    Validating,
    /// admissionregistration.k8s.io/v1 MutatingWebhookConfiguration.
    Mutating,
}

impl Kind {
    /// The API kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Validating => "ValidatingWebhookConfiguration",
            Kind::Mutating => "MutatingWebhookConfiguration",
        }
    }

    /// The resource's plural.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Validating => "validatingwebhookconfigurations",
            Kind::Mutating => "mutatingwebhookconfigurations",
        }
    }
}

/// Read the spec: `configurations: [{kind, name, webhooks: [...]}]`.
/// Errors name the field.
pub fn parse_spec(text: &str) -> Result<Vec<Configuration>, String> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| format!("{SPEC_KEY}: not YAML: {e}"))?;
    let list = doc
        .get("configurations")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{SPEC_KEY}: configurations: a list is required"))?;
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = |field: &str| format!("{SPEC_KEY}: configurations[{i}].{field}");
        let kind = match item.get("kind").and_then(Value::as_str) {
            Some("ValidatingWebhookConfiguration") => Kind::Validating,
            Some("MutatingWebhookConfiguration") => Kind::Mutating,
            _ => return Err(format!("{}: ValidatingWebhookConfiguration or MutatingWebhookConfiguration", at("kind"))),
        };
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{}: a name is required", at("name")))?
            .to_string();
        let webhooks = match item.get("webhooks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return Err(format!("{}: a list is required", at("webhooks"))),
        };
        for (j, webhook) in webhooks.iter().enumerate() {
            if webhook.get("name").and_then(Value::as_str).is_none() || webhook.get("clientConfig").is_none() {
                return Err(format!("{}: name and clientConfig are required", at(&format!("webhooks[{j}]"))));
            }
        }
        out.push(Configuration { kind, name, webhooks });
    }
    Ok(out)
}

/// The Services the webhooks call (namespace, name), to wait for endpoints.
pub fn services(configurations: &[Configuration]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = configurations
        .iter()
        .flat_map(|c| &c.webhooks)
        .filter_map(|w| {
            let service = w.pointer("/clientConfig/service")?;
            Some((service.get("namespace")?.as_str()?.to_string(), service.get("name")?.as_str()?.to_string()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The webhooks to register: the spec's, with `ca_bundle` (PEM) as every
/// clientConfig's caBundle when given.
pub fn desired(configuration: &Configuration, ca_bundle: Option<&str>) -> Vec<Value> {
    let mut webhooks = configuration.webhooks.clone();
    if let Some(pem) = ca_bundle {
        let encoded = base64::engine::general_purpose::STANDARD.encode(pem);
        for webhook in &mut webhooks {
            if let Some(client) = webhook.get_mut("clientConfig").and_then(Value::as_object_mut) {
                client.insert("caBundle".into(), Value::String(encoded.clone()));
            }
        }
    }
    webhooks
}

/// Whether `live` says everything `want` says. Fields the API server
/// defaults (and `want` leaves out) are ignored; lists must match item by item.
pub fn covers(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (Value::Object(live), Value::Object(want)) => want
            .iter()
            .all(|(k, v)| live.get(k).is_some_and(|l| covers(l, v)) || (v.is_null() && !live.contains_key(k))),
        (Value::Array(live), Value::Array(want)) => {
            live.len() == want.len() && live.iter().zip(want).all(|(l, w)| covers(l, w))
        }
        _ => live == want,
    }
}

/// The owner reference that makes the garbage collector delete a webhook
/// configuration once the release namespace is gone.
pub fn namespace_owner(namespace: &str, uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": uid})
}

/// The object to write so that `live` registers `webhooks` and has `owner`
/// among its owners; `None` when it already does.
pub fn reconcile(live: &Value, webhooks: &[Value], owner: Option<&Value>) -> Option<Value> {
    let mut changed = false;
    let mut object = live.clone();
    let current = live.get("webhooks").cloned().unwrap_or(Value::Array(Vec::new()));
    let want = Value::Array(webhooks.to_vec());
    if !covers(&current, &want) {
        object["webhooks"] = want;
        changed = true;
    }
    if let Some(owner) = owner {
        let uid = owner.get("uid");
        let owners = object.pointer("/metadata/ownerReferences").and_then(Value::as_array);
        if !owners.is_some_and(|list| list.iter().any(|o| o.get("uid") == uid)) {
            let mut list = owners.cloned().unwrap_or_default();
            list.push(owner.clone());
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("ownerReferences".into(), Value::Array(list));
                changed = true;
            }
        }
    }
    changed.then_some(object)
}

/// Whether every clientConfig of `live` trusts the CA `cert_pem`.
pub fn trusts(live: &Value, cert_pem: &str) -> bool {
    let Some(webhooks) = live.get("webhooks").and_then(Value::as_array) else { return false };
    !webhooks.is_empty()
        && webhooks.iter().all(|w| {
            w.pointer("/clientConfig/caBundle")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .is_some_and(|pem| String::from_utf8_lossy(&pem).contains(cert_pem.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
configurations:
  - kind: ValidatingWebhookConfiguration
    name: sg
    webhooks:
      - name: secrets.validate.secretgate.io
        clientConfig: {service: {name: sg, namespace: sg-system, path: /validate, port: 443}}
        failurePolicy: Fail
        sideEffects: None
        admissionReviewVersions: [v1]
  - kind: MutatingWebhookConfiguration
    name: sg
    webhooks: []
"#;

    fn live_with(webhooks: Value) -> Value {
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": "sg", "resourceVersion": "7", "labels": {"app": "x"}}, "webhooks": webhooks})
    }

    #[test]
    fn the_spec_is_read_and_its_errors_name_the_field() {
        let spec = parse_spec(SPEC).unwrap();
        assert_eq!(spec.len(), 2);
        assert_eq!(spec[0].kind, Kind::Validating);
        assert_eq!(services(&spec), vec![("sg-system".to_string(), "sg".to_string())]);
        let error = parse_spec("configurations: [{kind: Pod, name: x}]").unwrap_err();
        assert!(error.contains("configurations[0].kind"), "{error}");
        let error =
            parse_spec("configurations: [{kind: MutatingWebhookConfiguration, name: x, webhooks: [{name: a}]}]")
                .unwrap_err();
        assert!(error.contains("configurations[0].webhooks[0]: name and clientConfig"), "{error}");
    }

    #[test]
    fn an_empty_shell_gets_the_webhooks_the_bundle_and_the_owner_once() {
        let spec = parse_spec(SPEC).unwrap();
        let want = desired(&spec[0], Some("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"));
        let owner = namespace_owner("sg-system", "u-1");
        let shell = live_with(Value::Null);
        let written = reconcile(&shell, &want, Some(&owner)).expect("a shell needs writing");
        assert_eq!(written["webhooks"].as_array().unwrap().len(), 1);
        assert_eq!(written["metadata"]["labels"]["app"], "x", "metadata is kept");
        assert_eq!(written["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert!(trusts(&written, "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----"));
        assert!(!trusts(&written, "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----"));
        // what the API server hands back, with its defaults filled in, needs nothing more
        let mut served = written.clone();
        served["webhooks"][0]["matchPolicy"] = json!("Equivalent");
        served["webhooks"][0]["timeoutSeconds"] = json!(10);
        served["webhooks"][0]["namespaceSelector"] = json!({});
        assert_eq!(reconcile(&served, &want, Some(&owner)), None);
        // a hand edit is set right; a webhook added by hand is removed
        served["webhooks"][0]["failurePolicy"] = json!("Ignore");
        assert!(reconcile(&served, &want, Some(&owner)).is_some());
        let mut extra = written.clone();
        extra["webhooks"].as_array_mut().unwrap().push(json!({"name": "other"}));
        assert!(reconcile(&extra, &want, Some(&owner)).is_some());
        // withdrawing: an empty list
        assert_eq!(reconcile(&written, &[], None).unwrap()["webhooks"], json!([]));
    }
}
