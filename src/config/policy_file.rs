//! The policy configuration file (contract §4, §4.1): YAML into a [`Policy`]:
//! the top-level settings, the per-namespace overrides and the exemptions.
//! Every key is optional; unknown keys and values are refused with their
//! path named, e.g. `rules.pod-envfrom-names.names: unknown value "lax"`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::documents;
use crate::policy::overrides::{Exemption, NamespaceMatch, Override, Requirement, RuleSet, Setting};
use crate::policy::settings::{EnvNames, PullSecretMode, WorkloadAction};
use crate::policy::{Action, Policy, RuleId};

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyFileError(pub String);

/// The policy of `--config` or `--values` (the defaults with neither); the
/// message names the flag.
pub fn from_args(args: &crate::config::PolicyArgs) -> Result<Policy, String> {
    match (&args.config, &args.values) {
        (Some(path), _) => load(path).map_err(|e| format!("--config {e}")),
        (None, Some(path)) => load_values(path).map_err(|e| format!("--values {e}")),
        (None, None) => Ok(Policy::default()),
    }
}

/// Read and parse a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyFileError(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| PolicyFileError(format!("{}: {e}", path.display())))
}

/// Parse a policy file's text. An empty file means the defaults.
pub fn parse(text: &str) -> Result<Policy, PolicyFileError> {
    let docs = documents::parse_all(text).map_err(|e| PolicyFileError(e.to_string()))?;
    match docs.as_slice() {
        [] => Ok(Policy::default()),
        [root] => policy(root),
        _ => Err(PolicyFileError("expected one YAML document".into())),
    }
}

/// The policy of a Helm values file of the chart: its `policy` key, which the
/// chart renders into the server's ConfigMap as the policy file. Other keys
/// are the chart's and are not read.
pub fn load_values(path: &Path) -> Result<Policy, PolicyFileError> {
    let fail = |e: String| PolicyFileError(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    parse_values(&text).map_err(|e| fail(e.0))
}

/// The policy of a Helm values file's text (see [`load_values`]).
pub fn parse_values(text: &str) -> Result<Policy, PolicyFileError> {
    let docs = documents::parse_all(text).map_err(|e| PolicyFileError(e.to_string()))?;
    let root = match docs.as_slice() {
        [] => return Ok(Policy::default()),
        [root] => root,
        _ => return Err(PolicyFileError("expected one YAML document".into())),
    };
    let Value::Object(values) = root else { return Err(PolicyFileError("expected a map of chart values".into())) };
    match values.get("policy") {
        None | Some(Value::Null) => Ok(Policy::default()),
        Some(policy_value) => policy(policy_value).map_err(|e| PolicyFileError(format!("policy.{}", e.0))),
    }
}

fn err(path: &str, message: impl std::fmt::Display) -> PolicyFileError {
    PolicyFileError(format!("{path}: {message}"))
}

/// `path.key`, or `key` at the root.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The map at `path`, with only `allowed` keys.
fn map<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, PolicyFileError> {
    let Value::Object(map) = value else {
        return Err(err(path, "expected a map"));
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let sub = join(path, key);
            return Err(err(&sub, format!("unknown key (expected one of: {})", allowed.join(", "))));
        }
    }
    Ok(map)
}

fn choice<T: Copy>(value: &Value, path: &str, choices: &[(&str, T)]) -> Result<T, PolicyFileError> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let expected = format!("(expected one of: {})", names.join(", "));
    let Value::String(s) = value else {
        return Err(err(path, format!("expected a string {expected}")));
    };
    choices
        .iter()
        .find(|(name, _)| name == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| err(path, format!("unknown value {s:?} {expected}")))
}

fn boolean(value: &Value, path: &str) -> Result<bool, PolicyFileError> {
    value.as_bool().ok_or_else(|| err(path, "expected true or false"))
}

