//! The suite file of `secretgate test` (`secretgate-test.yaml`): inputs, an
//! optional policy and cluster snapshot, and what each case must answer.
//! Paths are relative to the suite file. Unknown keys are refused with their
//! path, as in the policy file.
//!
//! ```yaml
//! name: app-secrets                  # default: the suite's directory name
//! policy: policy.yaml                # or values: ../charts/secretgate/values.yaml
//! cluster: [cluster/]                # without it, lookups are unknown (they warn)
//! webhook: validate                  # the cases' default: validate | mutate
//! cases:
//!   - name: a key starting with .. is denied
//!     input: inputs/bad-key.yaml     # every object in it must meet `expect`...
//!     object: Secret apps/db         # ...or only this one (`Kind namespace/name`)
//!     namespace: apps                # for manifests without one
//!     old: inputs/old.yaml           # makes it an UPDATE
//!     as: alice                      # the requester (exemptions match it)
//!     asGroups: [break-glass]        # ...and its groups
//!     expect:
//!       allowed: false
//!       checked: true                              # false: a kind the webhook does not check
//!       rules: [{id: secret-keys, action: deny}]   # these fire, with these actions (deny|warn|audit|exempt)
//!       notRules: [secret-type]                    # these do not fire
//!       message: "must not start with"             # a regex the denial message matches
//!       warnings: ["\\[secret-hygiene\\]"]         # each regex matches some warning
//!       patched: expected/pod.yaml                 # mutate: the object after the patch
//! ```

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::admission::Webhook;
use crate::documents;
use crate::policy::{Action, RuleId};

/// The file name `secretgate test` looks for in directories.
pub const SUITE_FILE: &str = "secretgate-test.yaml";

/// A loaded suite.
#[derive(Debug)]
pub struct Suite {
    /// Its name.
    pub name: String,
    /// The suite file.
    pub file: PathBuf,
    /// `policy`: a policy file.
    pub policy: Option<PathBuf>,
    /// `values`: a chart values file.
    pub values: Option<PathBuf>,
    /// `cluster`: snapshot paths.
    pub cluster: Vec<PathBuf>,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug)]
pub struct Case {
    /// Its name (unique in the suite).
    pub name: String,
    /// The input file.
    pub input: PathBuf,
    /// `object`: only this object of the input (`Kind namespace/name`).
    pub object: Option<String>,
    /// Which webhook answers.
    pub webhook: Webhook,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `old`.
    pub old: Option<PathBuf>,
    /// `as`: the requester's user name.
    pub user: Option<String>,
    /// `asGroups`: the requester's groups.
    pub groups: Vec<String>,
    /// What must hold.
    pub expect: Expect,
}

/// The expectations of a case; each is optional.
#[derive(Debug, Default)]
pub struct Expect {
    /// Allowed (true) or denied (false).
    pub allowed: Option<bool>,
    /// Whether the webhook checks the kind at all.
    pub checked: Option<bool>,
    /// Rules that fire, with their action.
    pub rules: Vec<(RuleId, Action)>,
    /// Rules that do not fire.
    pub not_rules: Vec<RuleId>,
    /// A regex the denial message matches.
    pub message: Option<regex::Regex>,
    /// Regexes each matching some warning.
    pub warnings: Vec<regex::Regex>,
    /// The expected patched object (its file).
    pub patched: Option<PathBuf>,
}

fn err(file: &Path, at: &str, message: impl std::fmt::Display) -> String {
    format!("{}: {at}: {message}", file.display())
}

