//! What the rules may know about the cluster: the [`ClusterView`] trait, the
//! compact summaries it answers with, and [`Inventory`], the in-memory index
//! that the snapshot loader, the live watchers and the tests all fill.
//!
//! Secret values never enter a summary: only type, key names and flags.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::names::parse_go_bool;
use super::overrides::{Labels, NAMESPACE_NAME_LABEL};

/// Upstream's annotation that limits a ServiceAccount's mountable secrets.
pub const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";
/// Opt-in on a ServiceAccount: mount its `secrets` into its Pods.
pub const INJECT_SECRETS: &str = "secretgate.io/inject-secrets";
/// Prefix of the per-secret mount path annotation on a ServiceAccount.
pub const MOUNT_PATH_PREFIX: &str = "secretgate.io/mount-path.";
/// The annotation every service-account-token Secret carries.
pub const SERVICE_ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";
/// The type of legacy token Secrets.
pub const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

/// Read-only view of the cluster state the policies need. Lookups are
/// synchronous and answered from memory.
pub trait ClusterView: Send + Sync {
    /// The Secret `namespace/name`, if the view knows it.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretSummary>>;
    /// The ServiceAccount `namespace/name`, if the view knows it.
    fn service_account(&self, namespace: &str, name: &str) -> Option<Arc<ServiceAccountSummary>>;
    /// The Namespace `name` (its labels select overrides), if the view knows it.
    fn namespace(&self, _name: &str) -> Option<Arc<NamespaceSummary>> {
        None
    }
    /// Whether an object the view does not hold is absent (true: the live
    /// cluster, or a snapshot of it) or merely unknown (false: `review`
    /// without `--cluster`), in which case rules that need it say so instead
    /// of denying.
    fn complete(&self) -> bool {
        true
    }
}

/// What secretgate keeps of a Secret. Built by dropping the values the moment
/// an object arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSummary {
    /// `type` (`Opaque` when unset); `None` when only metadata is watched.
    /// Shared between Secrets of the same type.
    pub secret_type: Option<Arc<str>>,
    /// Sorted key names of `data` (and `stringData`); `None` when only
    /// metadata is watched. Shared between Secrets with the same keys.
    pub keys: Option<Arc<[Box<str>]>>,
    /// Whether the annotation `kubernetes.io/service-account.name` is set,
    /// which identifies token Secrets even when the type is not known.
    pub names_service_account: bool,
}

impl SecretSummary {
    /// Summarise a full Secret, keeping key names only.
    pub fn from_secret(secret: &Secret) -> Self {
        let mut keys: Vec<Box<str>> = secret
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(secret.string_data.iter().flat_map(|d| d.keys()))
            .map(|k| k.as_str().into())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let secret_type = match secret.type_.as_deref() {
            None | Some("") => "Opaque",
            Some(t) => t,
        };
        SecretSummary {
            secret_type: Some(secret_type.into()),
            keys: Some(keys.into()),
            names_service_account: names_service_account(&secret.metadata),
        }
    }

    /// Summarise a Secret of which only metadata is known: type and keys
    /// stay unknown.
    pub fn from_metadata(metadata: &ObjectMeta) -> Self {
        SecretSummary { secret_type: None, keys: None, names_service_account: names_service_account(metadata) }
    }

    /// A summary with a type and keys, for tests and examples.
    pub fn with_keys(secret_type: &str, keys: &[&str]) -> Self {
        let mut keys: Vec<Box<str>> = keys.iter().map(|k| (*k).into()).collect();
        keys.sort_unstable();
        keys.dedup();
        SecretSummary { secret_type: Some(secret_type.into()), keys: Some(keys.into()), names_service_account: false }
    }

    /// Whether the Secret has key `key`; `None` when keys are not known.
    pub fn has_key(&self, key: &str) -> Option<bool> {
        let keys = self.keys.as_ref()?;
        Some(keys.binary_search_by(|k| (**k).cmp(key)).is_ok())
    }

    /// Whether this is a legacy ServiceAccount token Secret. Without the
    /// type (metadata-only view), the annotation every token Secret must
    /// carry decides.
    pub fn is_service_account_token(&self) -> bool {
        match &self.secret_type {
            Some(t) => &**t == SERVICE_ACCOUNT_TOKEN_TYPE,
            None => self.names_service_account,
        }
    }
}

fn names_service_account(metadata: &ObjectMeta) -> bool {
    metadata.annotations.as_ref().and_then(|a| a.get(SERVICE_ACCOUNT_NAME)).is_some_and(|v| !v.is_empty())
}