fn integer(value: &Value, path: &str, min: u64, max: u64) -> Result<u64, PolicyFileError> {
    value
        .as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| err(path, format!("expected a whole number from {min} to {max}")))
}

/// A list of non-empty strings at `path`.
fn strings(value: &Value, path: &str) -> Result<BTreeSet<String>, PolicyFileError> {
    let Value::Array(items) = value else { return Err(err(path, "expected a list of strings")) };
    let mut out = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if !s.is_empty() => out.insert(s.clone()),
            _ => return Err(err(&format!("{path}[{i}]"), "expected a non-empty string")),
        };
    }
    Ok(out)
}

/// The keys a file's top level and an override share.
const SETTING_KEYS: [&str; 3] = ["rules", "inject", "workloads"];

fn policy(root: &Value) -> Result<Policy, PolicyFileError> {
    let allowed: Vec<&str> = SETTING_KEYS.iter().copied().chain(["overrides", "exemptions"]).collect();
    let root = map(root, "", &allowed)?;
    let file = settings(root, "")?;
    let mut names = BTreeSet::new();
    let mut overrides = Vec::new();
    if let Some(list) = root.get("overrides").filter(|v| !v.is_null()) {
        let Value::Array(items) = list else { return Err(err("overrides", "expected a list")) };
        for (i, item) in items.iter().enumerate() {
            overrides.push(override_entry(item, &format!("overrides[{i}]"), &mut names)?);
        }
    }
    let mut exemptions = Vec::new();
    if let Some(list) = root.get("exemptions").filter(|v| !v.is_null()) {
        let Value::Array(items) = list else { return Err(err("exemptions", "expected a list")) };
        for (i, item) in items.iter().enumerate() {
            exemptions.push(exemption(item, &format!("exemptions[{i}]"), &mut names)?);
        }
    }
    Ok(Policy::new(file, overrides, exemptions))
}

/// `name` of an override or exemption: what answers and `--explain` show,
/// unique across both lists.
fn entry_name(
    entry: &Map<String, Value>,
    path: &str,
    names: &mut BTreeSet<String>,
) -> Result<Arc<str>, PolicyFileError> {
    let path = join(path, "name");
    let Some(value) = entry.get("name") else { return Err(err(&path, "required: a name for answers and --explain")) };
    let Value::String(name) = value else { return Err(err(&path, "expected a string")) };
    let valid = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(err(&path, format!("{name:?}: expected 1 to 63 letters, digits, '-', '_' or '.'")));
    }
    if !names.insert(name.clone()) {
        return Err(err(&path, format!("{name:?} is already the name of another override or exemption")));
    }
    Ok(name.as_str().into())
}

fn override_entry(value: &Value, path: &str, names: &mut BTreeSet<String>) -> Result<Override, PolicyFileError> {
    let allowed: Vec<&str> = ["name", "namespaces"].into_iter().chain(SETTING_KEYS).collect();
    let entry = map(value, path, &allowed)?;
    let name = entry_name(entry, path, names)?;
    let ns_path = join(path, "namespaces");
    let Some(namespaces) = entry.get("namespaces") else {
        return Err(err(&ns_path, "required: the namespaces it applies to (names and/or selector)"));
    };
    let namespaces = namespace_match(namespaces, &ns_path)?;
    Ok(Override { name, namespaces, settings: settings(entry, path)? })
}

fn namespace_match(value: &Value, path: &str) -> Result<NamespaceMatch, PolicyFileError> {
    let entry = map(value, path, &["names", "selector"])?;
    let names = entry.get("names").map(|v| strings(v, &join(path, "names"))).transpose()?.unwrap_or_default();
    let selector = entry.get("selector").map(|v| label_selector(v, &join(path, "selector"))).transpose()?;
    if names.is_empty() && selector.is_none() {
        return Err(err(path, "expected names, a selector, or both (selector: {} selects every namespace)"));
    }
    Ok(NamespaceMatch { names, selector })
}

