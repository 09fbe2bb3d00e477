use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use serde_json::{Value, json};

use super::*;
use crate::policy::settings::Settings;
use crate::policy::view::{Inventory, SecretSummary, ServiceAccountSummary};

fn pod(spec: Value) -> Pod {
    pod_with(json!({"name": "p"}), spec)
}

fn pod_with(metadata: Value, spec: Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})).unwrap()
}

fn sa(annotations: Value, secrets: &[&str], pulls: &[&str]) -> ServiceAccountSummary {
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "sa", "annotations": annotations},
        "secrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
        "imagePullSecrets": pulls.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
    }))
    .unwrap();
    ServiceAccountSummary::from_service_account(&sa)
}

fn view(sa: ServiceAccountSummary) -> Inventory {
    Inventory::default()
        .with_secret("ns", "db", SecretSummary::with_keys("Opaque", &["password"]))
        .with_secret("ns", "api", SecretSummary::with_keys("Opaque", &["token"]))
        .with_secret("ns", "tok", SecretSummary::with_keys("kubernetes.io/service-account-token", &["token"]))
        .with_service_account("ns", "default", sa)
}

fn mutate(pod: &Pod, view: &Inventory, settings: &Settings) -> Mutation {
    mutate_pod(pod, "ns", &Context { settings, view, now_unix: 0 })
}

/// The intended Pod of a mutation of `pod`.
fn after(pod: &Pod, view: &Inventory, settings: &Settings) -> Option<Pod> {
    mutate(pod, view, settings).pod(pod)
}

fn pull_names(pod: &Pod) -> Vec<String> {
    pod.spec.as_ref().unwrap().image_pull_secrets.iter().flatten().map(|r| r.name.clone()).collect()
}

fn containers() -> Value {
    json!([{"name": "app", "image": "i"}, {"name": "sidecar", "image": "s"}])
}

// === imagePullSecrets ===

#[test]
fn merge_appends_missing_names_in_service_account_order() {
    let v = view(sa(json!({}), &[], &["regcred", "other-reg"]));
    let out = after(
        &pod(json!({"containers": containers(), "imagePullSecrets": [{"name": "mine"}]})),
        &v,
        &Settings::default(),
    );
    assert_eq!(pull_names(&out.unwrap()), ["mine", "regcred", "other-reg"]);
    let out = after(
        &pod(json!({"containers": containers(), "imagePullSecrets": [{"name": "other-reg"}]})),
        &v,
        &Settings::default(),
    );
    assert_eq!(pull_names(&out.unwrap()), ["other-reg", "regcred"]);
}

#[test]
fn if_empty_copies_only_into_an_empty_list() {
    let v = view(sa(json!({}), &[], &["regcred"]));
    let mut settings = Settings::default();
    settings.image_pull_secrets.mode = PullSecretMode::IfEmpty;
    let own = pod(json!({"containers": containers(), "imagePullSecrets": [{"name": "mine"}]}));
    assert_eq!(after(&own, &v, &settings), None);
    let none = pod(json!({"containers": containers()}));
    assert_eq!(pull_names(&after(&none, &v, &settings).unwrap()), ["regcred"]);
}

#[test]
fn nothing_to_merge_leaves_the_pod_alone() {
    let v = view(sa(json!({}), &[], &["regcred"]));
    let done = pod(json!({"containers": containers(), "imagePullSecrets": [{"name": "regcred"}]}));
    assert_eq!(mutate(&done, &v, &Settings::default()), Mutation::default());
    let v = view(sa(json!({}), &[], &[]));
    assert_eq!(mutate(&pod(json!({"containers": containers()})), &v, &Settings::default()), Mutation::default());
}

// === secret mounts ===

fn injecting(paths: Value) -> Inventory {
    let mut annotations = json!({"secretgate.io/inject-secrets": "true"});
    annotations.as_object_mut().unwrap().extend(paths.as_object().unwrap().clone());
    view(sa(annotations, &["db", "api", "tok", "ghost"], &[]))
}

