//! `secretgate probe`: send server-side dry runs through the API server and
//! check that secretgate answered them, as `helm test` does after an install.
//! Nothing is stored (dryRun=All); the probe's Secret value is a fixed dummy.

use std::process::ExitCode;

use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::EXIT_UNUSABLE;
use crate::config::ProbeArgs;

/// One dry run and how secretgate shows it answered.
struct Case {
    what: &'static str,
    resource: &'static str,
    object: Value,
    /// The webhook that answers it.
    webhook: &'static str,
    /// The rule whose denial or warning proves the answer came from secretgate.
    rule: &'static str,
}

fn cases(namespace: &str) -> Vec<Case> {
    vec![
        Case {
            what: "a Pod naming a Secret that does not exist",
            resource: "pods",
            object: json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "secretgate-probe", "namespace": namespace},
                "spec": {
                    "containers": [{"name": "probe", "image": "registry.invalid/secretgate-probe:0"}],
                    "volumes": [{"name": "s", "secret": {"secretName": "secretgate-probe-does-not-exist"}}]
                }
            }),
            webhook: "pods.validate.secretgate.io",
            rule: "[pod-secret-exists]",
        },
        Case {
            what: "a Secret whose value ends in a newline",
            resource: "secrets",
            object: json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "secretgate-probe", "namespace": namespace},
                // "probe\n": a dummy, never a real value
                "data": {"password": "cHJvYmUK"}
            }),
            webhook: "secrets.validate.secretgate.io",
            rule: "[secret-hygiene]",
        },
    ]
}

/// What the API server said to one dry run.
struct Answer {
    status: StatusCode,
    message: String,
    warnings: Vec<String>,
}

async fn dry_run(client: &Client, namespace: &str, case: &Case) -> Result<Answer, String> {
    let uri = format!("/api/v1/namespaces/{namespace}/{}?dryRun=All", case.resource);
    let body = serde_json::to_vec(&case.object).map_err(|e| e.to_string())?;
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        // RFC 7234 form: 299 - "text"
        .map(|v| v.trim_start_matches("299 - ").trim_matches('"').to_string())
        .collect();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    Ok(Answer { status, message, warnings })
}

/// Whether secretgate answered: its denial, or its warning on an admitted dry run.
fn verdict(case: &Case, answer: &Answer) -> Result<String, String> {
    if answer.status.is_success() {
        return match answer.warnings.iter().find(|w| w.starts_with(case.rule)) {
            Some(warning) => Ok(format!("admitted with secretgate's warning: {warning}")),
            None => Err(format!(
                "admitted without a {} warning or denial from secretgate: is {} registered \
                 (kubectl get validatingwebhookconfiguration -o yaml), is the namespace skipped, \
                 or is the rule off in the policy?",
                case.rule, case.webhook
            )),
        };
    }
    let by_us = format!("admission webhook \"{}\" denied the request", case.webhook);
    if answer.message.contains(&by_us) && answer.message.contains(case.rule) {
        let first = answer.message.lines().next().unwrap_or_default();
        return Ok(format!("denied by secretgate: {first}"));
    }
    Err(format!("HTTP {}: {}", answer.status.as_u16(), answer.message))
}

/// Run `secretgate probe`.
pub fn run(args: ProbeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("secretgate probe: could not start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match Client::try_default().await {
            Ok(client) => client,
            Err(error) => {
                eprintln!("secretgate probe: no Kubernetes API ({error}); run in a cluster or set KUBECONFIG");
                return ExitCode::from(EXIT_UNUSABLE);
            }
        };
        let namespace = args.namespace.unwrap_or_else(|| client.default_namespace().to_string());
        let mut failed = 0;
        for case in cases(&namespace) {
            let call = tokio::time::timeout(args.timeout, dry_run(&client, &namespace, &case)).await;
            let result = match call {
                Ok(Ok(answer)) => verdict(&case, &answer),
                Ok(Err(error)) => Err(format!("the dry run failed: {error}")),
                Err(_) => Err(format!("no answer within {}s", args.timeout.as_secs())),
            };
            match result {
                Ok(how) => println!("ok    {} in {namespace}: {how}", case.what),
                Err(why) => {
                    failed += 1;
                    println!("FAIL  {} in {namespace}: {why}", case.what);
                }
            }
        }
        if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, message: &str, warnings: &[&str]) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            message: message.into(),
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn only_secretgates_own_denial_or_warning_counts() {
        let [pod, secret] = <[Case; 2]>::try_from(cases("default")).ok().unwrap();
        let denied =
            "admission webhook \"pods.validate.secretgate.io\" denied the request: [pod-secret-exists] spec.volumes[0]";
        assert!(verdict(&pod, &answer(403, denied, &[])).unwrap().starts_with("denied by secretgate"));
        assert!(verdict(&pod, &answer(403, "admission webhook \"other.io\" denied the request: no", &[])).is_err());
        assert!(verdict(&pod, &answer(201, "", &["[pod-secret-exists] spec.volumes[0]"])).is_ok());
        let unchecked = verdict(&secret, &answer(201, "", &[])).unwrap_err();
        assert!(unchecked.contains("secrets.validate.secretgate.io"), "{unchecked}");
        assert!(verdict(&secret, &answer(201, "", &["[secret-hygiene] data[password]: ends in a newline"])).is_ok());
    }
}