fn object<'a>(v: &'a Value, file: &Path, at: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let Value::Object(map) = v else { return Err(err(file, at, "expected a map")) };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(err(
                file,
                &format!("{at}.{key}"),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(map)
}

fn string(v: &Value, file: &Path, at: &str) -> Result<String, String> {
    v.as_str().map(str::to_string).ok_or_else(|| err(file, at, "expected a string"))
}

fn regex(v: &Value, file: &Path, at: &str) -> Result<regex::Regex, String> {
    let text = string(v, file, at)?;
    regex::Regex::new(&text).map_err(|e| err(file, at, format!("not a regular expression: {e}")))
}

fn rule(v: &Value, file: &Path, at: &str) -> Result<RuleId, String> {
    let name = string(v, file, at)?;
    RuleId::ALL.into_iter().find(|r| r.as_str() == name).ok_or_else(|| err(file, at, format!("unknown rule {name:?}")))
}

fn webhook(v: &Value, file: &Path, at: &str) -> Result<Webhook, String> {
    match v.as_str() {
        Some("validate") => Ok(Webhook::Validate),
        Some("mutate") => Ok(Webhook::Mutate),
        _ => Err(err(file, at, "expected validate or mutate")),
    }
}

/// Read a suite file.
pub fn load(file: &Path) -> Result<Suite, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc = documents::parse_one(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let path = |v: &Value, at: &str| string(v, file, at).map(|p| dir.join(p));
    let root = object(&doc, file, "suite", &["name", "policy", "values", "cluster", "webhook", "cases"])?;
    let name = match root.get("name") {
        Some(v) => string(v, file, "name")?,
        None => dir.file_name().map_or_else(|| "suite".into(), |n| n.to_string_lossy().into_owned()),
    };
    let policy = root.get("policy").map(|v| path(v, "policy")).transpose()?;
    let values = root.get("values").map(|v| path(v, "values")).transpose()?;
    if policy.is_some() && values.is_some() {
        return Err(err(file, "values", "give policy or values, not both"));
    }
    let cluster = match root.get("cluster") {
        None => Vec::new(),
        Some(Value::String(_)) => vec![path(&root["cluster"], "cluster")?],
        Some(Value::Array(list)) => {
            list.iter().enumerate().map(|(i, v)| path(v, &format!("cluster[{i}]"))).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(err(file, "cluster", "expected a path or a list of paths")),
    };
    let default_webhook =
        root.get("webhook").map(|v| webhook(v, file, "webhook")).transpose()?.unwrap_or(Webhook::Validate);
    let Some(Value::Array(list)) = root.get("cases") else {
        return Err(err(file, "cases", "a list of cases is required"));
    };
    let mut cases: Vec<Case> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("cases[{i}]");
        let case = object(
            item,
            file,
            &at,
            &["name", "input", "object", "webhook", "namespace", "old", "as", "asGroups", "expect"],
        )?;
        let name = case
            .get("name")
            .map(|v| string(v, file, &format!("{at}.name")))
            .transpose()?
            .ok_or_else(|| err(file, &format!("{at}.name"), "a name is required"))?;
        if cases.iter().any(|c| c.name == name) {
            return Err(err(file, &format!("{at}.name"), format!("{name:?} is used twice")));
        }
        let input = case
            .get("input")
            .map(|v| path(v, &format!("{at}.input")))
            .transpose()?
            .ok_or_else(|| err(file, &format!("{at}.input"), "an input file is required"))?;
        let only = case.get("object").map(|v| string(v, file, &format!("{at}.object"))).transpose()?;
        let webhook = case
            .get("webhook")
            .map(|v| webhook(v, file, &format!("{at}.webhook")))
            .transpose()?
            .unwrap_or(default_webhook);
        let namespace = case.get("namespace").map(|v| string(v, file, &format!("{at}.namespace"))).transpose()?;
        let old = case.get("old").map(|v| path(v, &format!("{at}.old"))).transpose()?;
        let user = case.get("as").map(|v| string(v, file, &format!("{at}.as"))).transpose()?;
        let mut groups = Vec::new();
        if let Some(list) = case.get("asGroups") {
            let Value::Array(items) = list else {
                return Err(err(file, &format!("{at}.asGroups"), "expected a list of group names"));
            };
            for (j, item) in items.iter().enumerate() {
                groups.push(string(item, file, &format!("{at}.asGroups[{j}]"))?);
            }
        }
        let expect = match case.get("expect") {
            Some(v) => expect(v, file, &format!("{at}.expect"), dir)?,
            None => return Err(err(file, &format!("{at}.expect"), "what the case must answer is required")),
        };
        cases.push(Case { name, input, object: only, webhook, namespace, old, user, groups, expect });
    }
    Ok(Suite { name, file: file.to_path_buf(), policy, values, cluster, cases })
}

fn expect(v: &Value, file: &Path, at: &str, dir: &Path) -> Result<Expect, String> {
    let map = object(v, file, at, &["allowed", "checked", "rules", "notRules", "message", "warnings", "patched"])?;
    let mut expect = Expect::default();
    let flag = |key: &str| {
        map.get(key)
            .map(|v| v.as_bool().ok_or_else(|| err(file, &format!("{at}.{key}"), "expected true or false")))
            .transpose()
    };
    expect.allowed = flag("allowed")?;
    expect.checked = flag("checked")?;
    for (i, item) in map.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{at}.rules[{i}]");
        let entry = object(item, file, &at, &["id", "action"])?;
        let id = rule(entry.get("id").unwrap_or(&Value::Null), file, &format!("{at}.id"))?;
        let action = match entry.get("action").and_then(Value::as_str) {
            Some("deny") => Action::Deny,
            Some("warn") => Action::Warn,
            Some("audit") => Action::Audit,
            Some("exempt") => Action::Exempt,
            _ => return Err(err(file, &format!("{at}.action"), "expected deny, warn, audit or exempt")),
        };
        expect.rules.push((id, action));
    }
    for (i, item) in map.get("notRules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        expect.not_rules.push(rule(item, file, &format!("{at}.notRules[{i}]"))?);
    }
    expect.message = map.get("message").map(|v| regex(v, file, &format!("{at}.message"))).transpose()?;
    for (i, item) in map.get("warnings").and_then(Value::as_array).into_iter().flatten().enumerate() {
        expect.warnings.push(regex(item, file, &format!("{at}.warnings[{i}]"))?);
    }
    expect.patched =
        map.get("patched").map(|v| string(v, file, &format!("{at}.patched")).map(|p| dir.join(p))).transpose()?;
    Ok(expect)
}

