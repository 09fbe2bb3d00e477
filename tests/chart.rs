//! Properties of the rendered Helm chart (real `helm template`): webhook
//! paths and ports match the server's flags, namespaces are excluded,
//! webhook semantics are as specified, the CA bundle wiring of each TLS mode,
//! and RBAC grants exactly what the secret view needs.
//!
//! Needs helm: `.ci/chart-tools.sh` installs it into `.tools/` (or set
//! SECRETGATE_HELM). Under CI (CI=true) a missing helm fails the test; on a
//! workstation without it the test says so and passes nothing off as checked.

mod support;

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use secretgate::config::{Cli, Command as Sub};
use serde_json::{Value, json};
use support::root;

fn helm() -> Option<PathBuf> {
    let candidates = [std::env::var_os("SECRETGATE_HELM").map(PathBuf::from), Some(root().join(".tools/helm/helm"))];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Render the chart with `--set` values; `None` (with a loud note) without helm outside CI.
fn render(sets: &[&str]) -> Option<Vec<Value>> {
    let Some(helm) = helm() else {
        if std::env::var_os("CI").is_some() {
            panic!("helm is required under CI: run .ci/chart-tools.sh");
        }
        eprintln!("NOTE: chart properties NOT checked: helm not found (run .ci/chart-tools.sh)");
        return None;
    };
    let mut cmd = Command::new(helm);
    cmd.args(["template", "rel", root().join("charts/secretgate").to_str().unwrap(), "-n", "sg-system"]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "helm template {sets:?}: {}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
    Some(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], k: &str) -> &'a Value {
    let found = kind(docs, k);
    assert_eq!(found.len(), 1, "exactly one {k}");
    found[0]
}

fn webhooks(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("WebhookConfiguration")))
        .flat_map(|d| d["webhooks"].as_array().unwrap())
        .collect()
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

fn arg(docs: &[Value], flag: &str) -> String {
    args(docs)
        .iter()
        .find_map(|a| a.strip_prefix(&format!("{flag}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {flag}"))
}

#[test]
fn the_deployment_args_are_flags_secretgate_accepts() {
    let Some(docs) = render(&[]) else { return };
    let mut argv = vec!["secretgate".to_string()];
    argv.extend(args(&docs));
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("the chart passes flags secretgate refuses: {e}"));
    let Sub::Serve(serve) = cli.command else { panic!("not serve") };
    assert_eq!(serve.listen.unwrap().port(), 8443);
    assert_eq!(serve.admin_listen.unwrap().port(), 8080);
    assert!(!serve.dev);
}

