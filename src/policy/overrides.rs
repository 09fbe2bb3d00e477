//! Per-namespace policy (contract §4.1): the file's settings, then overrides
//! that select namespaces by name or by a label selector on the Namespace
//! (in order, later ones winning key by key), and exemptions that let named
//! requesters skip named rules. [`Policy::resolve`] gives the settings one
//! request is judged by and the names that decided them; [`Policy::explain`]
//! says, key by key, where each value came from.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::rules::{Action, RuleId};
use super::settings::{EnvNames, PullSecretMode, Settings, WorkloadAction};

/// A Namespace's labels.
pub type Labels = BTreeMap<String, String>;

/// The label every Namespace carries with its own name (the API server sets
/// it since Kubernetes 1.21), so a selector can name namespaces by it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One value a policy file writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `rules.<id>.action`.
    Action(RuleId, Action),
    /// `rules.secret-size.maxBytes`.
    MaxSecretBytes(u64),
    /// `rules.secret-hygiene.certExpiryWarningDays`.
    CertExpiryWarningDays(u32),
    /// `rules.pod-envfrom-names.names`.
    EnvNames(EnvNames),
    /// `inject.imagePullSecrets.enabled`.
    PullSecretsEnabled(bool),
    /// `inject.imagePullSecrets.mode`.
    PullSecretsMode(PullSecretMode),
    /// `inject.secretMounts.enabled`.
    MountsEnabled(bool),
    /// `inject.secretMounts.basePath`.
    MountsBasePath(String),
    /// `workloads.action`.
    Workloads(WorkloadAction),
}

/// Which key a [`Setting`] writes: overrides merge key by key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `rules.<id>.action`.
    Action(RuleId),
    /// `rules.secret-size.maxBytes`.
    MaxSecretBytes,
    /// `rules.secret-hygiene.certExpiryWarningDays`.
    CertExpiryWarningDays,
    /// `rules.pod-envfrom-names.names`.
    EnvNames,
    /// `inject.imagePullSecrets.enabled`.
    PullSecretsEnabled,
    /// `inject.imagePullSecrets.mode`.
    PullSecretsMode,
    /// `inject.secretMounts.enabled`.
    MountsEnabled,
    /// `inject.secretMounts.basePath`.
    MountsBasePath,
    /// `workloads.action`.
    Workloads,
}

impl Key {
    /// Every key, in the order of the policy file.
    pub fn all() -> Vec<Key> {
        let mut keys: Vec<Key> = Vec::with_capacity(RuleId::ALL.len() + 8);
        for rule in RuleId::ALL {
            keys.push(Key::Action(rule));
            match rule {
                RuleId::SecretSize => keys.push(Key::MaxSecretBytes),
                RuleId::SecretHygiene => keys.push(Key::CertExpiryWarningDays),
                RuleId::PodEnvfromNames => keys.push(Key::EnvNames),
                _ => {}
            }
        }
        keys.extend([
            Key::PullSecretsEnabled,
            Key::PullSecretsMode,
            Key::MountsEnabled,
            Key::MountsBasePath,
            Key::Workloads,
        ]);
        keys
    }

    /// The key's path in the policy file, e.g. `rules.secret-size.maxBytes`.
    pub fn path(self) -> String {
        match self {
            Key::Action(rule) => format!("rules.{rule}.action"),
            Key::MaxSecretBytes => "rules.secret-size.maxBytes".into(),
            Key::CertExpiryWarningDays => "rules.secret-hygiene.certExpiryWarningDays".into(),
            Key::EnvNames => "rules.pod-envfrom-names.names".into(),
            Key::PullSecretsEnabled => "inject.imagePullSecrets.enabled".into(),
            Key::PullSecretsMode => "inject.imagePullSecrets.mode".into(),
            Key::MountsEnabled => "inject.secretMounts.enabled".into(),
            Key::MountsBasePath => "inject.secretMounts.basePath".into(),
            Key::Workloads => "workloads.action".into(),
        }
    }

    /// The value of this key in `settings`, as the policy file writes it.
    pub fn value(self, settings: &Settings) -> String {
        match self {
            Key::Action(rule) => settings.action(rule).as_str().into(),
            Key::MaxSecretBytes => settings.max_secret_bytes.to_string(),
            Key::CertExpiryWarningDays => settings.cert_expiry_warning_days.to_string(),
            Key::EnvNames => match settings.env_names {
                EnvNames::Strict => "strict".into(),
                EnvNames::Relaxed => "relaxed".into(),
            },
            Key::PullSecretsEnabled => settings.image_pull_secrets.enabled.to_string(),
            Key::PullSecretsMode => match settings.image_pull_secrets.mode {
                PullSecretMode::Merge => "merge".into(),
                PullSecretMode::IfEmpty => "ifEmpty".into(),
            },
            Key::MountsEnabled => settings.secret_mounts.enabled.to_string(),
            Key::MountsBasePath => settings.secret_mounts.base_path.clone(),
            Key::Workloads => match settings.workloads {
                WorkloadAction::Warn => "warn".into(),
                WorkloadAction::Inherit => "inherit".into(),
                WorkloadAction::Off => "off".into(),
            },
        }
    }
}