/// Suite files under `paths`: files as given, directories searched for
/// [`SUITE_FILE`] (sorted).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let is_suite = |p: &Path| p.file_name().is_some_and(|n| n == SUITE_FILE);
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let found = crate::app::review::inputs::walk_files(path, &is_suite)?;
            if found.is_empty() {
                return Err(format!("{}: no {SUITE_FILE} in this directory", path.display()));
            }
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(text: &str) -> Result<Suite, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(SUITE_FILE);
        std::fs::write(&file, text).unwrap();
        load(&file)
    }

    #[test]
    fn a_suite_reads_and_its_errors_name_the_key() {
        let s = suite(
            "name: s\ncases:\n  - name: c\n    input: a.yaml\n    expect: {allowed: false, rules: [{id: secret-keys, action: deny}], message: 'x+'}\n",
        )
        .unwrap();
        assert_eq!(s.cases[0].expect.rules, vec![(RuleId::SecretKeys, Action::Deny)]);
        assert!(s.cases[0].input.ends_with("a.yaml"));
        let e = suite("cases:\n  - name: c\n    input: a.yaml\n    expect: {alowed: true}\n").unwrap_err();
        assert!(e.contains("cases[0].expect.alowed: unknown key"), "{e}");
        let e = suite("cases:\n  - name: c\n    input: a.yaml\n    expect: {rules: [{id: no-such, action: deny}]}\n")
            .unwrap_err();
        assert!(e.contains("unknown rule \"no-such\""), "{e}");
        let e =
            suite("cases:\n  - {name: c, input: a, expect: {}}\n  - {name: c, input: b, expect: {}}\n").unwrap_err();
        assert!(e.contains("used twice"), "{e}");
        let e = suite("cases:\n  - {name: c, input: a, expect: {message: '('}}\n").unwrap_err();
        assert!(e.contains("not a regular expression"), "{e}");
    }
}
