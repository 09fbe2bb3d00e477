//! Properties of the rendered Helm chart (real `helm template`): the flags the
//! Deployment passes are flags secretgate accepts; the webhook spec the server
//! registers parses and says what it should; the configurations Helm installs
//! are empty; every TLS mode, value and RBAC rule; renders are deterministic.
//!
//! Needs helm: `.ci/chart-tools.sh` installs it into `.tools/` (or set
//! SECRETGATE_HELM). Without it these tests are reported as ignored ("skipped"),
//! never as passed; under CI (CI=true) a missing helm fails every one of them.

mod support;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::Parser;
use libtest_mimic::{Arguments, Failed, Trial};
use secretgate::config::{Cli, Command as Sub};
use secretgate::registration::webhooks::{Configuration, Kind, parse_spec};
use serde_json::{Value, json};
use support::root;

const IMAGE: &str = "image.repository=registry.example/secretgate";

fn helm() -> Option<PathBuf> {
    let candidates = [std::env::var_os("SECRETGATE_HELM").map(PathBuf::from), Some(root().join(".tools/helm/helm"))];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// `helm template` with `args` (after the chart); stdout, or stderr on failure.
fn template(args: &[&str]) -> Result<String, String> {
    let helm = helm().expect("helm is required: run bash .ci/chart-tools.sh (or set SECRETGATE_HELM)");
    let out = Command::new(helm)
        .args(["template", "rel", root().join("charts/secretgate").to_str().unwrap(), "-n", "sg-system"])
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn sets(values: &[&str]) -> Vec<String> {
    let mut args = vec!["--set".to_string(), IMAGE.to_string()];
    for v in values {
        args.extend(["--set".to_string(), v.to_string()]);
    }
    args
}

/// Render with `--set` values (and the required image), as documents.
fn render(values: &[&str]) -> Vec<Value> {
    let args = sets(values);
    let text = template(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("helm template {values:?}: {e}"));
    parse(&text)
}

fn parse(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(text).unwrap();
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Render expecting failure; the error text.
fn refused(values: &[&str]) -> String {
    let args = sets(values);
    template(&args.iter().map(String::as_str).collect::<Vec<_>>()).expect_err("helm template should fail")
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind && !is_hook(d)).collect()
}

fn is_hook(doc: &Value) -> bool {
    doc["metadata"]["annotations"].get("helm.sh/hook").is_some()
}

fn one<'a>(docs: &'a [Value], k: &str) -> &'a Value {
    let found = kind(docs, k);
    assert_eq!(found.len(), 1, "exactly one {k}");
    found[0]
}

fn named<'a>(docs: &'a [Value], k: &str, name: &str) -> &'a Value {
    kind(docs, k).into_iter().find(|d| d["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {k} {name}"))
}

/// The webhook spec the server registers, parsed as the server parses it.
fn spec(docs: &[Value]) -> Vec<Configuration> {
    let text = named(docs, "ConfigMap", "rel-secretgate-webhooks")["data"]["webhooks.yaml"].as_str().unwrap();
    parse_spec(text).unwrap_or_else(|e| panic!("the server refuses the chart's webhook spec: {e}"))
}

fn webhooks(docs: &[Value]) -> Vec<Value> {
    spec(docs).into_iter().flat_map(|c| c.webhooks).collect()
}

fn by_name(docs: &[Value], name: &str) -> Value {
    webhooks(docs).into_iter().find(|w| w["name"] == name).unwrap_or_else(|| panic!("no webhook {name}"))
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn pod_spec(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

fn arg(docs: &[Value], flag: &str) -> Option<String> {
    args(docs).iter().find_map(|a| a.strip_prefix(&format!("{flag}=")).map(str::to_string))
}

fn serve_args(docs: &[Value]) -> secretgate::config::ServeArgs {
    let mut argv = vec!["secretgate".to_string()];
    argv.extend(args(docs));
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("the chart passes flags secretgate refuses: {e}"));
    let Sub::Serve(serve) = cli.command else { panic!("not serve") };
    *serve
}

fn volume<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    pod_spec(docs)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == name)
}

// ---------------------------------------------------------------------------

fn the_deployment_args_are_flags_secretgate_accepts() {
    for values in [
        vec![],
        vec!["tls.mode=certManager"],
        vec!["tls.mode=external", "tls.external.secretName=corp-tls", "tls.external.caBundle=QUJD"],
        vec!["tls.clientCA.configMapName=apiserver-ca", "extraArgs={--max-connections=20000}"],
    ] {
        let docs = render(&values);
        let serve = serve_args(&docs);
        assert_eq!(serve.listen.unwrap().port(), 8443);
        assert_eq!(serve.admin_listen.unwrap().port(), 8080);
        assert!(!serve.dev);
        assert_eq!(serve.lifecycle.webhook_configmap.as_deref(), Some("rel-secretgate-webhooks"), "{values:?}");
        assert_eq!(serve.lifecycle.namespace.as_deref(), Some("sg-system"));
    }
    let serve = serve_args(&render(&["extraArgs={--max-connections=20000}"]));
    assert_eq!(serve.max_connections, 20_000);
}

