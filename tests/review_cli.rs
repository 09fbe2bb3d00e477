//! `secretgate review` as a user meets it: exit statuses, one-line reasons
//! for unusable input, manifests and AdmissionReviews, stdin and files.

mod support;

use serde_json::Value;
use support::{fixture, root, secretgate};

fn review_stdin(input: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["review"];
    args.extend_from_slice(extra);
    args.push("-");
    let out = secretgate(&args, input.as_bytes());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_input_exits_2_with_one_line() {
    let envelope = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview""#;
    let cases = [
        ("truncated JSON", format!("{envelope},\"request\":{{\"uid\":\"x\"")),
        ("wrong types", format!("{envelope},\"request\":{{\"uid\":5}}}}")),
        ("invalid base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: 'not base64!'}\n".to_string()),
        ("no request", format!("{envelope}}}")),
        (
            "unknown apiVersion",
            r#"{"apiVersion":"admission.k8s.io/v9","kind":"AdmissionReview","request":{}}"#.to_string(),
        ),
        ("empty file", String::new()),
        ("only whitespace", "  \n\n".to_string()),
        ("no kind", "a: 1\n".to_string()),
        ("two documents", "kind: Secret\n---\nkind: Secret\n".to_string()),
        ("a scalar", "42\n".to_string()),
        ("binary", "\u{0}\u{1}\u{2}".to_string()),
    ];
    for (what, input) in cases {
        let (code, stdout, stderr) = review_stdin(&input, &[]);
        assert_eq!(code, Some(2), "{what}: stdout {stdout} stderr {stderr}");
        assert!(stdout.is_empty(), "{what}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.starts_with("secretgate review: "), "{what}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{what}: {stderr}");
    }
}

#[test]
fn exit_status_follows_the_decision() {
    let good = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n";
    let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {'a b': v}\n";
    assert_eq!(review_stdin(good, &[]).0, Some(0));
    let (code, stdout, _) = review_stdin(bad, &[]);
    assert_eq!(code, Some(1));
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["uid"], "00000000-0000-0000-0000-000000000000");
}

#[test]
fn manifests_become_create_or_update_requests() {
    let examples = root().join("examples/requests");
    let old = examples.join("secret-immutable-old.yaml");
    let new = examples.join("secret-immutable-new.yaml");
    let out = secretgate(&["review", new.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "a CREATE of an immutable Secret is fine");
    let out = secretgate(&["review", "--old", old.to_str().unwrap(), new.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "changing its data on UPDATE is not");
    assert!(String::from_utf8_lossy(&out.stdout).contains("[secret-immutable] data: Forbidden"));
}

#[test]
fn yaml_and_json_reviews_give_the_same_answer() {
    let json_path = fixture("admission/validate/secret-keys-invalid.request.json");
    let json_text = std::fs::read_to_string(&json_path).unwrap();
    let value: Value = serde_json::from_str(&json_text).unwrap();
    let yaml_text = serde_saphyr::to_string(&value).unwrap();
    let from_file = secretgate(&["review", json_path.to_str().unwrap()], b"");
    let (code, from_yaml, _) = review_stdin(&yaml_text, &[]);
    assert_eq!(from_file.status.code(), code);
    assert_eq!(String::from_utf8_lossy(&from_file.stdout), from_yaml);
}

#[test]
fn old_and_namespace_do_not_apply_to_reviews() {
    let review = std::fs::read_to_string(fixture("admission/validate/secret-create-valid.request.json")).unwrap();
    let (code, _, stderr) = review_stdin(&review, &["--namespace", "x"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--old, --namespace, --as and --as-group apply to a plain manifest"), "{stderr}");
}

#[test]
fn bad_config_and_cluster_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("policy.yaml");
    std::fs::write(&config, "rules:\n  pod-envfrom-names: {names: lax}\n").unwrap();
    let (code, _, stderr) = review_stdin("kind: Secret\n", &["--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("rules.pod-envfrom-names.names: unknown value \"lax\""), "{stderr}");
    let (code, _, stderr) = review_stdin("kind: Secret\n", &["--cluster", "/does/not/exist"]);
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("secretgate review: --cluster /does/not/exist:"), "{stderr}");
}

#[test]
fn snapshot_notes_go_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n").unwrap();
    let good = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
    let (code, stdout, stderr) = review_stdin(good, &["--cluster", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<Value>(&stdout).is_ok());
    assert!(stderr.contains("note: ignored v1 ConfigMap default/cm"), "{stderr}");
}

#[test]
fn help_explains_every_flag() {
    let out = secretgate(&["review", "--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in
        ["--webhook", "--cluster", "--config", "--old", "--namespace", "[env: SECRETGATE_CLUSTER=]", "Exit status"]
    {
        assert!(help.contains(flag), "review --help lacks {flag}:\n{help}");
    }
}

#[test]
fn help_keeps_global_flags_apart_and_listen_suggests_an_ip() {
    let out = secretgate(&["serve", "--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    let global = help.find("Global options:").expect("a Global options section");
    assert!(help.find("--log-level").unwrap() > global, "{help}");
    assert!(help.find("--listen").unwrap() < global, "{help}");
    let out = secretgate(&["serve", "--listen", "localhost:9443"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host names are not resolved: use 127.0.0.1:9443"), "{err}");
}

#[test]
fn the_readme_documents_every_flag_of_every_subcommand() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for sub in ["serve", "review", "test", "probe", "certs", "audit"] {
        let out = secretgate(&[sub, "--help"], b"");
        let help = String::from_utf8_lossy(&out.stdout);
        let flags: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| !["--help", "--version"].contains(w))
            .collect();
        assert!(!flags.is_empty(), "{sub}: {help}");
        for flag in flags {
            assert!(readme.contains(&format!("`{flag}`")), "README.md does not document {sub} {flag}");
        }
    }
}

#[test]
fn events_that_would_be_sent_are_printed_on_stderr() {
    let cluster = fixture("cluster");
    let owned = fixture("admission/validate/pod-owned-envfrom-events.request.json");
    let out = secretgate(&["review", "--cluster", cluster.to_str().unwrap(), owned.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stderr.lines().filter(|l| l.contains("event (not sent)")).collect::<Vec<_>>(),
        vec![
            "secretgate review: event (not sent): Warning InvalidEnvironmentVariableNames on ReplicaSet team-a/web-6d4cf56db6: [pod-envfrom-names] spec.containers[0].envFrom[0]: Keys [1badkey, 2alsobad] from the EnvFrom secret team-a/env-keys are not valid environment variable names"
        ]
    );
    let dry = fixture("admission/validate/pod-owned-envfrom-dry-run.request.json");
    let out = secretgate(&["review", "--cluster", cluster.to_str().unwrap(), dry.to_str().unwrap()], b"");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("event"), "no Events for dry runs");
}

#[test]
fn zero_polling_intervals_are_refused_naming_the_flag() {
    for flag in ["--config-reload-interval", "--tls-reload-interval", "--resync-interval"] {
        let out = secretgate(&["serve", flag, "0s"], b"");
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("must be more than 0"), "{flag}: {err}");
    }
}