/// What secretgate keeps of a ServiceAccount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAccountSummary {
    /// Names in `secrets[]`, in order.
    pub secrets: Box<[Box<str>]>,
    /// Names in `imagePullSecrets[]`, in order.
    pub image_pull_secrets: Box<[Box<str>]>,
    /// `kubernetes.io/enforce-mountable-secrets` parses as a Go boolean true.
    pub enforce_mountable_secrets: bool,
    /// `secretgate.io/inject-secrets` is exactly `"true"`.
    pub inject_secrets: bool,
    /// `secretgate.io/mount-path.<secret>` annotations: (secret, path), sorted.
    pub mount_paths: Box<[(Box<str>, Box<str>)]>,
}

impl ServiceAccountSummary {
    /// Summarise a ServiceAccount.
    pub fn from_service_account(sa: &ServiceAccount) -> Self {
        let names = |refs: Option<Vec<Box<str>>>| refs.unwrap_or_default().into_boxed_slice();
        let annotations = sa.metadata.annotations.as_ref();
        let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
        let mount_paths: Vec<(Box<str>, Box<str>)> = annotations
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.strip_prefix(MOUNT_PATH_PREFIX)?.into(), v.as_str().into())))
            .collect();
        ServiceAccountSummary {
            secrets: names(
                sa.secrets.as_ref().map(|s| s.iter().filter_map(|r| r.name.as_deref()).map(Into::into).collect()),
            ),
            image_pull_secrets: names(
                sa.image_pull_secrets.as_ref().map(|s| s.iter().map(|r| r.name.as_str().into()).collect()),
            ),
            enforce_mountable_secrets: annotation(ENFORCE_MOUNTABLE_SECRETS).and_then(parse_go_bool) == Some(true),
            inject_secrets: annotation(INJECT_SECRETS) == Some("true"),
            mount_paths: mount_paths.into_boxed_slice(),
        }
    }

    /// Whether `secrets[]` lists `name`.
    pub fn lists_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| &**s == name)
    }

    /// Whether `imagePullSecrets[]` lists `name`.
    pub fn lists_image_pull_secret(&self, name: &str) -> bool {
        self.image_pull_secrets.iter().any(|s| &**s == name)
    }

    /// The annotated mount path of `secret`, if any.
    pub fn mount_path(&self, secret: &str) -> Option<&str> {
        self.mount_paths.iter().find(|(s, _)| &**s == secret).map(|(_, p)| &**p)
    }
}

/// What secretgate keeps of a Namespace: its labels, which select the
/// policy overrides that apply in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSummary {
    /// `metadata.labels`, with `kubernetes.io/metadata.name` set to the
    /// name as the API server always sets it (a snapshot may leave it out).
    pub labels: Labels,
}

impl NamespaceSummary {
    /// Summarise a Namespace's metadata.
    pub fn from_metadata(metadata: &ObjectMeta) -> Self {
        let mut labels = metadata.labels.clone().unwrap_or_default();
        if let Some(name) = metadata.name.as_deref() {
            labels.entry(NAMESPACE_NAME_LABEL.to_string()).or_insert_with(|| name.to_string());
        }
        NamespaceSummary { labels }
    }
}

/// Shared copies of repeated values: most Secrets of a cluster have one of a
/// few key sets (`tls.crt`/`tls.key`, `.dockerconfigjson`, ...), so 100k
/// summaries hold a handful of key lists, not 100k.
#[derive(Debug, Default)]
pub struct Interner {
    key_sets: Mutex<Shared<[Box<str>]>>,
    types: Mutex<Shared<str>>,
}

/// A set of shared values, pruned of unused ones as it grows.
#[derive(Debug)]
struct Shared<T: ?Sized> {
    values: HashSet<Arc<T>>,
    prune_at: usize,
}

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Shared { values: HashSet::new(), prune_at: 1024 }
    }
}

impl<T: ?Sized + Eq + std::hash::Hash> Shared<T> {
    fn intern(&mut self, value: Arc<T>) -> Arc<T> {
        if let Some(shared) = self.values.get(&value) {
            return shared.clone();
        }
        if self.values.len() >= self.prune_at {
            // drop values nobody but the set holds any more
            self.values.retain(|v| Arc::strong_count(v) > 1);
            self.prune_at = (self.values.len() * 2).max(1024);
        }
        self.values.insert(value.clone());
        value
    }
}

impl Interner {
    fn key_set(&self, keys: Arc<[Box<str>]>) -> Arc<[Box<str>]> {
        self.key_sets.lock().unwrap_or_else(|e| e.into_inner()).intern(keys)
    }