impl Setting {
    /// The key this setting writes.
    pub fn key(&self) -> Key {
        match self {
            Setting::Action(rule, _) => Key::Action(*rule),
            Setting::MaxSecretBytes(_) => Key::MaxSecretBytes,
            Setting::CertExpiryWarningDays(_) => Key::CertExpiryWarningDays,
            Setting::EnvNames(_) => Key::EnvNames,
            Setting::PullSecretsEnabled(_) => Key::PullSecretsEnabled,
            Setting::PullSecretsMode(_) => Key::PullSecretsMode,
            Setting::MountsEnabled(_) => Key::MountsEnabled,
            Setting::MountsBasePath(_) => Key::MountsBasePath,
            Setting::Workloads(_) => Key::Workloads,
        }
    }

    /// Write this setting into `settings`.
    pub fn apply(&self, settings: &mut Settings) {
        match self {
            Setting::Action(rule, action) => settings.set_action(*rule, *action),
            Setting::MaxSecretBytes(n) => settings.max_secret_bytes = *n,
            Setting::CertExpiryWarningDays(n) => settings.cert_expiry_warning_days = *n,
            Setting::EnvNames(names) => settings.env_names = *names,
            Setting::PullSecretsEnabled(on) => settings.image_pull_secrets.enabled = *on,
            Setting::PullSecretsMode(mode) => settings.image_pull_secrets.mode = *mode,
            Setting::MountsEnabled(on) => settings.secret_mounts.enabled = *on,
            Setting::MountsBasePath(path) => settings.secret_mounts.base_path.clone_from(path),
            Setting::Workloads(action) => settings.workloads = *action,
        }
    }
}

/// One requirement of a label selector (upstream's `LabelSelectorRequirement`,
/// with `matchLabels` entries as `In` of one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// The label is set to one of the values.
    In(String, BTreeSet<String>),
    /// The label is unset, or set to none of the values.
    NotIn(String, BTreeSet<String>),
    /// The label is set.
    Exists(String),
    /// The label is unset.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        }
    }
}

/// Which namespaces an override applies to: those named, and those whose
/// Namespace labels the selector matches (an empty selector matches all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceMatch {
    /// `namespaces.names`.
    pub names: BTreeSet<String>,
    /// `namespaces.selector`, every requirement must hold.
    pub selector: Option<Vec<Requirement>>,
}

impl NamespaceMatch {
    /// Whether `namespace` is selected; `labels` is `None` when the cluster
    /// view does not know the Namespace, which then matches by name only.
    pub fn matches(&self, namespace: &str, labels: Option<&Labels>) -> bool {
        if self.names.contains(namespace) {
            return true;
        }
        match (&self.selector, labels) {
            (Some(requirements), Some(labels)) => requirements.iter().all(|r| r.matches(labels)),
            _ => false,
        }
    }
}

/// `overrides[]`: settings for some namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Named in answers and in `--explain`.
    pub name: Arc<str>,
    /// The namespaces it applies to.
    pub namespaces: NamespaceMatch,
    /// What it sets, in file order.
    pub settings: Vec<Setting>,
}

/// The rules an exemption lifts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSet {
    /// `["*"]`: every rule.
    All,
    /// The rules named.
    Some(BTreeSet<RuleId>),
}

impl RuleSet {
    fn contains(&self, rule: RuleId) -> bool {
        match self {
            RuleSet::All => true,
            RuleSet::Some(rules) => rules.contains(&rule),
        }
    }
}

/// `exemptions[]`: requesters whose violations of some rules do not count
/// against them (they are still counted and named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exemption {
    /// Named in answers and in `--explain`.
    pub name: Arc<str>,
    /// `userInfo.username` values it applies to.
    pub users: BTreeSet<String>,
    /// `userInfo.groups` values it applies to (any one suffices).
    pub groups: BTreeSet<String>,
    /// The rules it lifts.
    pub rules: RuleSet,
}

impl Exemption {
    /// Whether the requester is one this exemption names.
    pub fn applies_to(&self, requester: &Requester<'_>) -> bool {
        self.users.contains(requester.user) || requester.groups.iter().any(|g| self.groups.contains(g.as_str()))
    }
}

/// Who sent a request (`request.userInfo`).
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    /// `userInfo.username`.
    pub user: &'a str,
    /// `userInfo.groups`.
    pub groups: &'a [String],
}

/// Where a key's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Not set anywhere: the built-in default.
    Default,
    /// The top level of the policy file.
    File,
    /// `overrides[index]`, named `name`.
    Override {
        /// Its position in `overrides`.
        index: usize,
        /// Its name.
        name: Arc<str>,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File => f.write_str("policy file"),
            Source::Override { index, name } => write!(f, "override {name} (overrides[{index}])"),
        }
    }
}

