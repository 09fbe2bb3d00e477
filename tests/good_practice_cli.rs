//! The good-practice rules through `secretgate review` on their examples in
//! `examples/requests/`: one violating and one clean example per rule, the
//! answer naming the rule, the field and the kind of problem, never a value.

mod support;

use serde_json::Value;
use support::{root, secretgate};

struct Answer {
    code: Option<i32>,
    response: Value,
    text: String,
}

fn review(example: &str, extra: &[&str]) -> Answer {
    let file = root().join("examples/requests").join(example);
    let cluster = root().join("examples/cluster");
    let mut args = vec!["review", "--cluster", cluster.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let out = secretgate(&args, b"");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let review: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{example}: {e}: {text}"));
    Answer { code: out.status.code(), response: review["response"].clone(), text }
}

fn warnings(answer: &Answer) -> Vec<&str> {
    answer.response["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

fn mentions(answer: &Answer, rule: &str) -> bool {
    answer.text.contains(&format!("[{rule}]"))
}

#[test]
fn pod_secret_env_is_audited_and_files_are_clean() {
    let env = review("pod-secret-env.yaml", &[]);
    assert_eq!((env.code, &env.response["allowed"]), (Some(0), &Value::Bool(true)), "{}", env.text);
    let note = env.response["auditAnnotations"]["pod-secret-env"].as_str().unwrap_or_default();
    assert!(note.starts_with("2 violations: [pod-secret-env] spec.containers[0].env[0].valueFrom.secretKeyRef: secret \"db-credentials\" is consumed as an environment variable"), "{}", env.text);
    assert!(note.contains(
        "spec.containers[0].envFrom[0].secretRef: secret \"api-token\" is consumed as environment variables"
    ));
    assert!(warnings(&env).is_empty(), "audit, not warn: {}", env.text);
    // turned up to deny in a policy, it denies with 403
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "rules: {pod-secret-env: {action: deny}}\n").unwrap();
    let denied = review("pod-secret-env.yaml", &["--config", policy.to_str().unwrap()]);
    assert_eq!(denied.code, Some(1));
    assert_eq!(denied.response["status"]["code"], 403);

    let files = review("pod-secret-files.yaml", &[]);
    assert_eq!(files.code, Some(0));
    assert!(!mentions(&files, "pod-secret-env"), "{}", files.text);
}

#[test]
fn configmap_credentials_warn_naming_the_key_and_never_the_value() {
    let leaky = review("configmap-credentials.yaml", &[]);
    assert_eq!((leaky.code, &leaky.response["allowed"]), (Some(0), &Value::Bool(true)), "{}", leaky.text);
    assert_eq!(
        warnings(&leaky),
        [
            "[configmap-credentials] data[DATABASE_URL]: looks like a URL with a password; credentials belong in a Secret, not a ConfigMap"
        ]
    );
    for fragment in ["fake-password-123", "fake-password", "password-123"] {
        assert!(!leaky.text.contains(fragment), "{fragment} in {}", leaky.text);
    }
    // an UPDATE that leaves the credential as it was (here: the same object) is not judged again
    let file = root().join("examples/requests/configmap-credentials.yaml");
    let update = review("configmap-credentials.yaml", &["--old", file.to_str().unwrap()]);
    assert_eq!(update.code, Some(0), "{}", update.text);
    assert!(warnings(&update).is_empty() && !mentions(&update, "configmap-credentials"), "{}", update.text);
    // one that changes the value is
    let clean_old = root().join("examples/requests/configmap-clean.yaml");
    let changed = review("configmap-credentials.yaml", &["--old", clean_old.to_str().unwrap()]);
    assert!(warnings(&changed).iter().any(|w| w.contains("data[DATABASE_URL]")), "{}", changed.text);
    let clean = review("configmap-clean.yaml", &[]);
    assert_eq!(clean.code, Some(0));
    assert!(warnings(&clean).is_empty() && !mentions(&clean, "configmap-credentials"), "{}", clean.text);
    // off: ConfigMaps are not checked at all
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "rules: {configmap-credentials: {action: off}}\n").unwrap();
    let off = review("configmap-credentials.yaml", &["--config", policy.to_str().unwrap()]);
    assert!(warnings(&off).is_empty(), "{}", off.text);
    assert!(off.text.contains("not checked by secretgate: 1 ConfigMap"), "{}", off.text);
}

#[test]
fn a_legacy_token_secret_warns_and_a_projected_token_is_clean() {
    let legacy = review("secret-legacy-token.yaml", &[]);
    assert_eq!(legacy.code, Some(0), "{}", legacy.text);
    assert_eq!(
        warnings(&legacy),
        [
            "[secret-legacy-token] type: a service-account-token Secret holds a token that never expires; prefer the TokenRequest API (kubectl create token, projected serviceAccountToken volumes)"
        ]
    );
    let projected = review("pod-projected-token.yaml", &[]);
    assert_eq!(projected.code, Some(0));
    assert!(warnings(&projected).is_empty() && projected.response["auditAnnotations"].is_null(), "{}", projected.text);
    // an UPDATE of an existing token Secret (the token controller filling it in) is not a new token
    let file = root().join("examples/requests/secret-legacy-token.yaml");
    let update = review("secret-legacy-token.yaml", &["--old", file.to_str().unwrap()]);
    assert!(!mentions(&update, "secret-legacy-token"), "{}", update.text);
}

#[test]
fn workload_templates_get_the_pod_rules_with_their_path() {
    let deployment = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
            {"name": "DB_URL", "value": "mysql://root:fake-root-pw@db/app"}]}]}}}}"#;
    let cluster = root().join("examples/cluster");
    let out = secretgate(&["review", "--cluster", cluster.to_str().unwrap(), "-"], deployment.as_bytes());
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let warnings = answer["response"]["warnings"].to_string();
    assert!(
        warnings.contains("[configmap-credentials] spec.template.spec.containers[0].env[1].value (DB_URL): contains a URL with a password"),
        "{text}"
    );
    let audit = answer["response"]["auditAnnotations"]["pod-secret-env"].as_str().unwrap_or_default();
    assert!(audit.contains("spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef"), "{text}");
    assert!(!text.contains("fake-root-pw"), "{text}");
}