fn managed_tls_is_the_default_and_renders_nothing_random() {
    let docs = render(&[]);
    let serve = serve_args(&docs);
    assert_eq!(serve.lifecycle.tls_ca_secret.as_deref(), Some("rel-secretgate-ca"));
    assert!(serve.lifecycle.tls_hosts.contains(&"rel-secretgate.sg-system.svc".to_string()));
    assert!(serve.tls.tls_cert_file.is_none() && volume(&docs, "tls").is_none());
    // the CA Secret is an empty shell the server fills: Helm never owns key material
    let secret = named(&docs, "Secret", "rel-secretgate-ca");
    assert!(secret.get("data").is_none() && secret.get("stringData").is_none(), "{secret}");
    for w in webhooks(&docs) {
        assert!(w["clientConfig"].get("caBundle").is_none(), "the server adds the managed caBundle");
    }
    // two renders of the same values are byte-identical, in every mode
    for values in [vec![], vec!["tls.mode=certManager"], vec!["externalServer.url=https://10.0.0.5:8443"]] {
        let args = sets(&values);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(template(&args).unwrap(), template(&args).unwrap(), "{values:?}");
    }
}

fn the_installed_configurations_are_empty_until_the_server_registers() {
    let docs = render(&["webhook.labels.team=platform", "webhook.annotations.owner=sec"]);
    let names: Vec<(Kind, String)> = spec(&docs).into_iter().map(|c| (c.kind, c.name)).collect();
    assert_eq!(
        names,
        vec![(Kind::Validating, "rel-secretgate".to_string()), (Kind::Mutating, "rel-secretgate".to_string())]
    );
    for k in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let shell = named(&docs, k, "rel-secretgate");
        assert!(shell.get("webhooks").is_none(), "{k} must be installed empty: {shell}");
        assert_eq!(shell["metadata"]["labels"]["team"], "platform");
        assert_eq!(shell["metadata"]["annotations"]["owner"], "sec");
    }
    // with both kinds turned off the server registers empty lists
    let docs = render(&["webhook.validating.enabled=false", "webhook.mutating.enabled=false"]);
    assert!(webhooks(&docs).is_empty());
}

