//! `secretgate review`: answer one admission request offline through the
//! same decode → dispatch → policy → encode path as the server.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{EXIT_UNUSABLE, now_unix};
use crate::admission::{Admission, Webhook};
use crate::cluster::{Snapshot, View};
use crate::config::{PolicyArgs, ReviewArgs, policy_file};
use crate::documents;
use crate::policy::Settings;

/// The uid of a synthesised request: fixed, so answers are reproducible.
pub const SYNTHESISED_UID: &str = "00000000-0000-0000-0000-000000000000";

/// Run `secretgate review`.
pub fn run(args: ReviewArgs) -> ExitCode {
    match answer(&args) {
        Ok((bytes, allowed)) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).is_err() {
                return ExitCode::from(EXIT_UNUSABLE);
            }
            ExitCode::from(if allowed { 0 } else { 1 })
        }
        Err(reason) => {
            eprintln!("secretgate review: {reason}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// The answer bytes and whether the request was allowed.
fn answer(args: &ReviewArgs) -> Result<(Vec<u8>, bool), String> {
    let (settings, snapshot) = load_policy(&args.policy)?;
    for note in &snapshot.notes {
        eprintln!("secretgate review: note: {note}");
    }
    let input = read_document(&args.file)?;
    let body = if input.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
        if args.old.is_some() || args.namespace.is_some() {
            return Err("--old and --namespace apply to a plain manifest, not to an AdmissionReview".into());
        }
        input
    } else {
        let old = args.old.as_deref().map(read_document).transpose()?;
        synthesise(input, old, args.namespace.as_deref())?
    };
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let admission = Admission::new(Arc::new(settings));
    let webhook = Webhook::from(args.webhook);
    let view = View::Static(Arc::new(snapshot));
    // the server's own path; with a snapshot nothing is awaited
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    let answer = runtime
        .block_on(crate::admission::answer(&admission, webhook, &body, &view, now_unix()))
        .map_err(|e| e.to_string())?;
    crate::cluster::EventSink::Print.emit(answer.events);
    let allowed = answer.response.allowed;
    Ok((crate::admission::encode_pretty(&answer.response), allowed))
}

/// Settings from `--config` and the snapshot from `--cluster`.
pub fn load_policy(args: &PolicyArgs) -> Result<(Settings, Snapshot), String> {
    let settings = match &args.config {
        Some(path) => policy_file::load(path).map_err(|e| format!("--config {e}"))?,
        None => Settings::default(),
    };
    let snapshot = Snapshot::load(&args.cluster).map_err(|e| format!("--cluster {e}"))?;
    Ok((settings, snapshot))
}

fn read_document(path: &Path) -> Result<Value, String> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
        ("stdin".to_string(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        (path.display().to_string(), text)
    };
    documents::parse_one(&text).map_err(|e| format!("{name}: {e}"))
}

/// A CREATE (or, with `old`, UPDATE) AdmissionReview for a plain manifest.
fn synthesise(object: Value, old: Option<Value>, namespace: Option<&str>) -> Result<Value, String> {
    let field = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
    let Some(kind) = field(&object, "kind") else {
        return Err("the input has no kind: expected an AdmissionReview or a Kubernetes manifest".into());
    };
    let Some(api_version) = field(&object, "apiVersion") else {
        return Err(format!("the {kind} manifest has no apiVersion"));
    };
    if let Some(old) = &old
        && (field(old, "kind").as_deref() != Some(&kind) || field(old, "apiVersion").as_deref() != Some(&api_version))
    {
        return Err(format!("--old must hold the same apiVersion and kind as the input ({api_version} {kind})"));
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| field(m, "name")).unwrap_or_default();
    let namespace = metadata
        .and_then(|m| field(m, "namespace"))
        .filter(|n| !n.is_empty())
        .or_else(|| namespace.map(str::to_string))
        .unwrap_or_else(|| "default".to_string());
    let (operation, options) = if old.is_some() { ("UPDATE", "UpdateOptions") } else { ("CREATE", "CreateOptions") };
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": plural(&kind)});
    Ok(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": SYNTHESISED_UID,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "secretgate-review"},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options},
        }
    }))
}

/// The resource name of a kind, as the API server names the built-in ones.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') || lower.ends_with('x') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_the_kinds_we_review() {
        for (kind, want) in [
            ("Pod", "pods"),
            ("Secret", "secrets"),
            ("Deployment", "deployments"),
            ("CronJob", "cronjobs"),
            ("NetworkPolicy", "networkpolicies"),
            ("Ingress", "ingresses"),
        ] {
            assert_eq!(plural(kind), want);
        }
    }

    #[test]
    fn synthesised_requests_take_the_namespace_in_order() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert_eq!(synthesise(pod.clone(), None, None).unwrap()["request"]["namespace"], "default");
        assert_eq!(synthesise(pod.clone(), None, Some("ns")).unwrap()["request"]["namespace"], "ns");
        let mut own = pod.clone();
        own["metadata"]["namespace"] = "mine".into();
        assert_eq!(synthesise(own, None, Some("ns")).unwrap()["request"]["namespace"], "mine");
        let update = synthesise(pod.clone(), Some(pod), None).unwrap();
        assert_eq!(update["request"]["operation"], "UPDATE");
        assert_eq!(update["request"]["kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
    }

    #[test]
    fn synthesis_needs_kind_and_matching_old() {
        assert!(synthesise(json!({"a": 1}), None, None).unwrap_err().contains("has no kind"));
        let pod = json!({"apiVersion": "v1", "kind": "Pod"});
        let secret = json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(synthesise(pod, Some(secret), None).unwrap_err().contains("--old must hold the same"));
        let deploy = synthesise(json!({"apiVersion": "apps/v1", "kind": "Deployment"}), None, None).unwrap();
        assert_eq!(deploy["request"]["resource"]["group"], "apps");
    }
}