#[test]
fn mounts_every_candidate_into_every_container_and_init_container() {
    let p = pod(json!({"containers": containers(), "initContainers": [{"name": "init", "image": "i"}],
        "ephemeralContainers": [{"name": "debug", "image": "d"}]}));
    let out = mutate(&p, &injecting(json!({"secretgate.io/mount-path.api": "/etc/api"})), &Settings::default());
    let pod = out.pod(&p).unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let volumes: Vec<(&str, Option<&str>)> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v.secret.as_ref().and_then(|s| s.secret_name.as_deref())))
        .collect();
    assert_eq!(volumes, [("secretgate-db", Some("db")), ("secretgate-api", Some("api"))]);
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let mounts: Vec<(&str, &str, Option<bool>)> =
            c.volume_mounts.iter().flatten().map(|m| (m.name.as_str(), m.mount_path.as_str(), m.read_only)).collect();
        assert_eq!(
            mounts,
            [
                ("secretgate-db", "/var/run/secrets/secretgate.io/db", Some(true)),
                ("secretgate-api", "/etc/api", Some(true))
            ],
            "container {}",
            c.name
        );
    }
    assert!(spec.ephemeral_containers.as_ref().unwrap()[0].volume_mounts.is_none(), "ephemeral containers get none");
    assert_eq!(pod.metadata.annotations.as_ref().unwrap()[INJECTED_SECRETS], "db,api");
    // the token Secret is never mounted; the missing one is a warning and unresolved
    assert_eq!(
        out.warnings,
        [r#"[inject-secrets] secret "ns/ghost" listed by service account default does not exist; not mounted"#]
    );
    assert_eq!(out.unresolved.len(), 1);
}

#[test]
fn a_second_pass_changes_nothing() {
    let v = injecting(json!({}));
    let p = pod(json!({"containers": containers(), "imagePullSecrets": [{"name": "x"}]}));
    let once = after(&p, &v, &Settings::default()).unwrap();
    let twice = mutate(&once, &v, &Settings::default());
    assert_eq!(twice.changes, None);
}

#[test]
fn a_container_added_between_passes_gets_the_mounts() {
    let v = injecting(json!({}));
    let mut once = after(&pod(json!({"containers": containers()})), &v, &Settings::default()).unwrap();
    once.spec.as_mut().unwrap().containers.push(serde_json::from_value(json!({"name": "late", "image": "l"})).unwrap());
    let twice = after(&once, &v, &Settings::default()).unwrap();
    let late = &twice.spec.as_ref().unwrap().containers[2];
    assert_eq!(late.volume_mounts.as_ref().unwrap().len(), 2);
    assert_eq!(twice.spec.as_ref().unwrap().volumes.as_ref().unwrap().len(), 2, "no volume twice");
}

#[test]
fn secrets_the_pod_mounts_itself_are_left_to_it() {
    let p = pod(json!({"containers": containers(), "volumes": [{"name": "mine", "secret": {"secretName": "db"}}]}));
    let out = after(&p, &injecting(json!({})), &Settings::default()).unwrap();
    let names: Vec<String> = out.spec.unwrap().volumes.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["mine", "secretgate-api"]);
    assert_eq!(out.metadata.annotations.unwrap()[INJECTED_SECRETS], "api");
}

#[test]
fn a_conflicting_path_stops_every_mount_but_not_the_pull_secrets() {
    let v = view(sa(json!({"secretgate.io/inject-secrets": "true"}), &["db", "api"], &["regcred"]));
    let p = pod(json!({"containers": [{"name": "app", "image": "i",
        "volumeMounts": [{"name": "cache", "mountPath": "/var/run/secrets/secretgate.io/api"}]}],
        "volumes": [{"name": "cache", "emptyDir": {}}]}));
    let out = mutate(&p, &v, &Settings::default());
    assert_eq!(
        out.warnings,
        [
            "[inject-secrets] spec.containers[0].volumeMounts[0]: /var/run/secrets/secretgate.io/api is already a mount of volume cache in container app; no secrets were mounted"
        ]
    );
    let pod = out.pod(&p).unwrap();
    assert_eq!(pull_names(&pod), ["regcred"]);
    assert_eq!(pod.spec.as_ref().unwrap().volumes.as_ref().unwrap().len(), 1, "no volume added");
    assert!(pod.metadata.annotations.is_none(), "no annotation without mounts");
}

