//! Reload of the policy file without a restart: `serve` polls its `--config`
//! (or `--values`) file and applies a changed policy to new requests. A
//! ConfigMap volume's `..data` symlink swap is a change like any other: the
//! path is opened anew on every poll. A change applies once two polls in a
//! row read the same bytes, so a file written in place is never applied half
//! written. A file that does not parse is refused with its path and the
//! offending key named, counted in
//! `secretgate_config_reloads_total{outcome="failure"}`, and the last good
//! policy keeps serving; so is a file that stays unreadable (one failed read
//! may be a swap in progress).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::policy_file;
use crate::admission::Admission;
use crate::metrics::Metrics;

/// The most a policy file may hold: real ones are a few kB.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Which file holds the policy, and how it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// `--config`: a policy file.
    Config(PathBuf),
    /// `--values`: a chart values file's `policy` key.
    Values(PathBuf),
}

impl PolicySource {
    /// The source the flags name, if any (without one the defaults never change).
    pub fn of(args: &super::PolicyArgs) -> Option<PolicySource> {
        match (&args.config, &args.values) {
            (Some(path), _) => Some(PolicySource::Config(path.clone())),
            (None, Some(path)) => Some(PolicySource::Values(path.clone())),
            (None, None) => None,
        }
    }

    fn flag(&self) -> &'static str {
        match self {
            PolicySource::Config(_) => "--config",
            PolicySource::Values(_) => "--values",
        }
    }

    fn path(&self) -> &Path {
        match self {
            PolicySource::Config(path) | PolicySource::Values(path) => path,
        }
    }
}

/// Polls the policy file and swaps the policy of an [`Admission`] (shared
/// with every clone: the handlers and the audit) when it changes.
#[derive(Debug)]
pub struct PolicyReloader {
    source: PolicySource,
    admission: Admission,
    state: Mutex<State>,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct State {
    /// The bytes last applied or refused: a broken file is reported once.
    seen: Vec<u8>,
    /// Changed bytes read once, applied if the next poll reads them again.
    pending: Option<Vec<u8>>,
    /// Failed reads in a row, and the error last reported.
    failed_reads: u32,
    reported: Option<String>,
}

impl PolicyReloader {
    /// A reloader for the policy `admission` serves, read from `source`; `loaded`
    /// holds the bytes it was loaded from at start.
    pub fn new(source: PolicySource, admission: Admission, loaded: Vec<u8>, metrics: Metrics) -> Arc<PolicyReloader> {
        metrics.set_config_loaded(crate::app::now_unix());
        let state = State { seen: loaded, ..State::default() };
        Arc::new(PolicyReloader { source, admission, state: Mutex::new(state), metrics })
    }

    /// The bytes of `source` now, bounded; for the first load and each poll.
    pub fn read(source: &PolicySource) -> Result<Vec<u8>, String> {
        crate::watched::read_regular(source.path(), MAX_POLICY_BYTES)
            .map_err(|e| format!("{} {}: {e}", source.flag(), source.path().display()))
    }

