//! The mutating webhook end to end through `secretgate review --webhook
//! mutate`: each patch is applied to the request's object by an independent
//! RFC 6902 implementation, the result is what policy.md §3 describes, a
//! second pass yields no patch, and the result passes the validating webhook.

mod support;

use serde_json::{Value, json};
use support::{fixture, readable, rfc6902, secretgate};

fn review(webhook: &str, body: &Value) -> Value {
    review_with(webhook, body, None)
}

fn review_with(webhook: &str, body: &Value, config: Option<&std::path::Path>) -> Value {
    let cluster = fixture("cluster");
    let mut args = vec!["review", "--webhook", webhook, "--cluster", cluster.to_str().unwrap()];
    if let Some(config) = config {
        args.extend(["--config", config.to_str().unwrap()]);
    }
    args.push("-");
    let out = secretgate(&args, body.to_string().as_bytes());
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    readable(serde_json::from_slice(&out.stdout).unwrap())
}

/// The request fixture, its answer, and the object with the patch applied.
fn mutated(case: &str) -> (Value, Value, Value) {
    let path = fixture(&format!("admission/mutate/{case}.request.json"));
    let request: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let config = support::sibling(&path, ".config.yaml");
    let answer = review_with("mutate", &request, config.exists().then_some(config.as_path()));
    let mut object = request["request"]["object"].clone();
    if let Some(patch) = answer["response"].get("patch") {
        rfc6902::apply(&mut object, patch).unwrap_or_else(|e| panic!("{case}: the patch does not apply: {e}"));
    }
    (request, answer, object)
}

fn with_object(request: &Value, object: &Value) -> Value {
    let mut again = request.clone();
    again["request"]["object"] = object.clone();
    again
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().map(|l| l.iter().map(|e| e["name"].as_str().unwrap()).collect()).unwrap_or_default()
}

fn mounts(container: &Value) -> Vec<(&str, &str, bool)> {
    container["volumeMounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap(), m["readOnly"] == true))
                .collect()
        })
        .unwrap_or_default()
}

const ALL: [&str; 11] = [
    "pod-after-service-account-plugin",
    "pod-conflicting-mount-path",
    "pod-if-empty-keeps-own",
    "pod-inject-secrets",
    "pod-merge-pull-secrets",
    "pod-merge-pull-secrets-existing",
    "pod-mirror",
    "pod-no-service-account-changes",
    "pod-opt-out",
    "pod-unknown-fields",
    "pod-update-untouched",
];

#[test]
fn a_second_pass_over_the_patched_pod_yields_no_patch() {
    for case in ALL {
        let (request, _, object) = mutated(case);
        let config = fixture(&format!("admission/mutate/{case}.config.yaml"));
        let again = review_with("mutate", &with_object(&request, &object), config.exists().then_some(config.as_path()));
        assert!(
            again["response"].get("patch").is_none(),
            "{case}: second pass patched: {}",
            again["response"]["patch"]
        );
    }
}

#[test]
fn the_patched_pods_pass_the_validating_webhook() {
    for case in ["pod-after-service-account-plugin", "pod-inject-secrets", "pod-merge-pull-secrets-existing"] {
        let (request, _, object) = mutated(case);
        let answer = review("validate", &with_object(&request, &object));
        assert_eq!(answer["response"]["allowed"], true, "{case}: {}", answer["response"]);
        assert!(answer["response"].get("warnings").is_none(), "{case}: {}", answer["response"]);
    }
}

#[test]
fn pull_secrets_merge_after_the_pods_own() {
    let (_, _, object) = mutated("pod-merge-pull-secrets");
    assert_eq!(names(&object["spec"]["imagePullSecrets"]), ["mine", "regcred", "other-reg"]);
    let (_, _, object) = mutated("pod-merge-pull-secrets-existing");
    assert_eq!(names(&object["spec"]["imagePullSecrets"]), ["other-reg", "regcred"]);
    let (_, answer, _) = mutated("pod-if-empty-keeps-own");
    assert!(answer["response"].get("patch").is_none(), "ifEmpty keeps a Pod's own list");
}

