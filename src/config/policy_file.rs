//! The policy configuration file (contract §4): YAML into [`Settings`].
//! Every key is optional; unknown keys and values are refused with their
//! path named, e.g. `rules.pod-envfrom-names.names: unknown value "lax"`.

use std::path::Path;

use serde_json::{Map, Value};

use crate::documents;
use crate::policy::settings::{EnvNames, PullSecretMode, WorkloadAction};
use crate::policy::{Action, RuleId, Settings};

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyFileError(pub String);

/// The settings of `--config` or `--values` (the defaults with neither); the
/// message names the flag.
pub fn from_args(args: &crate::config::PolicyArgs) -> Result<Settings, String> {
    match (&args.config, &args.values) {
        (Some(path), _) => load(path).map_err(|e| format!("--config {e}")),
        (None, Some(path)) => load_values(path).map_err(|e| format!("--values {e}")),
        (None, None) => Ok(Settings::default()),
    }
}

/// Read and parse a policy file.
pub fn load(path: &Path) -> Result<Settings, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyFileError(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| PolicyFileError(format!("{}: {e}", path.display())))
}

/// Parse a policy file's text. An empty file means the defaults.
pub fn parse(text: &str) -> Result<Settings, PolicyFileError> {
    let docs = documents::parse_all(text).map_err(|e| PolicyFileError(e.to_string()))?;
    let mut settings = Settings::default();
    match docs.as_slice() {
        [] => {}
        [root] => apply_root(&mut settings, root)?,
        _ => return Err(PolicyFileError("expected one YAML document".into())),
    }
    Ok(settings)
}

/// The policy of a Helm values file of the chart: its `policy` key, which the
/// chart renders into the server's ConfigMap as the policy file. Other keys
/// are the chart's and are not read.
pub fn load_values(path: &Path) -> Result<Settings, PolicyFileError> {
    let fail = |e: String| PolicyFileError(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let docs = documents::parse_all(&text).map_err(|e| fail(e.to_string()))?;
    let mut settings = Settings::default();
    let root = match docs.as_slice() {
        [] => return Ok(settings),
        [root] => root,
        _ => return Err(fail("expected one YAML document".into())),
    };
    let Value::Object(values) = root else { return Err(fail("expected a map of chart values".into())) };
    match values.get("policy") {
        None | Some(Value::Null) => {}
        Some(policy) => apply_root(&mut settings, policy).map_err(|e| fail(format!("policy.{}", e.0)))?,
    }
    Ok(settings)
}

fn err(path: &str, message: impl std::fmt::Display) -> PolicyFileError {
    PolicyFileError(format!("{path}: {message}"))
}

/// The map at `path`, with only `allowed` keys.
fn map<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, PolicyFileError> {
    let Value::Object(map) = value else {
        return Err(err(path, "expected a map"));
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
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

fn apply_root(settings: &mut Settings, root: &Value) -> Result<(), PolicyFileError> {
    let root = map(root, "", &["rules", "inject", "workloads"])?;
    if let Some(rules) = root.get("rules") {
        let ids: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
        for (id, options) in map(rules, "rules", &ids)? {
            let rule = RuleId::parse(id).expect("keys were checked against the rule ids");
            apply_rule(settings, rule, options, &format!("rules.{id}"))?;
        }
    }
    if let Some(inject) = root.get("inject") {
        let inject = map(inject, "inject", &["imagePullSecrets", "secretMounts"])?;
        if let Some(pull) = inject.get("imagePullSecrets") {
            let path = "inject.imagePullSecrets";
            let pull = map(pull, path, &["enabled", "mode"])?;
            if let Some(v) = pull.get("enabled") {
                settings.image_pull_secrets.enabled = boolean(v, &format!("{path}.enabled"))?;
            }
            if let Some(v) = pull.get("mode") {
                let modes = [("merge", PullSecretMode::Merge), ("ifEmpty", PullSecretMode::IfEmpty)];
                settings.image_pull_secrets.mode = choice(v, &format!("{path}.mode"), &modes)?;
            }
        }
        if let Some(mounts) = inject.get("secretMounts") {
            let path = "inject.secretMounts";
            let mounts = map(mounts, path, &["enabled", "basePath"])?;
            if let Some(v) = mounts.get("enabled") {
                settings.secret_mounts.enabled = boolean(v, &format!("{path}.enabled"))?;
            }
            if let Some(v) = mounts.get("basePath") {
                settings.secret_mounts.base_path = base_path(v, &format!("{path}.basePath"))?;
            }
        }
    }
    if let Some(workloads) = root.get("workloads") {
        let workloads = map(workloads, "workloads", &["action"])?;
        if let Some(v) = workloads.get("action") {
            let actions =
                [("warn", WorkloadAction::Warn), ("inherit", WorkloadAction::Inherit), ("off", WorkloadAction::Off)];
            settings.workloads = choice(v, "workloads.action", &actions)?;
        }
    }
    Ok(())
}

fn apply_rule(settings: &mut Settings, rule: RuleId, options: &Value, path: &str) -> Result<(), PolicyFileError> {
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
        settings.set_action(rule, choice(v, &format!("{path}.action"), &actions)?);
    }
    if let Some(v) = options.get("maxBytes") {
        settings.max_secret_bytes = integer(v, &format!("{path}.maxBytes"), 1, u64::from(u32::MAX))?;
    }
    if let Some(v) = options.get("certExpiryWarningDays") {
        let days = integer(v, &format!("{path}.certExpiryWarningDays"), 0, 3650)?;
        settings.cert_expiry_warning_days = u32::try_from(days).expect("bounded above");
    }
    if let Some(v) = options.get("names") {
        let names = [("strict", EnvNames::Strict), ("relaxed", EnvNames::Relaxed)];
        settings.env_names = choice(v, &format!("{path}.names"), &names)?;
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

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Settings::default());
        assert_eq!(parse("# only a comment\n").unwrap(), Settings::default());
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
inject:
  imagePullSecrets: {enabled: true, mode: merge}        # merge | ifEmpty
  secretMounts:     {enabled: true, basePath: /var/run/secrets/secretgate.io}
workloads: {action: warn}
"#;
        assert_eq!(parse(text).unwrap(), Settings::default());
    }

    #[test]
    fn off_is_an_action_not_a_boolean() {
        let s = parse("rules:\n  secret-keys: {action: off}\nworkloads: {action: off}\n").unwrap();
        assert_eq!(s.action(RuleId::SecretKeys), Action::Off);
        assert_eq!(s.workloads, WorkloadAction::Off);
    }

    #[test]
    fn one_option_changes_one_thing() {
        let s = parse("rules:\n  pod-envfrom-names: {names: relaxed}\n").unwrap();
        assert_eq!(s.env_names, EnvNames::Relaxed);
        let mut want = Settings::default();
        want.env_names = EnvNames::Relaxed;
        assert_eq!(s, want);
        let s = parse("rules: {secret-size: {maxBytes: 10}}\ninject: {imagePullSecrets: {mode: ifEmpty}}\n").unwrap();
        assert_eq!(s.max_secret_bytes, 10);
        assert_eq!(s.image_pull_secrets.mode, PullSecretMode::IfEmpty);
        let s = parse(r#"{"rules": {"secret-keys": {"action": "audit"}}}"#).unwrap();
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
            ("rulez: {}\n", "rulez: unknown key (expected one of: rules, inject, workloads)"),
            ("- a\n", ": expected a map"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err().0;
            assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
        }
    }
}
