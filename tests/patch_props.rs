//! Property tests of the mutation over generated Pods and ServiceAccounts:
//! the patch applies to the raw JSON the API server would send (fields
//! unknown to k8s-openapi included), the result equals the intended Pod, a
//! second pass is empty, and the mutation adds no violation of the Pod rules
//! when the ServiceAccount's Secrets exist.

mod support;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use proptest::prelude::*;
use secretgate::admission::patch::pod_patch;
use secretgate::policy::pod::mutate::mutate_pod;
use secretgate::policy::settings::PullSecretMode;
use secretgate::policy::{Context, Inventory, PodScope, SecretSummary, ServiceAccountSummary, Settings, validate_pod};
use serde_json::{Value, json};
use support::rfc6902;

const SECRETS: [&str; 5] = ["db", "api", "tls.example.com", "cache", "tok"];
const PULLS: [&str; 3] = ["regcred", "other-reg", "third"];
const PATHS: [&str; 4] = ["/etc/a", "/etc/b", "/var/run/secrets/secretgate.io/db", "/data"];
const POD_PULLS: [&str; 4] = ["mine", "regcred", "other-reg", "third"];
const NS: &str = "ns";

#[derive(Debug, Clone)]
struct Case {
    sa_secrets: Vec<usize>,
    sa_pulls: Vec<usize>,
    inject: bool,
    enforce: bool,
    annotated_paths: Vec<(usize, usize)>,
    containers: Vec<Vec<(usize, bool)>>,
    init_containers: Vec<Vec<(usize, bool)>>,
    own_secret_volume: Option<usize>,
    pod_pulls: Vec<usize>,
    missing: Vec<bool>,
    if_empty: bool,
    opt_out: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let mounts = prop::collection::vec((0..PATHS.len(), any::<bool>()), 0..3);
    (
        prop::collection::vec(0..SECRETS.len(), 0..6),
        prop::collection::vec(0..PULLS.len(), 0..4),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0..SECRETS.len(), 0..PATHS.len()), 0..2),
        prop::collection::vec(mounts.clone(), 1..4),
        prop::collection::vec(mounts, 0..3),
        prop::option::of(0..SECRETS.len()),
        prop::collection::vec(0..4usize, 0..3),
        prop::collection::vec(prop::bool::weighted(0.15), SECRETS.len() + PULLS.len()),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.05),
    )
        .prop_map(|t| Case {
            sa_secrets: t.0,
            sa_pulls: t.1,
            inject: t.2,
            enforce: t.3,
            annotated_paths: t.4,
            containers: t.5,
            init_containers: t.6,
            own_secret_volume: t.7,
            pod_pulls: t.8,
            missing: t.9,
            if_empty: t.10,
            opt_out: t.11,
        })
}

