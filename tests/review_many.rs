//! `secretgate review` in CI: many inputs (files, directories, streams, Lists),
//! a summary that names every kind it did not check, lookups without a
//! cluster snapshot reported as unknown, the output formats, the exit flags,
//! and `--values` giving the decisions of the equivalent `--config`.

mod support;

use std::process::Output;

use serde_json::Value;
use support::{fixture, root, secretgate};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out: Output = secretgate(args, stdin.as_bytes());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &str) -> String {
    root().join(p).to_str().unwrap().to_string()
}

const LIST: &str = "apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Secret, metadata: {name: fine, namespace: apps}, stringData: {username: admin}}
  - {apiVersion: v1, kind: Secret, metadata: {name: dotted, namespace: apps}, stringData: {..bad: x}}
";

#[test]
fn a_list_with_one_bad_secret_exits_1_and_names_it() {
    let (code, out, _) = run(&["review", "-"], LIST);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DENIED   Secret apps/dotted (stdin[1])"), "{out}");
    assert!(out.contains("ALLOWED  Secret apps/fine (stdin[0])"), "{out}");
    assert!(out.contains("deny  [secret-keys] data[..bad]"), "{out}");
    assert!(out.contains("secretgate review: 2 objects: 2 checked (1 denied, 0 warned)"), "{out}");
}

#[test]
fn kinds_that_are_not_checked_are_named_never_passed_silently() {
    let limits = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: c, namespace: apps}\nspec: {limits: []}\n";
    // one input: the AdmissionReview answer on stdout, and a summary on stderr
    let (code, out, err) = run(&["review", "-"], limits);
    assert_eq!(code, 0);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    assert!(err.contains("not checked by secretgate: 1 LimitRange"), "{err}");
    let two = format!("{limits}---\n{}", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: apps}\n");
    let (code, out, _) = run(&["review", "-"], &two);
    assert_eq!(code, 0);
    assert!(
        out.contains("SKIPPED  LimitRange apps/c (stdin#1): the validate webhook does not check this kind"),
        "{out}"
    );
    assert!(
        out.contains("0 checked (0 denied, 0 warned); not checked by secretgate: 1 LimitRange, 1 Service"),
        "{out}"
    );
    // a ConfigMap is checked (configmap-credentials), unless that rule is off
    let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: apps}\ndata: {a: b}\n";
    let (code, _, err) = run(&["review", "-"], configmap);
    assert_eq!(code, 0);
    assert!(!err.contains("not checked"), "{err}");
}

#[test]
fn files_and_directories_are_read_recursively_with_a_summary() {
    let (code, out, err) = run(&["review", &path("examples")], "");
    assert_eq!(code, 1, "examples hold denied requests: {out}{err}");
    for want in [
        "DENIED   Secret apps/bad-keys (",
        "WARNED   Secret apps/echo-newline (",
        "SKIPPED  Namespace apps (",
        "not checked by secretgate: 2 Namespace, 1 Service, 4 ServiceAccount",
        "5 document(s) in the directories were not Kubernetes objects",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
    // several files, and `-` among them
    let (code, out, _) = run(&["review", &path("examples/requests/secret-good.yaml"), "-"], LIST);
    assert_eq!(code, 1);
    assert!(out.contains("3 objects: 3 checked"), "{out}");
    let (code, _, err) = run(&["review", "-", "-"], "");
    assert_eq!((code, err.trim()), (2, "secretgate review: - (stdin) is given twice"));
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["review", empty.path().to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("no *.yaml, *.yml or *.json file"), "{err}");
}

#[test]
fn without_a_snapshot_lookups_are_unknown_not_absent() {
    let pod = path("examples/requests/pod-missing-secret.yaml");
    let (code, out, err) = run(&["review", &pod], "");
    assert_eq!(code, 0, "nothing is known to be missing: {out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    let warnings = answer["response"]["warnings"].to_string();
    assert!(warnings.contains("no cluster snapshot was given (--cluster)"), "{warnings}");
    assert!(err.contains("note: no --cluster snapshot was given"), "{err}");
    // a Pod whose only reference is unknown is allowed, unless unknown lookups fail the run
    let only_missing = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: apps}\nspec:\n  containers: [{name: c, image: i}]\n  volumes: [{name: v, secret: {secretName: nowhere}}]\n";
    let (code, out, _) = run(&["review", "-o", "text", "-"], only_missing);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("whether secret apps/nowhere exists is unknown"), "{out}");
    let (code, _, _) = run(&["review", "--fail-on-unknown", "-"], only_missing);
    assert_eq!(code, 1);
    // with --cluster the same Pod is denied: absent is absent
    let cluster = path("examples/cluster");
    let (code, out, _) = run(&["review", "--cluster", &cluster, "-o", "text", "-"], only_missing);
    assert_eq!(code, 1);
    assert!(out.contains("[pod-secret-exists] spec.volumes[0].secret.secretName: Not found"), "{out}");
    // a Secret given with the Pod exists: they are applied together
    let both =
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: nowhere, namespace: apps}}\n---\n{only_missing}");
    let (code, out, _) = run(&["review", "--cluster", &cluster, "-"], &both);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn warnings_can_fail_the_run() {
    let echo = path("examples/requests/secret-echo-newline.yaml");
    assert_eq!(run(&["review", &echo], "").0, 0);
    assert_eq!(run(&["review", "--fail-on-warning", &echo], "").0, 1);
    assert_eq!(run(&["review", "--fail-on-warning", &path("examples/requests/secret-good.yaml")], "").0, 0);
}