/// The whole policy: the file's settings, its overrides and exemptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    file: Vec<Setting>,
    base: Arc<Settings>,
    overrides: Vec<Override>,
    exemptions: Vec<Exemption>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(Vec::new(), Vec::new(), Vec::new())
    }
}

impl From<Settings> for Policy {
    /// A policy of plain settings, no overrides or exemptions (tests, benches).
    fn from(settings: Settings) -> Self {
        Policy { file: Vec::new(), base: Arc::new(settings), overrides: Vec::new(), exemptions: Vec::new() }
    }
}

/// What one request is judged by.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The settings after the overrides that matched.
    pub settings: Arc<Settings>,
    /// The names of the overrides that matched, in order.
    pub overrides: Vec<Arc<str>>,
    /// Per rule (by [`RuleId::index`]), the first exemption that lifts it
    /// for this requester.
    pub exempt: [Option<Arc<str>>; RuleId::ALL.len()],
}

impl Resolved {
    /// Plain settings, nothing overridden or exempt.
    pub fn of(settings: Arc<Settings>) -> Resolved {
        Resolved { settings, overrides: Vec::new(), exempt: Default::default() }
    }

    /// The action a finding of `rule` is handled with, given the action its
    /// settings give (`configured`): an exempted rule that is not off is `exempt`.
    pub fn action(&self, rule: RuleId, configured: Action) -> Action {
        match (&self.exempt[rule.index()], configured) {
            (_, Action::Off) => Action::Off,
            (Some(_), _) => Action::Exempt,
            (None, action) => action,
        }
    }

    /// The exemption that lifts `rule`, if any.
    pub fn exemption(&self, rule: RuleId) -> Option<&str> {
        self.exempt[rule.index()].as_deref()
    }
}

/// One line of [`Policy::explain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// The key.
    pub key: Key,
    /// Its effective value.
    pub value: String,
    /// Where that value came from.
    pub source: Source,
}

impl Policy {
    /// A policy of the file's top-level `settings`, then `overrides` and `exemptions`.
    pub fn new(file: Vec<Setting>, overrides: Vec<Override>, exemptions: Vec<Exemption>) -> Policy {
        let mut base = Settings::default();
        file.iter().for_each(|s| s.apply(&mut base));
        Policy { file, base: Arc::new(base), overrides, exemptions }
    }

    /// The settings where no override applies.
    pub fn base(&self) -> &Arc<Settings> {
        &self.base
    }

    /// Whether an override selects namespaces by their labels (so the
    /// labels of a namespace the view does not know yet are worth a lookup).
    pub fn selects_by_labels(&self) -> bool {
        self.overrides.iter().any(|o| o.namespaces.selector.is_some())
    }

    /// The overrides, in order.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The exemptions, in order.
    pub fn exemptions(&self) -> &[Exemption] {
        &self.exemptions
    }

    /// The settings for a request in `namespace` (whose Namespace has
    /// `labels`, `None` when unknown) from `requester` (`None`: no requester,
    /// as in the audit, so no exemption applies).
    pub fn resolve(&self, namespace: &str, labels: Option<&Labels>, requester: Option<&Requester<'_>>) -> Resolved {
        let matched: Vec<&Override> =
            self.overrides.iter().filter(|o| o.namespaces.matches(namespace, labels)).collect();
        let settings = match matched.is_empty() {
            true => self.base.clone(),
            false => {
                let mut settings = (*self.base).clone();
                matched.iter().flat_map(|o| &o.settings).for_each(|s| s.apply(&mut settings));
                Arc::new(settings)
            }
        };
        let mut resolved = Resolved::of(settings);
        resolved.overrides = matched.iter().map(|o| o.name.clone()).collect();
        if let Some(requester) = requester {
            for exemption in self.exemptions.iter().filter(|e| e.applies_to(requester)) {
                for rule in RuleId::ALL.into_iter().filter(|r| exemption.rules.contains(*r)) {
                    resolved.exempt[rule.index()].get_or_insert_with(|| exemption.name.clone());
                }
            }
        }
        resolved
    }

    /// Every key with its effective value in `namespace` and where the value
    /// came from: the default, the file, or the last override that set it.
    pub fn explain(&self, namespace: &str, labels: Option<&Labels>) -> Vec<Explained> {
        let settings = self.resolve(namespace, labels, None).settings;
        let mut sources: BTreeMap<Key, Source> = BTreeMap::new();
        for setting in &self.file {
            sources.insert(setting.key(), Source::File);
        }
        for (index, o) in self.overrides.iter().enumerate() {
            if o.namespaces.matches(namespace, labels) {
                for setting in &o.settings {
                    sources.insert(setting.key(), Source::Override { index, name: o.name.clone() });
                }
            }
        }
        Key::all()
            .into_iter()
            .map(|key| Explained {
                key,
                value: key.value(&settings),
                source: sources.get(&key).cloned().unwrap_or(Source::Default),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