/// The raw Pod as the API server would send it, with fields k8s-openapi does not model.
fn raw_pod(case: &Case) -> Value {
    let container = |prefix: &str, i: usize, mounts: &[(usize, bool)]| {
        let mounts: Vec<Value> = mounts
            .iter()
            .enumerate()
            .map(|(j, (p, ro))| json!({"name": format!("vol-{prefix}{i}-{j}"), "mountPath": PATHS[*p], "readOnly": ro}))
            .collect();
        let mut c = json!({"name": format!("{prefix}{i}"), "image": "img", "x-unknown-container": {"n": i}});
        if !mounts.is_empty() {
            c["volumeMounts"] = Value::Array(mounts);
        }
        c
    };
    let mut volumes: Vec<Value> = Vec::new();
    for (prefix, list) in [("c", &case.containers), ("i", &case.init_containers)] {
        for (i, mounts) in list.iter().enumerate() {
            for j in 0..mounts.len() {
                volumes.push(json!({"name": format!("vol-{prefix}{i}-{j}"), "emptyDir": {}}));
            }
        }
    }
    if let Some(s) = case.own_secret_volume {
        volumes.push(json!({"name": "own", "secret": {"secretName": SECRETS[s]}}));
    }
    let pulls: Vec<Value> = case.pod_pulls.iter().map(|p| json!({"name": POD_PULLS[*p]})).collect();
    let mut spec = json!({
        "serviceAccountName": "sa",
        "containers": case.containers.iter().enumerate().map(|(i, m)| container("c", i, m)).collect::<Vec<_>>(),
        "x-unknown-spec": [1, 2, 3],
    });
    if !case.init_containers.is_empty() {
        spec["initContainers"] = case.init_containers.iter().enumerate().map(|(i, m)| container("i", i, m)).collect();
    }
    if !volumes.is_empty() {
        spec["volumes"] = Value::Array(volumes);
    }
    if !pulls.is_empty() {
        spec["imagePullSecrets"] = Value::Array(pulls);
    }
    let mut metadata = json!({"generateName": "p-", "namespace": NS, "x-unknown-meta": "keep"});
    if case.opt_out {
        metadata["annotations"] = json!({"secretgate.io/inject": "false"});
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": {}})
}

fn inventory(case: &Case) -> Inventory {
    let mut annotations = serde_json::Map::new();
    if case.inject {
        annotations.insert("secretgate.io/inject-secrets".into(), "true".into());
    }
    if case.enforce {
        annotations.insert("kubernetes.io/enforce-mountable-secrets".into(), "true".into());
    }
    for (s, p) in &case.annotated_paths {
        annotations.insert(format!("secretgate.io/mount-path.{}", SECRETS[*s]), PATHS[*p].into());
    }
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "sa", "annotations": annotations},
        "secrets": case.sa_secrets.iter().map(|s| json!({"name": SECRETS[*s]})).collect::<Vec<_>>(),
        "imagePullSecrets": case.sa_pulls.iter().map(|p| json!({"name": PULLS[*p]})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let inventory =
        Inventory::default().with_service_account(NS, "sa", ServiceAccountSummary::from_service_account(&sa));
    for (i, name) in SECRETS.iter().chain(PULLS.iter()).enumerate() {
        if !case.missing[i] {
            let kind = if *name == "tok" { "kubernetes.io/service-account-token" } else { "Opaque" };
            inventory.secrets.insert(NS, name, SecretSummary::with_keys(kind, &["k"]));
        }
    }
    inventory.secrets.insert(NS, "mine", SecretSummary::with_keys("Opaque", &["k"]));
    inventory
}

fn settings(case: &Case) -> Settings {
    let mut settings = Settings::default();
    if case.if_empty {
        settings.image_pull_secrets.mode = PullSecretMode::IfEmpty;
    }
    settings
}

fn findings(pod: &Pod, ctx: &Context<'_>) -> BTreeSet<String> {
    validate_pod(pod, NS, PodScope::Create, ctx).findings.iter().map(|f| f.text()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutation_patches_are_exact_idempotent_and_safe(case in case()) {
        let raw = raw_pod(&case);
        let before: Pod = serde_json::from_value(raw.clone()).unwrap();
        let view = inventory(&case);
        let settings = settings(&case);
        let ctx = Context { settings: &settings, view: &view, now_unix: 0 };
        let mutation = mutate_pod(&before, NS, &ctx);
        let after = mutation.pod(&before).unwrap_or_else(|| before.clone());

        // the patch applies to the raw object and yields exactly the intended Pod
        let changes = mutation.changes.clone().unwrap_or_default();
        let patch = serde_json::to_value(pod_patch(&before, &changes)).unwrap();
        prop_assert_eq!(mutation.changes.is_none(), patch.as_array().unwrap().is_empty());
        let mut patched = raw.clone();
        rfc6902::apply(&mut patched, &patch).map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
        let patched_pod: Pod = serde_json::from_value(patched.clone()).unwrap();
        prop_assert_eq!(&patched_pod, &after);
        // what k8s-openapi does not model is untouched
        prop_assert_eq!(&patched["metadata"]["x-unknown-meta"], "keep");
        prop_assert_eq!(&patched["spec"]["x-unknown-spec"], &json!([1, 2, 3]));
        for (i, container) in patched["spec"]["containers"].as_array().unwrap().iter().enumerate() {
            prop_assert_eq!(&container["x-unknown-container"], &json!({"n": i}));
        }

        // a second pass changes nothing
        let again = mutate_pod(&after, NS, &ctx);
        prop_assert!(again.changes.is_none(), "second pass changed the Pod: {:?}", again.changes);

        // every injected mount is read-only and its volume exists
        let spec = after.spec.as_ref().unwrap();
        let volumes: BTreeSet<&str> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
        for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
            for m in c.volume_mounts.iter().flatten().filter(|m| m.name.starts_with("secretgate-")) {
                prop_assert_eq!(m.read_only, Some(true));
                prop_assert!(volumes.contains(m.name.as_str()));
            }
        }
        // token Secrets are never mounted
        prop_assert!(!spec.volumes.iter().flatten().any(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("tok") && v.name != "own"));

        // with the ServiceAccount's Secrets present, the mutation adds no violation
        let sa_secrets_exist = case.sa_secrets.iter().all(|s| !case.missing[*s])
            && case.sa_pulls.iter().all(|p| !case.missing[SECRETS.len() + p]);
        if sa_secrets_exist {
            let added: Vec<String> = findings(&after, &ctx).difference(&findings(&before, &ctx)).cloned().collect();
            prop_assert!(added.is_empty(), "mutation added violations: {:?}", added);
        }
    }
}
