//! `secretgate test PATH...`: run declarative suites ([`suite`]) through the
//! same path as `review` (and so as the server), report each case, summarise,
//! and write JUnit XML for CI ([`junit`]).

pub mod junit;
pub mod suite;

use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value;

use self::junit::{CaseResult, SuiteResult};
use self::suite::{Case, Suite};
use super::EXIT_UNUSABLE;
use super::review::engine::{Engine, Options, Reviewed};
use super::review::{inputs, load_view};
use crate::config::{PolicyArgs, TestArgs};
use crate::policy::Policy;

/// Run `secretgate test`.
pub fn run(args: TestArgs) -> ExitCode {
    match test(&args) {
        Ok(code) => ExitCode::from(code),
        Err(reason) => {
            eprintln!("secretgate test: {reason}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

fn test(args: &TestArgs) -> Result<u8, String> {
    let filter = args.run.as_deref().map(regex::Regex::new).transpose().map_err(|e| format!("--run: {e}"))?;
    let files = suite::discover(&args.paths)?;
    let suites: Vec<Suite> = files.iter().map(|f| suite::load(f)).collect::<Result<_, _>>()?;
    let mut results = Vec::new();
    let (mut passed, mut failed, mut filtered) = (0, 0, 0);
    for suite in &suites {
        // the suite's own policy, else the flags'
        let policy = match (&suite.policy, &suite.values) {
            (None, None) => PolicyArgs {
                config: args.policy.config.clone(),
                values: args.policy.values.clone(),
                cluster: Vec::new(),
            },
            _ => PolicyArgs { config: suite.policy.clone(), values: suite.values.clone(), cluster: Vec::new() },
        };
        let policy =
            crate::config::policy_file::from_args(&policy).map_err(|e| format!("{}: {e}", suite.file.display()))?;
        let cluster = if suite.cluster.is_empty() { args.policy.cluster.clone() } else { suite.cluster.clone() };
        println!("suite {} ({})", suite.name, suite.file.display());
        let mut cases = Vec::new();
        for case in &suite.cases {
            let full = format!("{}/{}", suite.name, case.name);
            if filter.as_ref().is_some_and(|f| !f.is_match(&full)) {
                filtered += 1;
                continue;
            }
            let started = Instant::now();
            let outcome = run_case(&cluster, &policy, case);
            let seconds = started.elapsed().as_secs_f64();
            match &outcome {
                Ok(()) => {
                    passed += 1;
                    println!("  ok    {}", case.name);
                }
                Err(why) => {
                    failed += 1;
                    println!("  FAIL  {}", case.name);
                    for line in why.lines() {
                        println!("        {line}");
                    }
                }
            }
            cases.push(CaseResult { name: case.name.clone(), seconds, failure: outcome.err() });
        }
        results.push(SuiteResult { name: suite.name.clone(), file: suite.file.display().to_string(), cases });
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&results)).map_err(|e| format!("--junit {}: {e}", path.display()))?;
    }
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "secretgate test: {}, {}: {passed} passed, {failed} failed",
        plural(suites.len(), "suite"),
        plural(passed + failed, "case")
    );
    if filtered > 0 {
        line.push_str(&format!(", {filtered} filtered out by --run"));
    }
    println!("{line}");
    if passed + failed == 0 {
        return Err("no case ran (check --run)".into());
    }
    Ok(u8::from(failed > 0))
}

/// Run one case; the error says what was expected and what was answered.
fn run_case(cluster: &[std::path::PathBuf], policy: &Policy, case: &Case) -> Result<(), String> {
    let inputs = inputs::collect(std::slice::from_ref(&case.input))?;
    if inputs.is_empty() {
        return Err(format!("{}: holds no object", case.input.display()));
    }
    let old = match &case.old {
        None => None,
        Some(path) => {
            let mut old = inputs::collect(std::slice::from_ref(path))?;
            if old.len() != 1 || inputs.len() != 1 {
                return Err("old: needs one object in input and one in old".into());
            }
            Some(old.remove(0).document)
        }
    };
    let (view, _notes) = load_view(cluster, &inputs)?;
    let engine = Engine::new(policy.clone(), view)?;
    let options =
        Options { namespace: case.namespace.clone(), old, user: case.user.clone(), groups: case.groups.clone() };
    let mut problems = Vec::new();
    let mut matched = 0;
    for input in &inputs {
        let reviewed = engine.review(input, case.webhook, &options)?;
        if case.object.as_ref().is_some_and(|want| *want != reviewed.subject()) {
            continue;
        }
        matched += 1;
        let prefix = if inputs.len() > 1 { format!("{}: ", reviewed.subject()) } else { String::new() };
        for problem in check(case, &reviewed)? {
            problems.push(format!("{prefix}{problem}"));
        }
    }
    if let Some(want) = &case.object
        && matched == 0
    {
        return Err(format!("object: {want:?} is not in {}", case.input.display()));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

fn fired(r: &Reviewed) -> String {
    if r.rules.is_empty() {
        return "none".into();
    }
    let mut names: Vec<String> = r.rules.iter().map(|(rule, action)| format!("{rule} ({})", action.as_str())).collect();
    names.dedup();
    names.join(", ")
}

fn answered(r: &Reviewed) -> String {
    match &r.denial {
        Some((_, message)) => format!("denied: {}", message.lines().next().unwrap_or_default()),
        None if !r.checked => format!("allowed: the {} webhook does not check a {}", r.webhook.as_str(), r.kind),
        None => "allowed".into(),
    }
}

/// Every expectation of `case` that `r` does not meet.
fn check(case: &Case, r: &Reviewed) -> Result<Vec<String>, String> {
    let expect = &case.expect;
    let mut problems = Vec::new();
    if let Some(allowed) = expect.allowed
        && allowed != r.allowed
    {
        let want = if allowed { "allowed" } else { "denied" };
        problems.push(format!("expected {want}, got {}", answered(r)));
    }
    if let Some(checked) = expect.checked
        && checked != r.checked
    {
        let got = if r.checked { "it was checked" } else { "the webhook does not check this kind" };
        problems.push(format!("expected checked: {checked}; {got}"));
    }
    for (rule, action) in &expect.rules {
        if !r.fired(*rule, *action) {
            problems.push(format!("expected [{rule}] to {}; rules that fired: {}", action.as_str(), fired(r)));
        }
    }
    for rule in &expect.not_rules {
        if r.rules.iter().any(|(fired, _)| fired == rule) {
            problems.push(format!("expected [{rule}] not to fire; rules that fired: {}", fired(r)));
        }
    }
    if let Some(re) = &expect.message {
        match &r.denial {
            Some((_, message)) if re.is_match(message) => {}
            Some((_, message)) => problems.push(format!("expected a denial message matching /{re}/, got: {message}")),
            None => problems.push(format!("expected a denial message matching /{re}/, got {}", answered(r))),
        }
    }
    for re in &expect.warnings {
        if !r.warnings.iter().any(|w| re.is_match(w)) {
            let got = if r.warnings.is_empty() { "none".to_string() } else { r.warnings.join(" | ") };
            problems.push(format!("expected a warning matching /{re}/; warnings: {got}"));
        }
    }
    if let Some(path) = &expect.patched {
        let mut want = inputs::collect(std::slice::from_ref(path))?;
        if want.len() != 1 {
            return Err(format!("patched: {} must hold one object", path.display()));
        }
        let want = want.remove(0).document;
        match &r.patched {
            Some(got) if *got == want => {}
            Some(got) => problems.push(format!(
                "the patched object differs from {}: {}",
                path.display(),
                first_difference(&want, got, "")
            )),
            None => problems.push("expected a patched object; the request had none".into()),
        }
    }
    Ok(problems)
}

/// Where two JSON values first differ, as a JSON pointer with both sides.
fn first_difference(want: &Value, got: &Value, at: &str) -> String {
    let short = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 120 { format!("{}...", text.chars().take(117).collect::<String>()) } else { text }
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match g.get(k) {
                    Some(gv) if gv == wv => {}
                    Some(gv) => return first_difference(wv, gv, &here),
                    None => return format!("at {here}: expected {}, got nothing", short(wv)),
                }
            }
            match g.keys().find(|k| !w.contains_key(*k)) {
                Some(k) => format!("at {at}/{k}: expected nothing, got {}", short(&g[k])),
                None => format!("at {at}: differ"),
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            match w.iter().zip(g).enumerate().find(|(_, (a, b))| a != b) {
                Some((i, (a, b))) => first_difference(a, b, &format!("{at}/{i}")),
                None => format!("at {at}: differ"),
            }
        }
        _ => format!("at {}: expected {}, got {}", if at.is_empty() { "/" } else { at }, short(want), short(got)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_pointer() {
        let want = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
        let got = json!({"spec": {"volumes": [{"name": "a"}, {"name": "c"}]}});
        assert_eq!(first_difference(&want, &got, ""), "at /spec/volumes/1/name: expected \"b\", got \"c\"");
        let got = json!({"spec": {"volumes": [{"name": "a"}]}});
        assert!(first_difference(&want, &got, "").starts_with("at /spec/volumes: expected"));
    }
}