    /// Re-read the file; apply it when it changed, read the same twice in a
    /// row, and parses. Returns whether a new policy is now in force.
    pub fn reload(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = match Self::read(&self.source) {
            Ok(bytes) => bytes,
            Err(error) => {
                // mid-swap the path may be briefly missing: said once it persists
                state.failed_reads += 1;
                if state.failed_reads >= 2 && state.reported.as_deref() != Some(error.as_str()) {
                    self.metrics.record_config_reload(false);
                    tracing::error!(%error, "Cannot read the policy file; the last good policy keeps serving");
                    state.reported = Some(error);
                } else {
                    tracing::debug!(%error, "Could not read the policy file");
                }
                return false;
            }
        };
        if state.reported.take().is_some() {
            tracing::info!(flag = self.source.flag(), "The policy file is readable again");
        }
        state.failed_reads = 0;
        if state.seen == bytes {
            state.pending = None;
            return false;
        }
        // a file written in place may be read half written: apply what two reads agree on
        if state.pending.as_ref() != Some(&bytes) {
            state.pending = Some(bytes);
            return false;
        }
        state.pending = None;
        state.seen = bytes.clone();
        drop(state);
        let path = self.source.path();
        let parsed = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_string()).and_then(|text| {
            let parsed = match &self.source {
                PolicySource::Config(_) => policy_file::parse(text),
                PolicySource::Values(_) => policy_file::parse_values(text),
            };
            parsed.map_err(|e| e.0)
        });
        match parsed {
            Ok(policy) => {
                let (overrides, exemptions) = (policy.overrides().len(), policy.exemptions().len());
                self.admission.replace_policy(policy);
                self.metrics.record_config_reload(true);
                self.metrics.set_config_loaded(crate::app::now_unix());
                tracing::info!(
                    flag = self.source.flag(),
                    path = %path.display(),
                    overrides,
                    exemptions,
                    "Policy reloaded; new requests use it"
                );
                true
            }
            Err(error) => {
                self.metrics.record_config_reload(false);
                tracing::error!(
                    flag = self.source.flag(),
                    path = %path.display(),
                    %error,
                    "New policy refused; the last good policy keeps serving (fix the file: it is read again when it changes)"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Action, RuleId};

    fn action(admission: &Admission) -> Action {
        admission.policy().base().action(RuleId::PodSecretExists)
    }

    #[test]
    fn a_symlink_swap_applies_and_a_broken_file_keeps_the_last_good_policy() {
        let dir = tempfile::tempdir().unwrap();
        // the kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>
        let write_version = |name: &str, text: &str| {
            let version = dir.path().join(name);
            std::fs::create_dir(&version).unwrap();
            std::fs::write(version.join("config.yaml"), text).unwrap();
            let tmp = dir.path().join("..data_tmp");
            std::os::unix::fs::symlink(name, &tmp).unwrap();
            std::fs::rename(&tmp, dir.path().join("..data")).unwrap();
        };
        write_version("..v1", "rules: {pod-secret-exists: {action: deny}}\n");
        let path = dir.path().join("config.yaml");
        std::os::unix::fs::symlink("..data/config.yaml", &path).unwrap();
        let source = PolicySource::Config(path);
        let loaded = PolicyReloader::read(&source).unwrap();
        let admission = Admission::new(policy_file::parse(std::str::from_utf8(&loaded).unwrap()).unwrap());
        let metrics = Metrics::new();
        let reloader = PolicyReloader::new(source, admission.clone(), loaded, metrics.clone());
        assert!(!reloader.reload(), "nothing changed");
        write_version("..v2", "rules: {pod-secret-exists: {action: warn}}\n");
        assert!(!reloader.reload(), "a change is applied once two reads agree");
        assert_eq!(action(&admission), Action::Deny);
        assert!(reloader.reload());
        assert_eq!(action(&admission), Action::Warn);
        write_version("..v3", "rules: {pod-secret-exists: {action: block}}\n");
        assert!(!reloader.reload() && !reloader.reload());
        assert_eq!(action(&admission), Action::Warn, "the last good policy serves");
        let text = metrics.render();
        assert!(text.contains(r#"secretgate_config_reloads_total{outcome="failure"} 1"#), "{text}");
        assert!(text.contains(r#"secretgate_config_reloads_total{outcome="success"} 1"#), "{text}");
        assert!(!reloader.reload(), "a broken file is reported once");
        write_version("..v4", "rules: {pod-secret-exists: {action: audit}}\n");
        assert!(!reloader.reload() && reloader.reload());
        assert_eq!(action(&admission), Action::Audit);
    }

    #[test]
    fn a_half_written_file_is_not_applied_and_an_unreadable_one_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "rules: {pod-secret-exists: {action: deny}}\n").unwrap();
        let source = PolicySource::Config(path.clone());
        let admission = Admission::new(policy_file::load(&path).unwrap());
        let metrics = Metrics::new();
        let reloader = PolicyReloader::new(
            source.clone(),
            admission.clone(),
            PolicyReloader::read(&source).unwrap(),
            metrics.clone(),
        );
        // written in place, read between two writes: what parses is not applied until it holds still
        std::fs::write(&path, "rules:\n").unwrap();
        assert!(!reloader.reload());
        std::fs::write(&path, "rules:\n  pod-secret-exists: {action: warn}\n").unwrap();
        assert!(!reloader.reload());
        assert_eq!(action(&admission), Action::Deny, "nothing half written was applied");
        assert!(reloader.reload());
        assert_eq!(action(&admission), Action::Warn);
        // gone for good: one failed read is a swap in progress, two are reported, once
        std::fs::remove_file(&path).unwrap();
        for _ in 0..5 {
            assert!(!reloader.reload());
        }
        let failures =
            |m: &Metrics| m.render().lines().any(|l| l == r#"secretgate_config_reloads_total{outcome="failure"} 1"#);
        assert!(failures(&metrics), "{}", metrics.render());
        assert_eq!(action(&admission), Action::Warn, "the last good policy serves");
    }
}