/// A `LabelSelector` on the Namespace's labels, as upstream validates it.
fn label_selector(value: &Value, path: &str) -> Result<Vec<Requirement>, PolicyFileError> {
    let selector = map(value, path, &["matchLabels", "matchExpressions"])?;
    let mut requirements = Vec::new();
    if let Some(labels) = selector.get("matchLabels") {
        let labels_path = join(path, "matchLabels");
        let Value::Object(labels) = labels else { return Err(err(&labels_path, "expected a map of label to value")) };
        for (key, value) in labels {
            let Value::String(value) = value else {
                return Err(err(&join(&labels_path, key), "expected a string (quote numbers and booleans)"));
            };
            let value = label_value(value, &join(&labels_path, key))?;
            requirements.push(Requirement::In(label_key(key, &labels_path)?, [value].into()));
        }
    }
    if let Some(expressions) = selector.get("matchExpressions") {
        let list_path = join(path, "matchExpressions");
        let Value::Array(items) = expressions else { return Err(err(&list_path, "expected a list")) };
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{list_path}[{i}]");
            let expression = map(item, &item_path, &["key", "operator", "values"])?;
            let key = match expression.get("key") {
                Some(Value::String(key)) => label_key(key, &item_path)?,
                _ => return Err(err(&join(&item_path, "key"), "required: a label key")),
            };
            let operators = [("In", 0), ("NotIn", 1), ("Exists", 2), ("DoesNotExist", 3)];
            let operator_path = join(&item_path, "operator");
            let Some(operator) = expression.get("operator") else { return Err(err(&operator_path, "required")) };
            let operator = choice(operator, &operator_path, &operators)?;
            let values_path = join(&item_path, "values");
            let values = match expression.get("values") {
                None | Some(Value::Null) => BTreeSet::new(),
                Some(Value::Array(items)) => {
                    let mut values = BTreeSet::new();
                    for (j, item) in items.iter().enumerate() {
                        let at = format!("{values_path}[{j}]");
                        let Value::String(v) = item else { return Err(err(&at, "expected a string")) };
                        values.insert(label_value(v, &at)?);
                    }
                    values
                }
                Some(_) => return Err(err(&values_path, "expected a list of label values")),
            };
            requirements.push(match operator {
                0 | 1 if values.is_empty() => return Err(err(&values_path, "In and NotIn need at least one value")),
                0 => Requirement::In(key, values),
                1 => Requirement::NotIn(key, values),
                _ if !values.is_empty() => return Err(err(&values_path, "Exists and DoesNotExist take no values")),
                2 => Requirement::Exists(key),
                _ => Requirement::DoesNotExist(key),
            });
        }
    }
    Ok(requirements)
}

/// A label key as upstream validates it: `[prefix/]name`, the prefix a DNS
/// subdomain of at most 253 characters, the name 1 to 63 characters.
fn label_key(key: &str, path: &str) -> Result<String, PolicyFileError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        (1..=253).contains(&p.len())
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    if !prefix_ok || name.is_empty() || !label_value_ok(name) {
        return Err(err(
            path,
            format!(
                "{key:?} is not a label key ([prefix/]name: a DNS subdomain prefix, a name of 1 to 63 letters, digits, '-', '_', '.')"
            ),
        ));
    }
    Ok(key.to_string())
}

/// A label value as upstream validates it: empty, or at most 63 letters,
/// digits, '-', '_', '.', starting and ending with a letter or digit.
fn label_value_ok(value: &str) -> bool {
    let b = value.as_bytes();
    value.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_none_or(u8::is_ascii_alphanumeric)
        && b.last().is_none_or(u8::is_ascii_alphanumeric)
}

fn label_value(value: &str, path: &str) -> Result<String, PolicyFileError> {
    match label_value_ok(value) {
        true => Ok(value.to_string()),
        false => Err(err(
            path,
            format!(
                "{value:?} is not a label value (at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
            ),
        )),
    }
}

