//! `secretgate review`: answer admission requests offline through the same
//! decode → dispatch → policy → encode path as the server, for one object or a
//! whole rendered release.

pub mod engine;
pub mod explain;
pub mod inputs;
pub mod report;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use self::engine::{Engine, Options, Reviewed};
use self::inputs::Input;
use self::report::{Output, Tally};
use super::EXIT_UNUSABLE;
use crate::admission::Webhook;
use crate::cluster::{Snapshot, View};
use crate::config::{OutputArg, ReviewArgs, policy_file};

/// Run `secretgate review`.
pub fn run(args: ReviewArgs) -> ExitCode {
    match review(&args) {
        Ok(code) => ExitCode::from(code),
        Err(reason) => {
            eprintln!("secretgate review: {reason}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// The cluster view: the `--cluster` snapshot, plus the objects under review
/// (they exist once applied together). Without `--cluster` a lookup that
/// misses is unknown, not absent.
pub fn load_view(cluster: &[std::path::PathBuf], inputs: &[Input]) -> Result<(View, Vec<String>), String> {
    let mut snapshot = Snapshot::load(cluster).map_err(|e| format!("--cluster {e}"))?;
    snapshot.inventory.partial = cluster.is_empty();
    for input in inputs {
        let kind = input.document.get("kind").and_then(Value::as_str);
        if matches!(kind, Some("Secret" | "ServiceAccount" | "Namespace")) {
            let text = serde_json::to_string(&input.document).map_err(|e| e.to_string())?;
            snapshot.add_text(Path::new(&input.source), &text).map_err(|e| e.to_string())?;
        }
    }
    let notes = std::mem::take(&mut snapshot.notes);
    Ok((View::Static(std::sync::Arc::new(snapshot)), notes))
}

fn review(args: &ReviewArgs) -> Result<u8, String> {
    let policy = policy_file::from_args(&args.policy)?;
    let mut inputs = inputs::collect(&args.files)?;
    // a directory may hold other YAML (values files, test suites): skipped, and said so
    let mut foreign = 0;
    inputs.retain(|input| {
        let keep = !input.walked || input.is_object();
        if !keep {
            foreign += 1;
            eprintln!(
                "secretgate review: note: {}: not a Kubernetes object (no apiVersion and kind); skipped",
                input.source
            );
        }
        keep
    });
    if inputs.is_empty() {
        return Err("the input holds no object".into());
    }
    let old = match &args.old {
        Some(_) if inputs.len() > 1 => return Err("--old applies to a single manifest; the input holds several".into()),
        Some(path) => {
            let mut old = inputs::collect(std::slice::from_ref(path))?;
            match old.len() {
                1 => Some(old.remove(0).document),
                n => return Err(format!("--old {}: expected one object, found {n}", path.display())),
            }
        }
        None => None,
    };
    let (view, notes) = load_view(&args.policy.cluster, &inputs)?;
    for note in notes {
        eprintln!("secretgate review: note: {note}");
    }
    let engine = Engine::new(policy, view)?;
    let webhook = Webhook::from(args.webhook);
    let options =
        Options { namespace: args.namespace.clone(), old, user: args.as_user.clone(), groups: args.as_groups.clone() };
    let results: Vec<Reviewed> =
        inputs.iter().map(|input| engine.review(input, webhook, &options)).collect::<Result<_, _>>()?;
    if args.explain {
        for result in &results {
            eprint!("{}", engine.explain(result));
        }
    }
    let output = match args.output {
        Some(OutputArg::Review) => Output::Review,
        Some(OutputArg::Text) => Output::Text,
        Some(OutputArg::Json) => Output::Json,
        Some(OutputArg::Patched) => Output::Patched,
        None if results.len() == 1 => Output::Review,
        None => Output::Text,
    };
    if output == Output::Patched && webhook != Webhook::Mutate {
        return Err("--output patched shows what the mutating webhook changes: add --webhook mutate".into());
    }
    let tally = Tally::of(&results);
    let mut text = match output {
        Output::Review => results.iter().map(|r| String::from_utf8_lossy(&r.answer()).into_owned() + "\n").collect(),
        Output::Text => report::text(&results),
        Output::Json => serde_json::to_string_pretty(&report::json(&results)).map_err(|e| e.to_string())? + "\n",
        Output::Patched => report::patched(&results)?,
    };
    let mut notes = Vec::new();
    if args.policy.cluster.is_empty() && results.iter().any(|r| r.unknown > 0) {
        notes.push(
            "no --cluster snapshot was given: Secrets and ServiceAccounts outside the inputs are unknown, so the rules that look them up warned instead of deciding"
                .to_string(),
        );
    }
    let mut summary = format!("secretgate review: {}", tally.line());
    if foreign > 0 {
        summary.push_str(&format!("; {foreign} document(s) in the directories were not Kubernetes objects"));
    }
    if output == Output::Text {
        text.push_str(&summary);
        text.push('\n');
        for note in &notes {
            text.push_str(&format!("secretgate review: note: {note}\n"));
        }
    } else if results.len() > 1 || !tally.skipped.is_empty() || !notes.is_empty() {
        // machine outputs keep stdout clean: the summary goes to stderr
        eprintln!("{summary}");
        for note in &notes {
            eprintln!("secretgate review: note: {note}");
        }
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        return Ok(EXIT_UNUSABLE);
    }
    let failed = tally.denied > 0
        || (args.fail_on_warning && results.iter().any(|r| r.checked && !r.warnings.is_empty()))
        || (args.fail_on_unknown && tally.unknown > 0);
    Ok(u8::from(failed))
}