    fn secret_type(&self, secret_type: Arc<str>) -> Arc<str> {
        self.types.lock().unwrap_or_else(|e| e.into_inner()).intern(secret_type)
    }
}

/// Values an [`Objects`] map stores: they may share parts through an [`Interner`].
pub trait Interned: Sized {
    /// This value with its shareable parts replaced by shared copies.
    fn interned(self, _interner: &Interner) -> Self {
        self
    }
}

impl Interned for SecretSummary {
    fn interned(self, interner: &Interner) -> Self {
        SecretSummary {
            secret_type: self.secret_type.map(|t| interner.secret_type(t)),
            keys: self.keys.map(|k| interner.key_set(k)),
            names_service_account: self.names_service_account,
        }
    }
}

impl Interned for ServiceAccountSummary {}

impl Interned for NamespaceSummary {}

/// Objects of one namespace, by name.
type ByName<V> = HashMap<Box<str>, Arc<V>>;

/// Objects of one kind, by namespace then name.
#[derive(Debug)]
pub struct Objects<V> {
    by_namespace: RwLock<HashMap<Box<str>, ByName<V>>>,
    interner: Interner,
}

impl<V> Default for Objects<V> {
    fn default() -> Self {
        Objects { by_namespace: RwLock::new(HashMap::new()), interner: Interner::default() }
    }
}

impl<V: Interned> Objects<V> {
    /// Look up `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<V>> {
        let map = self.by_namespace.read().unwrap_or_else(|e| e.into_inner());
        map.get(namespace)?.get(name).cloned()
    }

    /// Insert or replace `namespace/name`. Returns whether it replaced one.
    pub fn insert(&self, namespace: &str, name: &str, value: V) -> bool {
        let value = value.interned(&self.interner);
        let mut map = self.by_namespace.write().unwrap_or_else(|e| e.into_inner());
        map.entry(namespace.into()).or_default().insert(name.into(), Arc::new(value)).is_some()
    }

    /// [`Objects::insert`] with an owned name (it becomes the map key).
    pub fn insert_owned(&self, namespace: &str, name: Box<str>, value: V) -> bool {
        let value = value.interned(&self.interner);
        let mut map = self.by_namespace.write().unwrap_or_else(|e| e.into_inner());
        let names = match map.get_mut(namespace) {
            Some(names) => names,
            None => map.entry(namespace.into()).or_default(),
        };
        names.insert(name, Arc::new(value)).is_some()
    }

    /// Remove `namespace/name`.
    pub fn remove(&self, namespace: &str, name: &str) {
        let mut map = self.by_namespace.write().unwrap_or_else(|e| e.into_inner());
        if let Some(names) = map.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                map.remove(namespace);
            }
        }
    }

    /// Replace the whole content at once (the end of an initial list).
    pub fn replace_all(&self, entries: impl IntoIterator<Item = (String, String, V)>) {
        let mut fresh: HashMap<Box<str>, ByName<V>> = HashMap::new();
        for (namespace, name, value) in entries {
            let value = value.interned(&self.interner);
            fresh.entry(namespace.into()).or_default().insert(name.into(), Arc::new(value));
        }
        *self.by_namespace.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// How many objects are held.
    pub fn len(&self) -> usize {
        self.by_namespace.read().unwrap_or_else(|e| e.into_inner()).values().map(HashMap::len).sum()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-memory cluster index: Secrets and ServiceAccounts as summaries.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Secret summaries.
    pub secrets: Objects<SecretSummary>,
    /// ServiceAccount summaries.
    pub service_accounts: Objects<ServiceAccountSummary>,
    /// Namespace summaries, cluster-scoped: held under the namespace `""`.
    pub namespaces: Objects<NamespaceSummary>,
    /// Only some objects are known (no cluster snapshot was given): a miss is unknown.
    pub partial: bool,
}

impl Inventory {
    /// Builder for tests: add a Secret summary.
    #[must_use]
    pub fn with_secret(self, namespace: &str, name: &str, summary: SecretSummary) -> Self {
        self.secrets.insert(namespace, name, summary);
        self
    }

    /// Builder for tests: add a Namespace with `labels`.
    #[must_use]
    pub fn with_namespace(self, name: &str, labels: &[(&str, &str)]) -> Self {
        let metadata = ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        };
        self.namespaces.insert("", name, NamespaceSummary::from_metadata(&metadata));
        self
    }

    /// Builder for tests: add a ServiceAccount summary.
    #[must_use]
    pub fn with_service_account(self, namespace: &str, name: &str, summary: ServiceAccountSummary) -> Self {
        self.service_accounts.insert(namespace, name, summary);
        self
    }
}