#[test]
fn a_foreign_volume_with_the_generated_name_is_a_conflict() {
    let p = pod(json!({"containers": containers(), "volumes": [{"name": "secretgate-db", "emptyDir": {}}]}));
    let out = mutate(&p, &injecting(json!({})), &Settings::default());
    assert_eq!(out.changes, None);
    assert!(
        out.warnings.iter().any(|w| w.contains("volume secretgate-db already exists with another source")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn two_secrets_at_one_path_and_bad_annotated_paths_are_conflicts() {
    let same = injecting(json!({"secretgate.io/mount-path.api": "/var/run/secrets/secretgate.io/db"}));
    let out = mutate(&pod(json!({"containers": containers()})), &same, &Settings::default());
    assert_eq!(out.changes, None);
    assert!(out.warnings.iter().any(|w| w.contains("secrets db and api of service account default both mount at")));
    for bad in ["relative", "/a/../b", "C:/x"] {
        let v = injecting(json!({"secretgate.io/mount-path.api": bad}));
        let out = mutate(&pod(json!({"containers": containers()})), &v, &Settings::default());
        assert_eq!(out.changes, None, "{bad}");
        assert!(out.warnings.iter().any(|w| w.contains("is not an absolute path")), "{bad}: {:?}", out.warnings);
    }
}

#[test]
fn opt_outs_and_mirror_pods_are_untouched() {
    let v = injecting(json!({}));
    for annotations in [json!({"secretgate.io/inject": "false"}), json!({"kubernetes.io/config.mirror": "abc"})] {
        let p = pod_with(json!({"name": "p", "annotations": annotations}), json!({"containers": containers()}));
        assert_eq!(mutate(&p, &v, &Settings::default()), Mutation::default());
    }
    let opted_in = pod_with(
        json!({"name": "p", "annotations": {"secretgate.io/inject": "true"}}),
        json!({"containers": containers()}),
    );
    assert!(after(&opted_in, &v, &Settings::default()).is_some());
}

#[test]
fn service_accounts_without_the_opt_in_get_no_mounts() {
    let v = view(sa(json!({"secretgate.io/inject-secrets": "yes"}), &["db"], &[]));
    assert_eq!(after(&pod(json!({"containers": containers()})), &v, &Settings::default()), None);
}

#[test]
fn disabled_injections_do_nothing() {
    let v = view(sa(json!({"secretgate.io/inject-secrets": "true"}), &["db"], &["regcred"]));
    let mut settings = Settings::default();
    settings.secret_mounts.enabled = false;
    let out = after(&pod(json!({"containers": containers()})), &v, &settings).unwrap();
    assert!(out.spec.unwrap().volumes.is_none());
    settings.image_pull_secrets.enabled = false;
    assert_eq!(mutate(&pod(json!({"containers": containers()})), &v, &settings), Mutation::default());
}

#[test]
fn a_missing_service_account_is_unresolved_and_untouched() {
    let out = mutate(
        &pod(json!({"serviceAccountName": "ghost", "containers": containers()})),
        &injecting(json!({})),
        &Settings::default(),
    );
    assert_eq!(out.changes, None);
    assert_eq!(out.unresolved.len(), 1);
}

#[test]
fn volume_names_are_stable_valid_labels() {
    assert_eq!(volume_name("db"), "secretgate-db");
    let dotted = volume_name("tls.example.com");
    assert_ne!(dotted, volume_name("tls-example-com"), "dots and dashes stay distinct");
    assert!(dotted.starts_with("secretgate-tls-example-com-"));
    let long = "a".repeat(253);
    let long_dotted = format!("{}.{}", "b".repeat(120), "c".repeat(120));
    for name in ["db", "tls.example.com", &long, &long_dotted, "x-", "9", "a.b.c"] {
        let v = volume_name(name);
        assert!(crate::policy::names::is_dns1123_label(&v), "{name} -> {v}");
        assert_eq!(v, volume_name(name), "stable");
    }
    assert_ne!(volume_name(&long), volume_name(&format!("{}b", "a".repeat(252))));
    // the hash never changes across builds: it is part of every injected Pod
    assert_eq!(volume_name("tls.example.com"), "secretgate-tls-example-com-5d5e5869");
}