fn exemption(value: &Value, path: &str, names: &mut BTreeSet<String>) -> Result<Exemption, PolicyFileError> {
    let entry = map(value, path, &["name", "users", "groups", "rules"])?;
    let name = entry_name(entry, path, names)?;
    let users = entry.get("users").map(|v| strings(v, &join(path, "users"))).transpose()?.unwrap_or_default();
    let groups = entry.get("groups").map(|v| strings(v, &join(path, "groups"))).transpose()?.unwrap_or_default();
    if users.is_empty() && groups.is_empty() {
        return Err(err(path, "expected users, groups, or both: whom the exemption is for"));
    }
    let rules_path = join(path, "rules");
    let Some(rules) = entry.get("rules") else { return Err(err(&rules_path, "required: rule ids, or [\"*\"]")) };
    let listed = strings(rules, &rules_path)?;
    let mut ids = BTreeSet::new();
    for id in listed.iter().filter(|id| *id != "*") {
        let Some(rule) = RuleId::parse(id) else {
            let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
            return Err(err(&rules_path, format!("unknown rule {id:?} (expected \"*\" or: {})", known.join(", "))));
        };
        ids.insert(rule);
    }
    let rules = match (listed.contains("*"), ids.is_empty()) {
        (true, _) => RuleSet::All,
        (false, false) => RuleSet::Some(ids),
        (false, true) => return Err(err(&rules_path, "expected at least one rule id, or [\"*\"]")),
    };
    Ok(Exemption { name, users, groups, rules })
}

/// The `rules`, `inject` and `workloads` keys of `entry` (the top level or an
/// override at `path`), in file order.
fn settings(entry: &Map<String, Value>, path: &str) -> Result<Vec<Setting>, PolicyFileError> {
    let mut out = Vec::new();
    if let Some(rules) = entry.get("rules") {
        let rules_path = join(path, "rules");
        let ids: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
        for (id, options) in map(rules, &rules_path, &ids)? {
            let rule = RuleId::parse(id).expect("keys were checked against the rule ids");
            rule_settings(rule, options, &join(&rules_path, id), &mut out)?;
        }
    }
    if let Some(inject) = entry.get("inject") {
        let inject_path = join(path, "inject");
        let inject = map(inject, &inject_path, &["imagePullSecrets", "secretMounts"])?;
        if let Some(pull) = inject.get("imagePullSecrets") {
            let path = join(&inject_path, "imagePullSecrets");
            let pull = map(pull, &path, &["enabled", "mode"])?;
            if let Some(v) = pull.get("enabled") {
                out.push(Setting::PullSecretsEnabled(boolean(v, &join(&path, "enabled"))?));
            }
            if let Some(v) = pull.get("mode") {
                let modes = [("merge", PullSecretMode::Merge), ("ifEmpty", PullSecretMode::IfEmpty)];
                out.push(Setting::PullSecretsMode(choice(v, &join(&path, "mode"), &modes)?));
            }
        }
        if let Some(mounts) = inject.get("secretMounts") {
            let path = join(&inject_path, "secretMounts");
            let mounts = map(mounts, &path, &["enabled", "basePath"])?;
            if let Some(v) = mounts.get("enabled") {
                out.push(Setting::MountsEnabled(boolean(v, &join(&path, "enabled"))?));
            }
            if let Some(v) = mounts.get("basePath") {
                out.push(Setting::MountsBasePath(base_path(v, &join(&path, "basePath"))?));
            }
        }
    }
    if let Some(workloads) = entry.get("workloads") {
        let workloads_path = join(path, "workloads");
        let workloads = map(workloads, &workloads_path, &["action"])?;
        if let Some(v) = workloads.get("action") {
            let actions =
                [("warn", WorkloadAction::Warn), ("inherit", WorkloadAction::Inherit), ("off", WorkloadAction::Off)];
            out.push(Setting::Workloads(choice(v, &join(&workloads_path, "action"), &actions)?));
        }
    }
    Ok(out)
}

