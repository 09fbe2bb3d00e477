//! Per-namespace policy through `secretgate review`, as a user meets it: the
//! same Pod denied in a namespace labelled `env=prod`, warned in one labelled
//! `env=dev`, allowed for an exempted group with the exemption named in the
//! audit annotations, and `--explain` saying where each action came from.

mod support;

use serde_json::Value;
use support::{fixture, secretgate};

struct Answer {
    code: Option<i32>,
    response: Value,
    stderr: String,
}

fn review(namespace: &str, extra: &[&str]) -> Answer {
    let (policy, cluster, pod) =
        (fixture("overrides/policy.yaml"), fixture("overrides/cluster.yaml"), fixture("overrides/pod.yaml"));
    let mut args = vec![
        "review",
        "--config",
        policy.to_str().unwrap(),
        "--cluster",
        cluster.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    args.push(pod.to_str().unwrap());
    let out = secretgate(&args, b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let review: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    Answer {
        code: out.status.code(),
        response: review["response"].clone(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

#[test]
fn the_same_pod_is_denied_in_prod_and_warned_in_dev() {
    let prod = review("shop", &[]);
    assert_eq!(prod.code, Some(1), "{}", prod.stderr);
    assert_eq!(prod.response["allowed"], false);
    assert!(prod.response["status"]["message"].as_str().unwrap().starts_with("[pod-secret-exists]"));
    assert_eq!(prod.response["auditAnnotations"]["policy"], "production", "the override that matched is named");

    let dev = review("sandbox", &[]);
    assert_eq!(dev.code, Some(0), "{}", dev.stderr);
    assert_eq!(dev.response["allowed"], true);
    assert!(warnings(&dev.response).iter().any(|w| w.starts_with("[pod-secret-exists]")), "{:?}", dev.response);
    assert_eq!(dev.response["auditAnnotations"]["policy"], "development");

    // a namespace no override selects: the file's own action, and no policy annotation
    let plain = review("default", &[]);
    assert_eq!(plain.code, Some(1));
    assert!(plain.response["auditAnnotations"].get("policy").is_none(), "{:?}", plain.response);
    // one the snapshot does not hold is matched by name only
    let by_name = review("payments", &[]);
    assert_eq!(by_name.response["auditAnnotations"]["policy"], "production");
}

#[test]
fn an_exempted_group_is_allowed_and_the_exemption_is_named() {
    let exempt = review("shop", &["--as", "alice", "--as-group", "system:authenticated,break-glass"]);
    assert_eq!(exempt.code, Some(0), "{}", exempt.stderr);
    assert_eq!(exempt.response["allowed"], true);
    assert!(warnings(&exempt.response).is_empty(), "{:?}", exempt.response);
    let annotations = &exempt.response["auditAnnotations"];
    assert_eq!(annotations["policy"], "production, break-glass");
    let note = annotations["pod-secret-exists"].as_str().unwrap();
    assert!(note.starts_with("exempt by break-glass: 1 violation: [pod-secret-exists]"), "{note}");
    // another group is not exempt
    let other = review("shop", &["--as", "bob", "--as-group", "developers"]);
    assert_eq!(other.code, Some(1));
}

#[test]
fn an_admission_review_is_exempt_by_its_own_user_info() {
    let policy = fixture("overrides/policy.yaml");
    let cluster = fixture("overrides/cluster.yaml");
    let pod: Value = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "i", "env": [{"name": "X", "valueFrom":
            {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}]}]}});
    let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "shop", "operation": "CREATE",
        "userInfo": {"username": "oncall", "groups": ["break-glass"]}, "object": pod}});
    let args = ["review", "--config", policy.to_str().unwrap(), "--cluster", cluster.to_str().unwrap(), "-"];
    let out = secretgate(&args, review.to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["response"]["auditAnnotations"]["policy"], "production, break-glass");
    // --as belongs to manifests: a review says who sent it itself
    let out = secretgate(&["review", "--as", "x", "-"], review.to_string().as_bytes());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_names_where_every_action_came_from() {
    let answer = review("shop", &["--as", "alice", "--as-group", "break-glass", "--explain"]);
    let text = &answer.stderr;
    assert!(text.contains("namespace shop: env=prod, kubernetes.io/metadata.name=shop"), "{text}");
    assert!(text.contains("requester alice (groups: break-glass, system:authenticated)"), "{text}");
    assert!(text.contains("overrides: production (overrides[1])"), "{text}");
    assert!(text.contains("exemptions: break-glass (exemptions[0])"), "{text}");
    let line = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    let exists = line("rules.pod-secret-exists.action");
    assert!(exists.contains("deny") && exists.contains("policy file"), "{exists}");
    assert!(exists.contains("here exempt by break-glass; 1 violation"), "{exists}");
    let keys = line("rules.pod-secret-keys.action");
    assert!(keys.contains("override production (overrides[1])"), "{keys}");
    assert!(line("rules.secret-size.maxBytes").contains("default"));
    // stdout is still exactly the AdmissionReview
    assert_eq!(answer.response["allowed"], true);

    let dev = review("sandbox", &["--explain"]);
    let exists = dev.stderr.lines().find(|l| l.contains("rules.pod-secret-exists.action")).unwrap().to_string();
    assert!(exists.contains("warn") && exists.contains("override development (overrides[0])"), "{exists}");
}