impl ClusterView for Inventory {
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretSummary>> {
        self.secrets.get(namespace, name)
    }

    fn service_account(&self, namespace: &str, name: &str) -> Option<Arc<ServiceAccountSummary>> {
        self.service_accounts.get(namespace, name)
    }

    fn namespace(&self, name: &str) -> Option<Arc<NamespaceSummary>> {
        self.namespaces.get("", name)
    }

    fn complete(&self) -> bool {
        !self.partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{LocalObjectReference, ObjectReference};

    #[test]
    fn secret_summary_keeps_names_not_values() {
        let secret = Secret {
            data: Some([("b".to_string(), ByteString(b"hunter2".to_vec()))].into()),
            string_data: Some([("a".to_string(), "s3cr3t".to_string())].into()),
            ..Default::default()
        };
        let summary = SecretSummary::from_secret(&secret);
        assert_eq!(summary.secret_type.as_deref(), Some("Opaque"));
        assert_eq!(summary.has_key("a"), Some(true));
        assert_eq!(summary.has_key("b"), Some(true));
        assert_eq!(summary.has_key("c"), Some(false));
        let debug = format!("{summary:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("s3cr3t"));
    }

    #[test]
    fn token_secrets_are_recognised_without_their_type() {
        let meta = ObjectMeta {
            annotations: Some([(SERVICE_ACCOUNT_NAME.to_string(), "builder".to_string())].into()),
            ..Default::default()
        };
        let summary = SecretSummary::from_metadata(&meta);
        assert!(summary.is_service_account_token());
        assert_eq!(summary.has_key("x"), None);
        assert!(!SecretSummary::from_metadata(&ObjectMeta::default()).is_service_account_token());
    }

    #[test]
    fn service_account_summary_reads_annotations() {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        (ENFORCE_MOUNTABLE_SECRETS.to_string(), "T".to_string()),
                        (INJECT_SECRETS.to_string(), "true".to_string()),
                        (format!("{MOUNT_PATH_PREFIX}db"), "/etc/db".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            secrets: Some(vec![ObjectReference { name: Some("db".into()), ..Default::default() }]),
            image_pull_secrets: Some(vec![LocalObjectReference { name: "regcred".into() }]),
            ..Default::default()
        };
        let s = ServiceAccountSummary::from_service_account(&sa);
        assert!(s.enforce_mountable_secrets && s.inject_secrets);
        assert!(s.lists_secret("db") && !s.lists_secret("regcred"));
        assert!(s.lists_image_pull_secret("regcred"));
        assert_eq!(s.mount_path("db"), Some("/etc/db"));
        assert_eq!(s.mount_path("other"), None);
    }

    impl Interned for i32 {}

    #[test]
    fn key_sets_and_types_are_shared() {
        let objects = Objects::default();
        objects.insert("a", "x", SecretSummary::with_keys("Opaque", &["u", "p"]));
        objects.insert("b", "y", SecretSummary::with_keys("Opaque", &["p", "u"]));
        let (x, y) = (objects.get("a", "x").unwrap(), objects.get("b", "y").unwrap());
        assert!(Arc::ptr_eq(x.keys.as_ref().unwrap(), y.keys.as_ref().unwrap()));
        assert!(Arc::ptr_eq(x.secret_type.as_ref().unwrap(), y.secret_type.as_ref().unwrap()));
        objects.insert("c", "z", SecretSummary::with_keys("Opaque", &["other"]));
        assert!(!Arc::ptr_eq(x.keys.as_ref().unwrap(), objects.get("c", "z").unwrap().keys.as_ref().unwrap()));
    }

    #[test]
    fn unused_shared_values_are_pruned() {
        let mut shared: Shared<str> = Shared::default();
        for i in 0..5000 {
            let _ = shared.intern(Arc::from(format!("t{i}").as_str()));
        }
        assert!(shared.values.len() < 2100, "{}", shared.values.len());
    }

    #[test]
    fn objects_index_by_namespace_and_name() {
        let objects = Objects::default();
        assert!(!objects.insert("a", "x", 1));
        assert!(objects.insert("a", "x", 2));
        objects.insert("b", "x", 3);
        assert_eq!(objects.get("a", "x").as_deref(), Some(&2));
        assert_eq!(objects.get("c", "x"), None);
        assert_eq!(objects.len(), 2);
        objects.remove("a", "x");
        assert_eq!(objects.get("a", "x"), None);
        objects.replace_all([("z".to_string(), "y".to_string(), 9)]);
        assert_eq!(objects.len(), 1);
        assert_eq!(objects.get("b", "x"), None);
    }
}