#[test]
fn secrets_are_mounted_read_only_in_every_container_and_init_container() {
    let (_, _, object) = mutated("pod-inject-secrets");
    let spec = &object["spec"];
    assert_eq!(names(&spec["volumes"]), ["secretgate-db", "secretgate-api"]);
    assert_eq!(spec["volumes"][0]["secret"], json!({"secretName": "db"}));
    let want = vec![("secretgate-db", "/var/run/secrets/secretgate.io/db", true), ("secretgate-api", "/etc/api", true)];
    for container in spec["containers"].as_array().unwrap().iter().chain(spec["initContainers"].as_array().unwrap()) {
        assert_eq!(mounts(container), want, "{}", container["name"]);
    }
    assert_eq!(object["metadata"]["annotations"]["secretgate.io/injected-secrets"], "db,api");
    // the ServiceAccount also lists builder-token, a service-account-token Secret
    assert!(!object.to_string().contains("builder-token"));
}

#[test]
fn pods_after_the_service_account_plugin_keep_its_work() {
    let (request, _, object) = mutated("pod-after-service-account-plugin");
    let before = &request["request"]["object"];
    assert_eq!(object["spec"]["imagePullSecrets"], before["spec"]["imagePullSecrets"], "already copied by upstream");
    assert_eq!(object["spec"]["volumes"][0], before["spec"]["volumes"][0], "kube-api-access volume first and intact");
    for list in ["containers", "initContainers"] {
        for container in object["spec"][list].as_array().unwrap() {
            let m = mounts(container);
            assert_eq!(m[0], ("kube-api-access-7xk2p", "/var/run/secrets/kubernetes.io/serviceaccount", true));
            assert_eq!(m.len(), 3, "{}", container["name"]);
        }
    }
    // everything else the API server defaulted is untouched
    for field in ["tolerations", "dnsPolicy", "priority", "enableServiceLinks", "preemptionPolicy", "schedulerName"] {
        assert_eq!(object["spec"][field], before["spec"][field], "{field}");
    }
    assert_eq!(object["metadata"]["ownerReferences"], before["metadata"]["ownerReferences"]);
}

#[test]
fn a_conflicting_mount_path_leaves_every_mount_out_and_still_merges_pull_secrets() {
    let (request, answer, object) = mutated("pod-conflicting-mount-path");
    let warnings = answer["response"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("/etc/api"), "the warning names the path: {warnings:?}");
    assert_eq!(object["spec"]["volumes"], request["request"]["object"]["spec"]["volumes"]);
    assert_eq!(mounts(&object["spec"]["containers"][0]).len(), 1);
    assert!(object["metadata"].get("annotations").is_none());
    assert_eq!(names(&object["spec"]["imagePullSecrets"]), ["mine", "regcred", "other-reg"]);
}

#[test]
fn fields_unknown_to_k8s_openapi_survive_the_patch() {
    let (_, _, object) = mutated("pod-unknown-fields");
    assert_eq!(object["spec"]["futureSchedulingHint"], json!({"zone": "a"}));
    assert_eq!(object["spec"]["containers"][0]["futureProbe"], json!({"kind": "new"}));
    assert_eq!(object["metadata"]["futureMetadataField"], "keep");
    assert_eq!(object["metadata"]["annotations"]["example.test/owner"], "team-a");
    assert_eq!(object["metadata"]["annotations"]["secretgate.io/injected-secrets"], "db,api");
}

#[test]
fn opt_outs_mirror_pods_and_updates_are_untouched() {
    for case in ["pod-opt-out", "pod-mirror", "pod-update-untouched", "pod-no-service-account-changes"] {
        let (_, answer, _) = mutated(case);
        assert!(answer["response"].get("patch").is_none(), "{case}");
        assert!(answer["response"].get("patchType").is_none(), "{case}");
    }
}