fn webhook_paths_and_ports_match_the_server() {
    let docs = render(&[]);
    let service = one(&docs, "Service");
    let webhook_port = service["spec"]["ports"].as_array().unwrap().iter().find(|p| p["name"] == "webhook").unwrap();
    assert_eq!(webhook_port["targetPort"], "webhook");
    let ports = container(&docs)["ports"].as_array().unwrap();
    let port_of = |name: &str| ports.iter().find(|p| p["name"] == name).unwrap()["containerPort"].as_u64().unwrap();
    assert_eq!(arg(&docs, "--listen").unwrap(), format!("0.0.0.0:{}", port_of("webhook")));
    assert_eq!(arg(&docs, "--admin-listen").unwrap(), format!("0.0.0.0:{}", port_of("admin")));
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(container(&docs)[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    assert_eq!(container(&docs)["readinessProbe"]["httpGet"]["path"], "/readyz");
    for w in webhooks(&docs) {
        let path = if w["name"].as_str().unwrap().contains(".mutate.") { "/mutate" } else { "/validate" };
        assert_eq!(w["clientConfig"]["service"]["path"], path);
        assert_eq!(w["clientConfig"]["service"]["port"], webhook_port["port"]);
        assert_eq!(w["clientConfig"]["service"]["name"], service["metadata"]["name"]);
        assert_eq!(w["clientConfig"]["service"]["namespace"], "sg-system");
    }
    // other ports, and the host network
    let docs = render(&["ports.webhook=9443", "ports.admin=9080", "hostNetwork=true"]);
    assert_eq!(arg(&docs, "--listen").unwrap(), "0.0.0.0:9443");
    assert_eq!(pod_spec(&docs)["hostNetwork"], true);
    assert_eq!(pod_spec(&docs)["dnsPolicy"], "ClusterFirstWithHostNet");
}

fn webhook_semantics_are_as_specified() {
    let docs = render(&[]);
    let all = webhooks(&docs);
    assert_eq!(all.len(), 5);
    for w in &all {
        // Events are recorded for controller-made Pods, never on dry runs
        let side_effects = if w["name"] == "pods.validate.secretgate.io" { "NoneOnDryRun" } else { "None" };
        assert_eq!(w["sideEffects"], side_effects, "{}", w["name"]);
        assert_eq!(w["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(w["timeoutSeconds"], 5);
        // validating Secrets and Pods fail closed; workloads only warn and mutation never denies
        let failure = match w["name"].as_str().unwrap() {
            "workloads.validate.secretgate.io" | "configmaps.validate.secretgate.io" | "pods.mutate.secretgate.io" => {
                "Ignore"
            }
            _ => "Fail",
        };
        assert_eq!(w["failurePolicy"], failure, "{}", w["name"]);
    }
    let secrets = by_name(&docs, "secrets.validate.secretgate.io");
    assert_eq!(secrets["rules"][0]["resources"], json!(["secrets"]));
    assert_eq!(secrets["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
    let pods = by_name(&docs, "pods.validate.secretgate.io");
    assert_eq!(pods["rules"][0]["resources"], json!(["pods"]));
    assert_eq!(pods["rules"][0]["operations"], json!(["CREATE"]));
    assert_eq!(pods["rules"][1]["resources"], json!(["pods/ephemeralcontainers"]));
    assert_eq!(pods["rules"][1]["operations"], json!(["UPDATE"]));
    let workloads = by_name(&docs, "workloads.validate.secretgate.io");
    assert_eq!(workloads["rules"][0]["resources"], json!(["deployments", "statefulsets", "daemonsets", "replicasets"]));
    assert_eq!(workloads["rules"][1]["resources"], json!(["jobs", "cronjobs"]));
    let configmaps = by_name(&docs, "configmaps.validate.secretgate.io");
    assert_eq!(configmaps["rules"][0]["resources"], json!(["configmaps"]));
    assert_eq!(configmaps["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
    let mutate = by_name(&docs, "pods.mutate.secretgate.io");
    assert_eq!(mutate["reinvocationPolicy"], "IfNeeded");
    assert_eq!(mutate["matchConditions"].as_array().unwrap().len(), 2);

    // each webhook has its own failurePolicy and timeout
    let docs = render(&[
        "webhook.secrets.failurePolicy=Ignore",
        "webhook.secrets.timeoutSeconds=3",
        "webhook.pods.timeoutSeconds=7",
        "webhook.mutating.failurePolicy=Fail",
        "webhook.mutating.timeoutSeconds=2",
        "webhook.workloads.timeoutSeconds=9",
    ]);
    let got = |n: &str| {
        let w = by_name(&docs, n);
        (w["failurePolicy"].as_str().unwrap().to_string(), w["timeoutSeconds"].as_u64().unwrap())
    };
    assert_eq!(got("secrets.validate.secretgate.io"), ("Ignore".into(), 3));
    assert_eq!(got("pods.validate.secretgate.io"), ("Fail".into(), 7));
    assert_eq!(got("pods.mutate.secretgate.io"), ("Fail".into(), 2));
    assert_eq!(got("workloads.validate.secretgate.io"), ("Ignore".into(), 9));
}

fn skipped(w: &Value) -> Vec<String> {
    let expressions = w["namespaceSelector"]["matchExpressions"].as_array().unwrap();
    let names = expressions.iter().find(|e| e["key"] == "kubernetes.io/metadata.name").unwrap();
    assert_eq!(names["operator"], "NotIn");
    names["values"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

fn namespaces_and_selectors_come_from_values() {
    let docs = render(&[]);
    for w in webhooks(&docs) {
        let skip = skipped(&w);
        for ns in ["sg-system", "kube-system", "kube-node-lease", "cert-manager", "calico-system", "gke-managed-system"]
        {
            assert!(skip.contains(&ns.to_string()), "{ns} not skipped by {}: {skip:?}", w["name"]);
        }
        let expressions = w["namespaceSelector"]["matchExpressions"].as_array().unwrap();
        let ignore = expressions.iter().find(|e| e["key"] == "secretgate.io/ignore").unwrap();
        assert_eq!((ignore["operator"].clone(), ignore["values"].clone()), (json!("NotIn"), json!(["true"])));
        assert!(w.get("objectSelector").is_none());
    }
    // extra namespaces, expressions, objectSelector and matchConditions (an expression used
    // to render invalid YAML)
    let docs = render(&[
        "webhook.extraSkipNamespaces={monitoring}",
        "webhook.namespaceSelectorExpressions[0].key=tier",
        "webhook.namespaceSelectorExpressions[0].operator=NotIn",
        "webhook.namespaceSelectorExpressions[0].values={infra}",
        "webhook.objectSelector.matchLabels.app=web",
        "webhook.matchConditions[0].name=not-flux",
        "webhook.matchConditions[0].expression=request.userInfo.username != 'flux'",
    ]);
    for w in webhooks(&docs) {
        let skip = skipped(&w);
        assert!(skip.contains(&"monitoring".to_string()) && skip.contains(&"kube-system".to_string()), "{skip:?}");
        let expressions = w["namespaceSelector"]["matchExpressions"].as_array().unwrap();
        assert_eq!(expressions[2], json!({"key": "tier", "operator": "NotIn", "values": ["infra"]}));
        assert_eq!(w["objectSelector"], json!({"matchLabels": {"app": "web"}}));
        let conditions = w["matchConditions"].as_array().unwrap();
        assert_eq!(conditions.last().unwrap()["name"], "not-flux", "{}", w["name"]);
    }
    assert_eq!(by_name(&docs, "pods.mutate.secretgate.io")["matchConditions"].as_array().unwrap().len(), 3);
    // a null list (it used to crash the render) keeps only the release namespace
    let docs = render(&["webhook.skipNamespaces=null"]);
    for w in webhooks(&docs) {
        assert_eq!(skipped(&w), vec!["sg-system".to_string()]);
    }
}

fn the_deployment_survives_disruption_and_runs_locked_down() {
    let docs = render(&[]);
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"], json!({"maxUnavailable": 0, "maxSurge": 1}));
    let pod = pod_spec(&docs);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["topologySpreadConstraints"].as_array().unwrap().len(), 2);
    let c = container(&docs);
    assert_eq!(c["image"], "registry.example/secretgate:0.1.0");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap();
    let drain = humantime::parse_duration(&arg(&docs, "--shutdown-grace-period").unwrap()).unwrap().as_secs();
    assert!(sleep + drain < grace, "preStop {sleep}s + drain {drain}s must fit in {grace}s");
    assert_eq!(one(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
    // OpenShift's restricted-v2 SCC assigns the UID: the values file of .ci leaves none fixed
    let openshift = root().join("charts/secretgate/ci/openshift-values.yaml");
    let text = template(&["-f", openshift.to_str().unwrap()]).unwrap();
    let docs = parse(&text);
    let pod = pod_spec(&docs);
    for field in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert!(pod["securityContext"].get(field).is_none(), "{field} fixed: {}", pod["securityContext"]);
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(!text.contains("runAsUser"), "no fixed runAsUser anywhere, the test hook included");
}

fn image_extras_and_service_account_come_from_values() {
    assert!(refused(&["image.repository="]).contains("image.repository is required"));
    let digest = "sha256:".to_string() + &"a".repeat(64);
    let docs = render(&[&format!("image.digest={digest}")]);
    assert_eq!(container(&docs)["image"], format!("registry.example/secretgate@{digest}"));
    let docs = render(&[
        "extraEnv[0].name=HTTPS_PROXY",
        "extraEnv[0].value=http://proxy:3128",
        "extraVolumes[0].name=extra",
        "extraVolumes[0].emptyDir.medium=Memory",
        "extraVolumeMounts[0].name=extra",
        "extraVolumeMounts[0].mountPath=/extra",
        "serviceAccount.annotations.iam=role",
    ]);
    let env = container(&docs)["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "HTTPS_PROXY"));
    assert!(volume(&docs, "extra").is_some());
    assert!(container(&docs)["volumeMounts"].as_array().unwrap().iter().any(|m| m["mountPath"] == "/extra"));
    assert_eq!(one(&docs, "ServiceAccount")["metadata"]["annotations"]["iam"], "role");
    // an existing ServiceAccount: none rendered, every binding and the Pod use it
    let docs = render(&["serviceAccount.create=false", "serviceAccount.name=corp-sa"]);
    assert!(kind(&docs, "ServiceAccount").is_empty());
    assert_eq!(pod_spec(&docs)["serviceAccountName"], "corp-sa");
    for k in ["ClusterRoleBinding", "RoleBinding"] {
        assert_eq!(one(&docs, k)["subjects"][0]["name"], "corp-sa", "{k}");
    }
}

fn the_policy_value_becomes_a_config_file_secretgate_reads() {
    let docs = render(&["policy.rules.pod-secret-exists.action=warn", "policy.inject.imagePullSecrets.mode=ifEmpty"]);
    let config = named(&docs, "ConfigMap", "rel-secretgate")["data"]["config.yaml"].as_str().unwrap().to_string();
    let policy = secretgate::config::policy_file::parse(&config).unwrap();
    let settings = policy.base();
    assert_eq!(settings.action(secretgate::policy::RuleId::PodSecretExists), secretgate::policy::Action::Warn);
    assert_eq!(settings.image_pull_secrets.mode, secretgate::policy::settings::PullSecretMode::IfEmpty);
    assert_eq!(arg(&docs, "--config").unwrap(), "/etc/secretgate/config/config.yaml");
    let docs = render(&[]);
    let empty = named(&docs, "ConfigMap", "rel-secretgate")["data"]["config.yaml"].as_str().unwrap().to_string();
    assert_eq!(secretgate::config::policy_file::parse(&empty).unwrap(), secretgate::policy::Policy::default());

    // overrides and exemptions pass through the chart as the server reads them
    let overrides = [
        "policy.overrides[0].name=dev",
        "policy.overrides[0].namespaces.selector.matchExpressions[0].key=env",
        "policy.overrides[0].namespaces.selector.matchExpressions[0].operator=In",
        "policy.overrides[0].namespaces.selector.matchExpressions[0].values[0]=dev",
        "policy.overrides[0].rules.pod-secret-exists.action=warn",
        "policy.exemptions[0].name=break-glass",
        "policy.exemptions[0].groups[0]=break-glass",
        "policy.exemptions[0].rules[0]=pod-secret-exists",
    ];
    let with_overrides = render(&overrides);
    let config =
        named(&with_overrides, "ConfigMap", "rel-secretgate")["data"]["config.yaml"].as_str().unwrap().to_string();
    let policy = secretgate::config::policy_file::parse(&config).unwrap();
    assert_eq!((policy.overrides().len(), policy.exemptions().len()), (1, 1), "{config}");
    // the policy is reloaded by the server: changing it must not roll the Pods
    let template = |docs: &[Value]| one(docs, "Deployment")["spec"]["template"].clone();
    assert_eq!(template(&docs), template(&with_overrides), "a policy change changed the pod template");
    // the schema refuses what the server would refuse
    let mut bad_operator = overrides.to_vec();
    bad_operator[2] = "policy.overrides[0].namespaces.selector.matchExpressions[0].operator=Equals";
    assert!(refused(&bad_operator).contains("operator"), "{}", refused(&bad_operator));
    let mut bad_rule = overrides.to_vec();
    bad_rule[7] = "policy.exemptions[0].rules[0]=pod-secret-exist";
    assert!(refused(&bad_rule).contains("rules"), "{}", refused(&bad_rule));
    assert!(refused(&["policy.overrides[0].namespaces.names[0]=a"]).contains("name"), "an override needs a name");
    // what the server refuses, the schema refuses first: no namespaces, no requester, a bad label key
    assert!(refused(&["policy.exemptions[0].name=e", "policy.exemptions[0].rules[0]=*"]).contains("anyOf"));
    let mut bad_key = overrides.to_vec();
    bad_key[1] = "policy.overrides[0].namespaces.selector.matchExpressions[0].key=/env";
    assert!(refused(&bad_key).contains("key"), "{}", refused(&bad_key));
    assert!(refused(&["policy.inject.secretMounts.basePath=/a/../b"]).contains("basePath"));

    // ConfigMaps reach the webhook (and the audit lists them) only while configmap-credentials is not off
    let spec = |docs: &[Value]| {
        named(docs, "ConfigMap", "rel-secretgate-webhooks")["data"]["webhooks.yaml"].as_str().unwrap().to_string()
    };
    assert!(spec(&docs).contains("configmaps.validate.secretgate.io"), "{}", spec(&docs));
    let off = render(&["policy.rules.configmap-credentials.action=off"]);
    assert!(!spec(&off).contains("configmaps.validate"), "{}", spec(&off));
    assert!(!one(&off, "ClusterRole")["rules"].to_string().contains("configmaps"));
    let in_one_namespace = render(&[
        "policy.rules.configmap-credentials.action=off",
        "policy.overrides[0].name=apps",
        "policy.overrides[0].namespaces.names[0]=apps",
        "policy.overrides[0].rules.configmap-credentials.action=warn",
    ]);
    assert!(spec(&in_one_namespace).contains("configmaps.validate"), "an override turns it on somewhere");
}

fn cert_manager_mode_registers_the_certificates_ca() {
    let docs = render(&["tls.mode=certManager"]);
    let certificates = kind(&docs, "Certificate");
    let serving = certificates.iter().find(|c| c["spec"]["isCA"] != true).unwrap();
    let tls = volume(&docs, "tls").unwrap()["secret"]["secretName"].as_str().unwrap();
    assert_eq!(serving["spec"]["secretName"], tls);
    assert!(serving["spec"]["dnsNames"].as_array().unwrap().contains(&json!("rel-secretgate.sg-system.svc")));
    assert_eq!(arg(&docs, "--webhook-ca-file").unwrap(), "/etc/secretgate/tls/ca.crt");
    assert_eq!(arg(&docs, "--tls-cert-file").unwrap(), "/etc/secretgate/tls/tls.crt");
    assert!(arg(&docs, "--tls-ca-secret").is_none());
    assert!(kind(&docs, "Secret").is_empty(), "no CA Secret, no key material");
    let docs = render(&[
        "tls.mode=certManager",
        "tls.certManager.issuerRef.name=corp",
        "tls.certManager.issuerRef.kind=ClusterIssuer",
    ]);
    assert_eq!(one(&docs, "Certificate")["spec"]["issuerRef"], json!({"name": "corp", "kind": "ClusterIssuer"}));
    assert!(kind(&docs, "Issuer").is_empty());
}

fn external_mode_uses_the_given_secret_and_bundle() {
    let docs = render(&["tls.mode=external", "tls.external.secretName=corp-tls", "tls.external.caBundle=Q0FCVU5ETEU="]);
    assert_eq!(volume(&docs, "tls").unwrap()["secret"]["secretName"], "corp-tls");
    for w in webhooks(&docs) {
        assert_eq!(w["clientConfig"]["caBundle"], "Q0FCVU5ETEU=");
    }
    assert!(kind(&docs, "Secret").is_empty() && kind(&docs, "Certificate").is_empty());
    assert!(refused(&["tls.mode=external", "tls.external.secretName=x"]).contains("tls.external.caBundle is required"));
    assert!(refused(&["tls.mode=selfSigned"]).contains("/tls/mode"), "the random mode is gone");
}

fn a_client_ca_makes_the_server_require_client_certificates() {
    let docs = render(&["tls.clientCA.configMapName=apiserver-client-ca"]);
    assert_eq!(arg(&docs, "--tls-client-ca-file").unwrap(), "/etc/secretgate/client-ca/ca.crt");
    assert_eq!(volume(&docs, "client-ca").unwrap()["configMap"]["name"], "apiserver-client-ca");
    let mounts = container(&docs)["volumeMounts"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["name"] == "client-ca" && m["mountPath"] == "/etc/secretgate/client-ca"));
    assert!(arg(&render(&[]), "--tls-client-ca-file").is_none());
}

fn an_external_server_gets_url_webhooks_and_no_in_cluster_server() {
    let url = "externalServer.url=https://10.1.2.3:9443/";
    for (extra, bundle) in [(None, None), (Some("externalServer.caBundle=Q0FCVU5ETEU="), Some("Q0FCVU5ETEU="))] {
        let mut values = vec![url];
        values.extend(extra);
        let docs = render(&values);
        let hooks = webhooks(&docs);
        assert_eq!(hooks.len(), 5);
        for w in hooks {
            let path = if w["name"].as_str().unwrap().contains(".mutate.") { "/mutate" } else { "/validate" };
            assert_eq!(w["clientConfig"]["url"], format!("https://10.1.2.3:9443{path}"));
            assert!(w["clientConfig"].get("service").is_none());
            assert_eq!(w["clientConfig"].get("caBundle").and_then(Value::as_str), bundle);
        }
        for absent in ["Deployment", "Service", "PodDisruptionBudget", "Certificate", "ServiceMonitor", "NetworkPolicy"]
        {
            assert!(kind(&docs, absent).is_empty(), "no {absent} for a server outside the cluster");
        }
        assert!(docs.iter().all(|d| !is_hook(d)), "no helm test Pod without an image");
        // without a bundle the external server runs the managed CA: its Secret and RBAC are there
        let ca = kind(&docs, "Secret").len();
        assert_eq!(ca, usize::from(bundle.is_none()));
        let role = one(&docs, "Role")["rules"].to_string();
        assert_eq!(role.contains("rel-secretgate-ca"), bundle.is_none(), "{role}");
    }
    assert!(refused(&["externalServer.url=http://127.0.0.1:9443"]).contains("/externalServer/url"));
}

fn rbac_grants_exactly_what_the_server_needs() {
    let read =
        json!({"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get", "list", "watch"]});
    let events = json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]});
    let registration = json!({"apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
        "resourceNames": ["rel-secretgate"], "verbs": ["get", "update"]});
    // its namespace (the owner), and Namespace labels: they select the policy's overrides
    let labels = json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]});
    let spec = json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["rel-secretgate-webhooks"], "verbs": ["get"]});
    let ca = json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["rel-secretgate-ca"], "verbs": ["get", "update"]});
    let endpoints = json!({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]});
    // the audit: lists of what it checks, its Lease by name, the reports it writes
    let audit = [
        json!({"apiGroups": [""], "resources": ["pods", "replicationcontrollers"], "verbs": ["list"]}),
        json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}),
        json!({"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["list"]}),
        json!({"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["list"]}),
        json!({"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["list", "get", "create", "patch", "delete"]}),
    ];
    let lease = [
        json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]}),
        json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["rel-secretgate-audit"], "verbs": ["get", "patch", "update"]}),
    ];
    let docs = render(&[]);
    let mut cluster_rules = vec![read.clone(), events, registration.clone(), labels.clone()];
    cluster_rules.extend(audit.iter().cloned());
    assert_eq!(one(&docs, "ClusterRole")["rules"], json!(cluster_rules));
    assert_eq!(one(&docs, "Role")["rules"], json!([spec, ca, lease[0], lease[1], endpoints]));
    assert_eq!(arg(&docs, "--events").unwrap(), "on");
    assert_eq!(arg(&docs, "--audit-lease").unwrap(), "rel-secretgate-audit", "the Lease the Role names");
    assert_eq!(arg(&docs, "--audit-report-owner").unwrap(), "rel-secretgate", "the configuration helm deletes");
    let docs = render(&["audit.reports=openreports"]);
    let rules = one(&docs, "ClusterRole")["rules"].to_string();
    assert!(rules.contains("openreports.io") && !rules.contains("wgpolicyk8s.io"), "{rules}");
    let docs = render(&["audit.reports=off"]);
    let rules = one(&docs, "ClusterRole")["rules"].to_string();
    assert!(
        !rules.contains("openreports.io") && !rules.contains("wgpolicyk8s.io") && rules.contains("pods"),
        "{rules}"
    );
    for view in ["keys", "metadata"] {
        let docs = render(&[
            &format!("secretView={view}"),
            "events.enabled=false",
            "tls.mode=certManager",
            "audit.enabled=false",
        ]);
        assert_eq!(arg(&docs, "--audit-interval").unwrap(), "0", "{view}");
        assert_eq!(arg(&docs, "--secret-view").unwrap(), view);
        assert_eq!(one(&docs, "ClusterRole")["rules"], json!([read, registration, labels]), "{view}");
        assert_eq!(one(&docs, "Role")["rules"], json!([spec, endpoints]), "{view}: no CA Secret to write");
        let binding = one(&docs, "ClusterRoleBinding");
        assert_eq!(binding["subjects"][0]["name"], one(&docs, "ServiceAccount")["metadata"]["name"]);
    }
}

