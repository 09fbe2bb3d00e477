//! The policy configuration as plain data (contract §4). Parsing the YAML
//! file into this lives in `config::policy_file`; the defaults live here.

use super::rules::{Action, RuleId};

/// Upstream `MaxSecretSize`: 1 MiB.
pub const DEFAULT_MAX_SECRET_BYTES: u64 = 1024 * 1024;

/// The whole policy configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    actions: [Action; RuleId::ALL.len()],
    /// `rules.secret-size.maxBytes`.
    pub max_secret_bytes: u64,
    /// `rules.secret-hygiene.certExpiryWarningDays`.
    pub cert_expiry_warning_days: u32,
    /// `rules.pod-envfrom-names.names`.
    pub env_names: EnvNames,
    /// `inject.imagePullSecrets`.
    pub image_pull_secrets: PullSecretInjection,
    /// `inject.secretMounts`.
    pub secret_mounts: MountInjection,
    /// `workloads.action`.
    pub workloads: WorkloadAction,
}

/// Which environment variable name rule `pod-envfrom-names` applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvNames {
    /// Upstream `IsEnvVarName`, the rule before Kubernetes 1.30.
    Strict,
    /// Printable ASCII except `=`, Kubernetes 1.30+.
    Relaxed,
}

/// `inject.imagePullSecrets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSecretInjection {
    /// Whether the mutating webhook merges the ServiceAccount's pull secrets.
    pub enabled: bool,
    /// How they are merged.
    pub mode: PullSecretMode,
}

/// How the ServiceAccount's imagePullSecrets reach the Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullSecretMode {
    /// Append every missing name after the Pod's own.
    Merge,
    /// Upstream's rule: copy only when the Pod has none.
    IfEmpty,
}

/// `inject.secretMounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInjection {
    /// Whether annotated ServiceAccounts get their secrets mounted.
    pub enabled: bool,
    /// Where a secret is mounted without a `mount-path` annotation.
    pub base_path: String,
}

/// How the Pod rules apply to workload templates (issue: workloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadAction {
    /// Every violation becomes a warning.
    Warn,
    /// Each rule keeps its own action.
    Inherit,
    /// Workload templates are not checked.
    Off,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            actions: RuleId::ALL.map(RuleId::default_action),
            max_secret_bytes: DEFAULT_MAX_SECRET_BYTES,
            cert_expiry_warning_days: 30,
            env_names: EnvNames::Strict,
            image_pull_secrets: PullSecretInjection { enabled: true, mode: PullSecretMode::Merge },
            secret_mounts: MountInjection { enabled: true, base_path: "/var/run/secrets/secretgate.io".to_string() },
            workloads: WorkloadAction::Warn,
        }
    }
}

impl Settings {
    /// The configured action of `rule`.
    pub fn action(&self, rule: RuleId) -> Action {
        self.actions[rule.index()]
    }

    /// Whether `rule` is evaluated at all.
    pub fn enabled(&self, rule: RuleId) -> bool {
        self.action(rule) != Action::Off
    }

    /// The action of `rule` on a workload's pod template (`workloads`):
    /// `warn` makes a denial a warning (the Pods are checked again when they
    /// are created) and keeps `warn` and `audit` as they are; `inherit`
    /// keeps the rule's own.
    pub fn template_action(&self, rule: RuleId) -> Action {
        match (self.workloads, self.action(rule)) {
            (WorkloadAction::Warn, Action::Deny) => Action::Warn,
            (_, action) => action,
        }
    }

    /// Set the action of `rule`.
    pub fn set_action(&mut self, rule: RuleId, action: Action) {
        self.actions[rule.index()] = action;
    }

    /// Builder form of [`Settings::set_action`], handy in tests.
    #[must_use]
    pub fn with_action(mut self, rule: RuleId, action: Action) -> Self {
        self.set_action(rule, action);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::default();
        assert_eq!(s.action(RuleId::SecretSize), Action::Deny);
        assert_eq!(s.action(RuleId::SecretHygiene), Action::Warn);
        assert_eq!(s.action(RuleId::PodEnvfromNames), Action::Warn);
        assert_eq!(s.action(RuleId::PodMountableSecrets), Action::Deny);
        assert_eq!(s.max_secret_bytes, 1_048_576);
        assert_eq!(s.cert_expiry_warning_days, 30);
        assert_eq!(s.env_names, EnvNames::Strict);
        assert_eq!(s.image_pull_secrets.mode, PullSecretMode::Merge);
        assert_eq!(s.secret_mounts.base_path, "/var/run/secrets/secretgate.io");
        assert_eq!(s.workloads, WorkloadAction::Warn);
    }
}