fn rule_settings(rule: RuleId, options: &Value, path: &str, out: &mut Vec<Setting>) -> Result<(), PolicyFileError> {
    let extra: &[&str] = match rule {
        RuleId::SecretSize => &["maxBytes"],
        RuleId::SecretHygiene => &["certExpiryWarningDays"],
        RuleId::PodEnvfromNames => &["names"],
        _ => &[],
    };
    let allowed: Vec<&str> = std::iter::once("action").chain(extra.iter().copied()).collect();
    let options = map(options, path, &allowed)?;
    if let Some(v) = options.get("action") {
        let actions = Action::ALL.map(|a| (a.as_str(), a));
        out.push(Setting::Action(rule, choice(v, &join(path, "action"), &actions)?));
    }
    if let Some(v) = options.get("maxBytes") {
        out.push(Setting::MaxSecretBytes(integer(v, &join(path, "maxBytes"), 1, u64::from(u32::MAX))?));
    }
    if let Some(v) = options.get("certExpiryWarningDays") {
        let days = integer(v, &join(path, "certExpiryWarningDays"), 0, 3650)?;
        out.push(Setting::CertExpiryWarningDays(u32::try_from(days).expect("bounded above")));
    }
    if let Some(v) = options.get("names") {
        let names = [("strict", EnvNames::Strict), ("relaxed", EnvNames::Relaxed)];
        out.push(Setting::EnvNames(choice(v, &join(path, "names"), &names)?));
    }
    Ok(())
}