fn network_policy_admits_the_webhook_and_metrics_ports() {
    assert!(kind(&render(&[]), "NetworkPolicy").is_empty());
    let docs = render(&[
        "networkPolicy.enabled=true",
        "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24",
        "networkPolicy.metricsNamespace=observability",
    ]);
    let policy = one(&docs, "NetworkPolicy");
    let ingress = policy["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress[0]["ports"][0]["port"], 8443);
    assert_eq!(ingress[0]["from"][0]["ipBlock"]["cidr"], "10.0.0.0/24");
    assert_eq!(ingress[1]["ports"][0]["port"], 8080);
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "observability"
    );
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
}

fn helm_test_probes_through_the_api_server() {
    let docs = render(&["test.namespace=apps"]);
    let hooks: Vec<&Value> = docs.iter().filter(|d| is_hook(d)).collect();
    assert!(hooks.iter().all(|d| d["metadata"]["annotations"]["helm.sh/hook"] == "test"));
    let pod = hooks.iter().find(|d| d["kind"] == "Pod").expect("a test Pod");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/secretgate:0.1.0");
    let mut argv = vec!["secretgate".to_string()];
    argv.extend(c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()));
    let Sub::Probe(probe) = Cli::try_parse_from(&argv).unwrap().command else { panic!("the test Pod must run probe") };
    assert_eq!(probe.namespace.as_deref(), Some("apps"));
    let role = hooks.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(role["metadata"]["namespace"], "apps");
    assert_eq!(role["rules"], json!([{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["create"]}]));
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        hooks.iter().find(|d| d["kind"] == "ServiceAccount").unwrap()["metadata"]["name"]
    );
}