#[test]
fn webhook_paths_and_ports_match_the_server() {
    let Some(docs) = render(&[]) else { return };
    let service = one(&docs, "Service");
    let webhook_port = service["spec"]["ports"].as_array().unwrap().iter().find(|p| p["name"] == "webhook").unwrap();
    assert_eq!(webhook_port["targetPort"], "webhook");
    let ports = container(&docs)["ports"].as_array().unwrap();
    let port_of = |name: &str| ports.iter().find(|p| p["name"] == name).unwrap()["containerPort"].as_u64().unwrap();
    assert_eq!(arg(&docs, "--listen"), format!("0.0.0.0:{}", port_of("webhook")));
    assert_eq!(arg(&docs, "--admin-listen"), format!("0.0.0.0:{}", port_of("admin")));
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(container(&docs)[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    assert_eq!(container(&docs)["readinessProbe"]["httpGet"]["path"], "/readyz");
    for doc in kind(&docs, "ValidatingWebhookConfiguration") {
        for w in doc["webhooks"].as_array().unwrap() {
            assert_eq!(w["clientConfig"]["service"]["path"], "/validate");
        }
    }
    for doc in kind(&docs, "MutatingWebhookConfiguration") {
        for w in doc["webhooks"].as_array().unwrap() {
            assert_eq!(w["clientConfig"]["service"]["path"], "/mutate");
        }
    }
    for w in webhooks(&docs) {
        assert_eq!(w["clientConfig"]["service"]["port"], webhook_port["port"]);
        assert_eq!(w["clientConfig"]["service"]["name"], service["metadata"]["name"]);
        assert_eq!(w["clientConfig"]["service"]["namespace"], "sg-system");
    }
}

#[test]
fn webhook_semantics_are_as_specified() {
    let Some(docs) = render(&[]) else { return };
    let all = webhooks(&docs);
    assert_eq!(all.len(), 4);
    for w in &all {
        // Events are recorded for controller-made Pods, never on dry runs
        let side_effects = if w["name"] == "pods.validate.secretgate.io" { "NoneOnDryRun" } else { "None" };
        assert_eq!(w["sideEffects"], side_effects, "{}", w["name"]);
        assert_eq!(w["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(w["timeoutSeconds"], 5);
        // the workloads webhook only warns by default: it fails open
        let failure = if w["name"] == "workloads.validate.secretgate.io" { "Ignore" } else { "Fail" };
        assert_eq!(w["failurePolicy"], failure, "{}", w["name"]);
        let expressions = w["namespaceSelector"]["matchExpressions"].as_array().unwrap();
        let names = expressions.iter().find(|e| e["key"] == "kubernetes.io/metadata.name").unwrap();
        assert_eq!(names["operator"], "NotIn");
        let excluded = names["values"].as_array().unwrap();
        assert!(excluded.contains(&json!("sg-system")) && excluded.contains(&json!("kube-system")), "{excluded:?}");
        let ignore = expressions.iter().find(|e| e["key"] == "secretgate.io/ignore").unwrap();
        assert_eq!((ignore["operator"].clone(), ignore["values"].clone()), (json!("NotIn"), json!(["true"])));
    }
    let by_name = |n: &str| all.iter().find(|w| w["name"] == n).unwrap_or_else(|| panic!("no webhook {n}"));
    let secrets = by_name("secrets.validate.secretgate.io");
    assert_eq!(secrets["rules"][0]["resources"], json!(["secrets"]));
    assert_eq!(secrets["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
    let pods = by_name("pods.validate.secretgate.io");
    assert_eq!(pods["rules"][0]["resources"], json!(["pods"]));
    assert_eq!(pods["rules"][0]["operations"], json!(["CREATE"]));
    assert_eq!(pods["rules"][1]["resources"], json!(["pods/ephemeralcontainers"]));
    assert_eq!(pods["rules"][1]["operations"], json!(["UPDATE"]));
    let workloads = by_name("workloads.validate.secretgate.io");
    assert_eq!(workloads["clientConfig"]["service"]["path"], "/validate");
    assert_eq!(workloads["rules"][0]["apiGroups"], json!(["apps"]));
    assert_eq!(workloads["rules"][0]["resources"], json!(["deployments", "statefulsets", "daemonsets", "replicasets"]));
    assert_eq!(workloads["rules"][1]["apiGroups"], json!(["batch"]));
    assert_eq!(workloads["rules"][1]["resources"], json!(["jobs", "cronjobs"]));
    assert_eq!(workloads["rules"][1]["operations"], json!(["CREATE", "UPDATE"]));
    let mutate = by_name("pods.mutate.secretgate.io");
    assert_eq!(mutate["reinvocationPolicy"], "IfNeeded");
    assert_eq!(mutate["rules"][0]["operations"], json!(["CREATE"]));
    assert_eq!(mutate["matchConditions"].as_array().unwrap().len(), 2);

    let Some(docs) = render(&[
        "webhook.failurePolicy=Ignore",
        "webhook.timeoutSeconds=10",
        "webhook.excludeNamespaces={kube-system,monitoring}",
    ]) else {
        return;
    };
    for w in webhooks(&docs) {
        assert_eq!((w["failurePolicy"].clone(), w["timeoutSeconds"].clone()), (json!("Ignore"), json!(10)));
        assert!(
            w["namespaceSelector"]["matchExpressions"][0]["values"].as_array().unwrap().contains(&json!("monitoring"))
        );
    }
}

#[test]
fn the_deployment_survives_disruption_and_runs_locked_down() {
    let Some(docs) = render(&[]) else { return };
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"], json!({"maxUnavailable": 0, "maxSurge": 1}));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["topologySpreadConstraints"].as_array().unwrap().len(), 2);
    let c = container(&docs);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap() > 0);
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    // the drain fits in the termination grace period
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap();
    let drain = humantime::parse_duration(&arg(&docs, "--shutdown-grace-period")).unwrap().as_secs();
    assert!(sleep + drain < grace, "preStop {sleep}s + drain {drain}s must fit in {grace}s");
    assert_eq!(one(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
}

#[test]
fn the_policy_value_becomes_a_config_file_secretgate_reads() {
    let Some(docs) =
        render(&["policy.rules.pod-secret-exists.action=warn", "policy.inject.imagePullSecrets.mode=ifEmpty"])
    else {
        return;
    };
    let config = one(&docs, "ConfigMap")["data"]["config.yaml"].as_str().unwrap().to_string();
    let settings = secretgate::config::policy_file::parse(&config).unwrap();
    assert_eq!(settings.action(secretgate::policy::RuleId::PodSecretExists), secretgate::policy::Action::Warn);
    assert_eq!(settings.image_pull_secrets.mode, secretgate::policy::settings::PullSecretMode::IfEmpty);
    assert_eq!(arg(&docs, "--config"), "/etc/secretgate/config/config.yaml");
    let Some(docs) = render(&[]) else { return };
    let empty = one(&docs, "ConfigMap")["data"]["config.yaml"].as_str().unwrap().to_string();
    assert_eq!(secretgate::config::policy_file::parse(&empty).unwrap(), secretgate::policy::Settings::default());
}

fn tls_volume_secret(docs: &[Value]) -> String {
    let volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"].as_array().unwrap().clone();
    volumes.iter().find(|v| v["name"] == "tls").unwrap()["secret"]["secretName"].as_str().unwrap().to_string()
}

#[test]
fn self_signed_mode_wires_the_generated_ca_into_every_webhook() {
    let Some(docs) = render(&[]) else { return };
    let secret = one(&docs, "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["name"].as_str().unwrap(), tls_volume_secret(&docs));
    for w in webhooks(&docs) {
        assert_eq!(w["clientConfig"]["caBundle"], secret["data"]["ca.crt"], "{}", w["name"]);
    }
    assert!(kind(&docs, "Certificate").is_empty());
}

#[test]
fn cert_manager_mode_injects_the_ca_from_the_certificate() {
    let Some(docs) = render(&["tls.mode=certManager"]) else { return };
    let certificates = kind(&docs, "Certificate");
    let serving = certificates.iter().find(|c| c["spec"]["isCA"] != true).unwrap();
    assert_eq!(serving["spec"]["secretName"].as_str().unwrap(), tls_volume_secret(&docs));
    assert!(serving["spec"]["dnsNames"].as_array().unwrap().contains(&json!("rel-secretgate.sg-system.svc")));
    let inject = format!("sg-system/{}", serving["metadata"]["name"].as_str().unwrap());
    for doc in docs.iter().filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("WebhookConfiguration"))) {
        assert_eq!(doc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], inject.as_str());
    }
    for w in webhooks(&docs) {
        assert!(w["clientConfig"].get("caBundle").is_none(), "cainjector owns the caBundle");
    }
    assert!(kind(&docs, "Secret").is_empty(), "no Helm-generated key material");
    let Some(docs) = render(&[
        "tls.mode=certManager",
        "tls.certManager.issuerRef.name=corp",
        "tls.certManager.issuerRef.kind=ClusterIssuer",
    ]) else {
        return;
    };
    assert_eq!(one(&docs, "Certificate")["spec"]["issuerRef"], json!({"name": "corp", "kind": "ClusterIssuer"}));
    assert!(kind(&docs, "Issuer").is_empty());
}

#[test]
fn external_mode_uses_the_given_secret_and_bundle() {
    let Some(docs) =
        render(&["tls.mode=external", "tls.external.secretName=corp-tls", "tls.external.caBundle=Q0FCVU5ETEU="])
    else {
        return;
    };
    assert_eq!(tls_volume_secret(&docs), "corp-tls");
    for w in webhooks(&docs) {
        assert_eq!(w["clientConfig"]["caBundle"], "Q0FCVU5ETEU=");
    }
    assert!(kind(&docs, "Secret").is_empty() && kind(&docs, "Certificate").is_empty());
}

#[test]
fn an_external_server_gets_url_webhooks_and_no_in_cluster_server() {
    let sets = ["externalServer.url=https://10.1.2.3:9443/", "externalServer.caBundle=Q0FCVU5ETEU="];
    let Some(docs) = render(&sets) else { return };
    let hooks = webhooks(&docs);
    assert_eq!(hooks.len(), 4);
    for w in hooks {
        let url = w["clientConfig"]["url"].as_str().unwrap();
        let path = if w["name"].as_str().unwrap().contains(".mutate.") { "/mutate" } else { "/validate" };
        assert_eq!(url, format!("https://10.1.2.3:9443{path}"), "one slash between base URL and path");
        assert!(w["clientConfig"].get("service").is_none());
        assert_eq!(w["clientConfig"]["caBundle"], "Q0FCVU5ETEU=");
    }
    for absent in ["Deployment", "Service", "PodDisruptionBudget", "Secret", "Certificate", "ServiceMonitor"] {
        assert!(kind(&docs, absent).is_empty(), "no {absent} for a server outside the cluster");
    }
    // what the host process runs with is still installed
    for present in ["ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding"] {
        one(&docs, present);
    }
    // the same with monitoring and cert-manager asked for: nothing to select, no Certificate
    let Some(docs) = render(&[sets[0], sets[1], "serviceMonitor.enabled=true", "tls.mode=certManager"]) else { return };
    assert!(kind(&docs, "ServiceMonitor").is_empty() && kind(&docs, "Certificate").is_empty());
    for d in docs.iter().filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("WebhookConfiguration"))) {
        assert!(d["metadata"].get("annotations").is_none(), "no cainjector annotation: the caBundle is given");
    }
}

#[test]
fn an_external_server_needs_its_ca_bundle_and_an_https_url() {
    let Some(helm) = helm() else { return };
    for (sets, expect) in [
        (vec!["externalServer.url=https://127.0.0.1:9443"], "externalServer.caBundle is required"),
        (vec!["externalServer.url=http://127.0.0.1:9443", "externalServer.caBundle=QUJD"], "/externalServer/url"),
    ] {
        let mut cmd = Command::new(&helm);
        cmd.args(["template", "rel", root().join("charts/secretgate").to_str().unwrap()]);
        for set in sets {
            cmd.args(["--set", set]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expect), "{expect}: {stderr}");
    }
}

#[test]
fn rbac_grants_exactly_what_the_secret_view_and_events_need() {
    let read =
        json!({"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get", "list", "watch"]});
    let events = json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]});
    let Some(docs) = render(&[]) else { return };
    assert_eq!(one(&docs, "ClusterRole")["rules"], json!([read, events]));
    assert_eq!(arg(&docs, "--events"), "on");
    let env = &container(&docs)["env"][0];
    assert_eq!(
        (env["name"].clone(), env["valueFrom"]["fieldRef"]["fieldPath"].clone()),
        (json!("SECRETGATE_REPORTING_INSTANCE"), json!("metadata.name"))
    );
    for view in ["keys", "metadata"] {
        let Some(docs) = render(&[&format!("secretView={view}"), "events.enabled=false"]) else { return };
        assert_eq!(arg(&docs, "--secret-view"), view);
        let roles = kind(&docs, "ClusterRole");
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0]["rules"], json!([read]), "{view}: read only, nothing more");
        assert!(kind(&docs, "Role").is_empty());
        let binding = one(&docs, "ClusterRoleBinding");
        assert_eq!(binding["subjects"][0]["name"], one(&docs, "ServiceAccount")["metadata"]["name"]);
    }
}