fn base_path(value: &Value, path: &str) -> Result<String, PolicyFileError> {
    let Value::String(s) = value else {
        return Err(err(path, "expected an absolute path"));
    };
    let valid = s.starts_with('/') && s.len() > 1 && !s.contains(':') && !s.split('/').any(|c| c == "..");
    if !valid {
        return Err(err(path, format!("{s:?} is not an absolute path without '..' or ':'")));
    }
    Ok(s.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Settings;

    fn base_of(text: &str) -> Settings {
        (**parse(text).unwrap().base()).clone()
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(base_of(""), Settings::default());
        assert_eq!(base_of("# only a comment\n"), Settings::default());
    }

    #[test]
    fn the_documented_defaults_parse_to_the_defaults() {
        let text = r#"
rules:
  secret-size:           {action: deny, maxBytes: 1048576}
  secret-keys:           {action: deny}
  secret-type:           {action: deny}
  secret-immutable:      {action: deny}
  secret-hygiene:        {action: warn, certExpiryWarningDays: 30}
  pod-secret-exists:     {action: deny}
  pod-secret-keys:       {action: deny}
  pod-mountable-secrets: {action: deny}
  pod-envfrom-names:     {action: warn, names: strict}   # strict | relaxed
  pod-secret-env:        {action: audit}
  configmap-credentials: {action: warn}
  secret-legacy-token:   {action: warn}
inject:
  imagePullSecrets: {enabled: true, mode: merge}        # merge | ifEmpty
  secretMounts:     {enabled: true, basePath: /var/run/secrets/secretgate.io}
workloads: {action: warn}
"#;
        assert_eq!(base_of(text), Settings::default());
    }

    #[test]
    fn off_is_an_action_not_a_boolean() {
        let s = base_of("rules:\n  secret-keys: {action: off}\nworkloads: {action: off}\n");
        assert_eq!(s.action(RuleId::SecretKeys), Action::Off);
        assert_eq!(s.workloads, WorkloadAction::Off);
    }

    #[test]
    fn one_option_changes_one_thing() {
        let s = base_of("rules:\n  pod-envfrom-names: {names: relaxed}\n");
        assert_eq!(s.env_names, EnvNames::Relaxed);
        let mut want = Settings::default();
        want.env_names = EnvNames::Relaxed;
        assert_eq!(s, want);
        let s = base_of("rules: {secret-size: {maxBytes: 10}}\ninject: {imagePullSecrets: {mode: ifEmpty}}\n");
        assert_eq!(s.max_secret_bytes, 10);
        assert_eq!(s.image_pull_secrets.mode, PullSecretMode::IfEmpty);
        let s = base_of(r#"{"rules": {"secret-keys": {"action": "audit"}}}"#);
        assert_eq!(s.action(RuleId::SecretKeys), Action::Audit);
    }

    #[test]
    fn unknown_values_and_keys_name_their_path() {
        let cases = [
            (
                "rules:\n  pod-envfrom-names: {names: lax}\n",
                "rules.pod-envfrom-names.names: unknown value \"lax\" (expected one of: strict, relaxed)",
            ),
            ("rules:\n  secret-sise: {action: deny}\n", "rules.secret-sise: unknown key"),
            (
                "rules:\n  secret-keys: {action: block}\n",
                "rules.secret-keys.action: unknown value \"block\" (expected one of: deny, warn, audit, off)",
            ),
            (
                "rules:\n  secret-keys: {maxBytes: 3}\n",
                "rules.secret-keys.maxBytes: unknown key (expected one of: action)",
            ),
            (
                "rules:\n  secret-size: {maxBytes: -1}\n",
                "rules.secret-size.maxBytes: expected a whole number from 1 to 4294967295",
            ),
            (
                "inject: {secretMounts: {basePath: relative/path}}\n",
                "inject.secretMounts.basePath: \"relative/path\" is not an absolute path",
            ),
            (
                "inject: {imagePullSecrets: {enabled: yes please}}\n",
                "inject.imagePullSecrets.enabled: expected true or false",
            ),
            (
                "workloads: {action: deny}\n",
                "workloads.action: unknown value \"deny\" (expected one of: warn, inherit, off)",
            ),
            ("rulez: {}\n", "rulez: unknown key (expected one of: rules, inject, workloads, overrides, exemptions)"),
            ("- a\n", ": expected a map"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err().0;
            assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
        }
    }

    const OVERRIDES: &str = r#"
rules:
  pod-secret-keys: {action: warn}
overrides:
  - name: dev
    namespaces:
      selector: {matchLabels: {env: dev}}
    rules:
      pod-secret-exists: {action: warn}
    workloads: {action: off}
  - name: prod
    namespaces:
      names: [payments]
      selector:
        matchExpressions:
          - {key: env, operator: In, values: [prod, production]}
    rules:
      pod-secret-keys: {action: deny}
    inject: {secretMounts: {enabled: false}}
exemptions:
  - name: break-glass
    groups: [break-glass]
    rules: [pod-secret-exists]
  - name: argocd
    users: [system:serviceaccount:argocd:argocd-application-controller]
    rules: ["*"]
"#;

    #[test]
    fn overrides_and_exemptions_parse_in_order() {
        let policy = parse(OVERRIDES).unwrap();
        assert_eq!(policy.base().action(RuleId::PodSecretKeys), Action::Warn);
        let names: Vec<&str> = policy.overrides().iter().map(|o| &*o.name).collect();
        assert_eq!(names, ["dev", "prod"]);
        let prod = &policy.overrides()[1];
        assert!(prod.namespaces.names.contains("payments"));
        assert_eq!(
            prod.namespaces.selector,
            Some(vec![Requirement::In("env".into(), ["prod".to_string(), "production".to_string()].into())])
        );
        assert_eq!(
            prod.settings,
            vec![Setting::Action(RuleId::PodSecretKeys, Action::Deny), Setting::MountsEnabled(false)]
        );
        assert_eq!(policy.exemptions()[0].rules, RuleSet::Some([RuleId::PodSecretExists].into()));
        assert_eq!(policy.exemptions()[1].rules, RuleSet::All);
        let labels = [("env".to_string(), "production".to_string())].into();
        let resolved = policy.resolve("shop", Some(&labels), None);
        assert_eq!(resolved.settings.action(RuleId::PodSecretKeys), Action::Deny);
        assert!(!resolved.settings.secret_mounts.enabled);
    }

    #[test]
    fn override_and_exemption_errors_name_their_path() {
        let cases = [
            ("overrides: {}\n", "overrides: expected a list"),
            ("overrides: [{namespaces: {names: [a]}}]\n", "overrides[0].name: required"),
            ("overrides: [{name: a}]\n", "overrides[0].namespaces: required"),
            (
                "overrides: [{name: a, namespaces: {}}]\n",
                "overrides[0].namespaces: expected names, a selector, or both",
            ),
            (
                "overrides: [{name: a, namespaces: {names: [x]}}, {name: a, namespaces: {names: [y]}}]\n",
                "overrides[1].name: \"a\" is already the name",
            ),
            ("overrides: [{name: \"a b\", namespaces: {names: [x]}}]\n", "overrides[0].name: \"a b\": expected"),
            (
                "overrides: [{name: a, namespaces: {names: [x]}, rules: {pod-secret-exists: {action: block}}}]\n",
                "overrides[0].rules.pod-secret-exists.action: unknown value \"block\"",
            ),
            (
                "overrides: [{name: a, namespaces: {names: [x]}, exemptions: []}]\n",
                "overrides[0].exemptions: unknown key (expected one of: name, namespaces, rules, inject, workloads)",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchLabels: {tier: 1}}}}]\n",
                "overrides[0].namespaces.selector.matchLabels.tier: expected a string",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchExpressions: [{key: env, operator: Equals}]}}}]\n",
                "overrides[0].namespaces.selector.matchExpressions[0].operator: unknown value \"Equals\" (expected one of: In, NotIn, Exists, DoesNotExist)",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchExpressions: [{key: env, operator: In}]}}}]\n",
                "overrides[0].namespaces.selector.matchExpressions[0].values: In and NotIn need at least one value",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchExpressions: [{key: env, operator: Exists, values: [x]}]}}}]\n",
                "overrides[0].namespaces.selector.matchExpressions[0].values: Exists and DoesNotExist take no values",
            ),
            (
                "overrides: [{name: a, namespaces: {names: [\"\"]}}]\n",
                "overrides[0].namespaces.names[0]: expected a non-empty string",
            ),
            ("exemptions: [{name: e, rules: [\"*\"]}]\n", "exemptions[0]: expected users, groups, or both"),
            ("exemptions: [{name: e, groups: [g]}]\n", "exemptions[0].rules: required"),
            (
                "exemptions: [{name: e, groups: [g], rules: [pod-secret-exist]}]\n",
                "exemptions[0].rules: unknown rule \"pod-secret-exist\"",
            ),
            ("exemptions: [{name: e, groups: [g], rules: []}]\n", "exemptions[0].rules: expected at least one rule id"),
            (
                "exemptions: [{name: e, group: [g], rules: [\"*\"]}]\n",
                "exemptions[0].group: unknown key (expected one of: name, users, groups, rules)",
            ),
            (
                "exemptions: [{name: e, groups: [g], rules: [\"*\", bogus]}]\n",
                "exemptions[0].rules: unknown rule \"bogus\"",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchLabels: {\"/x\": y}}}}]\n",
                "overrides[0].namespaces.selector.matchLabels: \"/x\" is not a label key",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchLabels: {env: \"not ok\"}}}}]\n",
                "overrides[0].namespaces.selector.matchLabels.env: \"not ok\" is not a label value",
            ),
            (
                "overrides: [{name: a, namespaces: {selector: {matchExpressions: [{key: env, operator: In, values: [\"-x\"]}]}}}]\n",
                "overrides[0].namespaces.selector.matchExpressions[0].values[0]: \"-x\" is not a label value",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err().0;
            assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
        }
    }
}