fn monitoring_follows_the_crds_and_alerts_use_real_metrics() {
    let docs = render(&[]);
    assert!(kind(&docs, "ServiceMonitor").is_empty());
    assert!(kind(&docs, "PrometheusRule").is_empty(), "auto: no CRD, no rule");
    let with_crd = sets(&[]);
    let mut args: Vec<&str> = with_crd.iter().map(String::as_str).collect();
    args.extend(["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]);
    let docs = parse(&template(&args).unwrap());
    one(&docs, "PrometheusRule");
    assert!(kind(&render(&["prometheusRule.enabled=false"]), "PrometheusRule").is_empty());
    let docs = render(&[
        "serviceMonitor.enabled=true",
        "serviceMonitor.scrapeTimeout=10s",
        "serviceMonitor.relabelings[0].action=labeldrop",
        "serviceMonitor.relabelings[0].regex=pod",
        "prometheusRule.enabled=true",
    ]);
    let endpoint = &one(&docs, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!((endpoint["port"].clone(), endpoint["scrapeTimeout"].clone()), (json!("admin"), json!("10s")));
    assert_eq!(endpoint["relabelings"][0]["action"], "labeldrop");
    let rules = one(&docs, "PrometheusRule")["spec"]["groups"][0]["rules"].as_array().unwrap().clone();
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    for want in [
        "SecretgateWebhookFailingOpen",
        "SecretgateCertificateExpiresSoon",
        "SecretgateLifecycleErrors",
        "SecretgateTLSSecretsExpiring",
        "SecretgateAuditStale",
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
        checked: true,
        unknown: 0,
    };
    metrics.record(&summary, 0.001);
    // the audit's series exist once a pass completed (and only in the Lease holder)
    metrics.audit.record_pass(&secretgate::audit::scan::Outcome::default(), 1.0, 0);
    metrics.audit.set_interval(3600.0);
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
    // the expiry alert fires before a managed certificate could lapse: they renew with a third left
    let days = rules.iter().find(|r| r["alert"] == "SecretgateCertificateExpiresSoon").unwrap()["expr"].to_string();
    assert!(days.contains(&(7 * 86400).to_string()), "{days}");
}

fn the_rendered_chart_reviews_with_a_summary() {
    // what CI runs: helm template ... | secretgate review -
    let args = sets(&[]);
    let rendered = template(&args.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let out = support::secretgate(&["review", "-"], rendered.as_bytes());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ALLOWED  Deployment sg-system/rel-secretgate"), "{text}");
    assert!(text.contains("ALLOWED  Secret sg-system/rel-secretgate-ca"), "{text}");
    let summary = text.lines().last().unwrap();
    // its two ConfigMaps (policy, webhook spec) are checked for credentials: none
    assert!(text.contains("ALLOWED  ConfigMap sg-system/rel-secretgate "), "{text}");
    assert!(summary.starts_with("secretgate review: 17 objects: 5 checked (0 denied, 0 warned)"), "{summary}");
    assert!(
        summary.contains("not checked by secretgate: 1 ClusterRole,") && !summary.contains("ConfigMap"),
        "{summary}"
    );
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tests: Vec<(&str, fn())> = vec![
        ("the_deployment_args_are_flags_secretgate_accepts", the_deployment_args_are_flags_secretgate_accepts),
        (
            "managed_tls_is_the_default_and_renders_nothing_random",
            managed_tls_is_the_default_and_renders_nothing_random,
        ),
        (
            "the_installed_configurations_are_empty_until_the_server_registers",
            the_installed_configurations_are_empty_until_the_server_registers,
        ),
        ("webhook_paths_and_ports_match_the_server", webhook_paths_and_ports_match_the_server),
        ("webhook_semantics_are_as_specified", webhook_semantics_are_as_specified),
        ("namespaces_and_selectors_come_from_values", namespaces_and_selectors_come_from_values),
        (
            "the_deployment_survives_disruption_and_runs_locked_down",
            the_deployment_survives_disruption_and_runs_locked_down,
        ),
        ("image_extras_and_service_account_come_from_values", image_extras_and_service_account_come_from_values),
        (
            "the_policy_value_becomes_a_config_file_secretgate_reads",
            the_policy_value_becomes_a_config_file_secretgate_reads,
        ),
        ("cert_manager_mode_registers_the_certificates_ca", cert_manager_mode_registers_the_certificates_ca),
        ("external_mode_uses_the_given_secret_and_bundle", external_mode_uses_the_given_secret_and_bundle),
        (
            "a_client_ca_makes_the_server_require_client_certificates",
            a_client_ca_makes_the_server_require_client_certificates,
        ),
        (
            "an_external_server_gets_url_webhooks_and_no_in_cluster_server",
            an_external_server_gets_url_webhooks_and_no_in_cluster_server,
        ),
        ("rbac_grants_exactly_what_the_server_needs", rbac_grants_exactly_what_the_server_needs),
        ("network_policy_admits_the_webhook_and_metrics_ports", network_policy_admits_the_webhook_and_metrics_ports),
        ("helm_test_probes_through_the_api_server", helm_test_probes_through_the_api_server),
        (
            "monitoring_follows_the_crds_and_alerts_use_real_metrics",
            monitoring_follows_the_crds_and_alerts_use_real_metrics,
        ),
        ("the_rendered_chart_reviews_with_a_summary", the_rendered_chart_reviews_with_a_summary),
    ];
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let missing = helm().is_none();
    if missing && !ci {
        eprintln!(
            "skipped: the chart tests need helm (bash .ci/chart-tools.sh installs it into .tools/, or set SECRETGATE_HELM)"
        );
    }
    let trials = tests.into_iter().map(|(name, test)| {
        let trial = Trial::test(name, move || {
            if missing {
                return Err(Failed::from("helm is required under CI: run bash .ci/chart-tools.sh"));
            }
            test();
            Ok(())
        });
        trial.with_ignored_flag(missing && !ci)
    });
    libtest_mimic::run(&args, trials.collect()).exit_code()
}