#[test]
fn monitoring_is_optional_and_alerts_use_real_metrics() {
    let Some(docs) = render(&[]) else { return };
    assert!(kind(&docs, "ServiceMonitor").is_empty() && kind(&docs, "PrometheusRule").is_empty());
    let Some(docs) = render(&["serviceMonitor.enabled=true", "prometheusRule.enabled=true"]) else { return };
    assert_eq!(one(&docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"], "admin");
    let rules = one(&docs, "PrometheusRule")["spec"]["groups"][0]["rules"].as_array().unwrap().clone();
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    for want in [
        "SecretgateWebhookFailingOpen",
        "SecretgateLatencyHigh",
        "SecretgateRequestErrors",
        "SecretgateCertificateExpiresSoon",
    ] {
        assert!(alerts.contains(&want), "{alerts:?}");
    }
    let metrics = secretgate::metrics::Metrics::new();
    let summary = secretgate::admission::Summary {
        webhook: secretgate::admission::Webhook::Validate,
        kind: secretgate::admission::KindLabel::Pod,
        operation: "CREATE",
        outcome: secretgate::admission::Outcome::Allowed,
        tally: vec![],
        warnings: 0,
    };
    metrics.record(&summary, 0.001);
    let exported = metrics.render();
    for rule in &rules {
        let expr = rule["expr"].as_str().unwrap();
        for metric in
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("secretgate_"))
        {
            let base = metric.trim_end_matches("_bucket");
            assert!(exported.contains(base), "alert {} uses {metric}, which secretgate does not export", rule["alert"]);
        }
    }
    assert!(rules[0]["expr"].as_str().unwrap().contains("apiserver_admission_webhook_fail_open_count"));
}