#[test]
fn json_output_counts_what_text_shows() {
    let (code, out, _) =
        run(&["review", "-o", "json", "--cluster", &path("examples/cluster"), &path("examples/requests")], "");
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let results = report["results"].as_array().unwrap();
    let denied = results.iter().filter(|r| r["allowed"] == false).count();
    assert_eq!(report["summary"]["denied"], denied);
    assert_eq!(report["summary"]["objects"], results.len());
    let bad = results.iter().find(|r| r["name"] == "bad-keys").unwrap();
    assert_eq!(bad["rules"][0], serde_json::json!({"rule": "secret-keys", "action": "deny"}));
    assert_eq!(bad["denial"]["code"], 422);
}

#[test]
fn patched_output_is_the_pod_as_the_mutating_webhook_leaves_it() {
    let cluster = path("examples/cluster");
    let pod = path("examples/requests/pod-inject.yaml");
    let (code, out, err) = run(&["review", "--webhook", "mutate", "-o", "patched", "--cluster", &cluster, &pod], "");
    assert_eq!(code, 0, "{err}");
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(&out).unwrap();
    let patched = &docs[0];
    assert_eq!(patched["kind"], "Pod");
    assert_eq!(patched["metadata"]["annotations"]["secretgate.io/injected-secrets"], "db-credentials,api-token");
    let pulls: Vec<&str> =
        patched["spec"]["imagePullSecrets"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(pulls, ["my-registry", "regcred", "other-reg"]);
    // the same as applying the answer's patch by hand
    let (_, review, _) = run(&["review", "--webhook", "mutate", "--cluster", &cluster, &pod], "");
    let answer: Value = serde_json::from_str(&review).unwrap();
    assert!(answer["response"]["patch"].is_string());
    let (code, _, err) = run(&["review", "-o", "patched", &pod], "");
    assert_eq!(code, 2);
    assert!(err.contains("add --webhook mutate"), "{err}");
}

#[test]
fn values_give_the_decisions_of_the_equivalent_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy =
        "rules:\n  pod-secret-exists: {action: warn}\n  secret-size: {maxBytes: 100}\nworkloads: {action: inherit}\n";
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    let indented: String = policy.lines().map(|l| format!("  {l}\n")).collect();
    std::fs::write(
        dir.path().join("values.yaml"),
        format!("replicaCount: 3\nimage: {{repository: x}}\npolicy:\n{indented}"),
    )
    .unwrap();
    let cluster = path("examples/cluster");
    let inputs = path("examples/requests");
    let config = dir.path().join("policy.yaml");
    let values = dir.path().join("values.yaml");
    let by_config =
        run(&["review", "-o", "json", "--cluster", &cluster, "--config", config.to_str().unwrap(), &inputs], "");
    let by_values =
        run(&["review", "-o", "json", "--cluster", &cluster, "--values", values.to_str().unwrap(), &inputs], "");
    assert_eq!(by_config, by_values);
    let default = run(&["review", "-o", "json", "--cluster", &cluster, &inputs], "");
    assert_ne!(by_config.1, default.1, "the policy changes some decisions");
    // and the chart's own values file is the default policy
    let chart = path("charts/secretgate/values.yaml");
    assert_eq!(run(&["review", "-o", "json", "--cluster", &cluster, "--values", &chart, &inputs], "").1, default.1);
    // an unknown key names its path under policy
    std::fs::write(&values, "policy:\n  rules:\n    pod-secret-exists: {acton: warn}\n").unwrap();
    let (code, _, err) = run(&["review", "--values", values.to_str().unwrap(), &inputs], "");
    assert_eq!(code, 2);
    assert!(err.contains("policy.rules.pod-secret-exists.acton: unknown key"), "{err}");
}

#[test]
fn no_output_format_echoes_a_secret_value() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: apps\n  annotations: {note: sup3r-annotation-VALUE}\nstringData:\n  ..bad: sup3r-secret-VALUE\n  password: \"sup3r-other-VALUE\\n\"\n";
    let two = format!("{secret}---\n{}", secret.replace("name: s\n", "name: t\n"));
    for (args, input) in [
        (vec!["review", "-"], secret.to_string()),
        (vec!["review", "-o", "text", "-"], two.clone()),
        (vec!["review", "-o", "json", "-"], two.clone()),
        (vec!["review", "-o", "review", "-"], two.clone()),
        (vec!["review", "--webhook", "mutate", "-o", "patched", "-"], two.clone()),
    ] {
        let (_, out, err) = run(&args, &input);
        for value in ["sup3r-secret-VALUE", "sup3r-other-VALUE", "sup3r-annotation-VALUE"] {
            assert!(!out.contains(value) && !err.contains(value), "{args:?} echoed {value}:\n{out}\n{err}");
        }
    }
    let _ = fixture("cluster");
}
