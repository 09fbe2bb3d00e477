//! The live cluster view: kube watchers (list, then watch, with backoff on
//! errors) feed the same [`Inventory`] the snapshot fills. Secrets become
//! summaries the moment they arrive: values are dropped before anything is
//! stored. With [`SecretView::Metadata`] the API server sends metadata only,
//! so no Secret value ever reaches the process.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};

use crate::metrics::{Confirmation, Metrics};
use crate::policy::view::{Interned, NamespaceSummary, Objects};
use crate::policy::{Inventory, ObjectKey, SecretSummary, ServiceAccountSummary};

/// How much of each Secret the process receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretView {
    /// Whole Secrets (values are dropped on arrival): key-level rules work.
    /// RBAC: get/list/watch on secrets.
    Keys,
    /// Metadata only (`PartialObjectMetadata`): no value ever reaches the
    /// process; key-level rules report "unknown". RBAC: the same verbs on
    /// secrets — Kubernetes RBAC cannot grant metadata-only reads.
    Metadata,
}

/// At most this many objects are confirmed per review.
const MAX_CONFIRMATIONS: usize = 8;
/// Page size of the initial lists: bounds the memory of one list response.
const LIST_PAGE_SIZE: u32 = 250;

/// The live view and its readiness.
pub struct LiveView {
    inventory: Inventory,
    client: Client,
    secret_view: SecretView,
    secrets: WatchHealth,
    service_accounts: WatchHealth,
    namespaces: WatchHealth,
    confirm_timeout: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView").field("secret_view", &self.secret_view).field("ready", &self.is_ready()).finish()
    }
}

impl LiveView {
    /// Start watching Secrets and ServiceAccounts in every namespace, and Namespace metadata.
    pub fn start(
        client: Client,
        secret_view: SecretView,
        confirm_timeout: Duration,
        metrics: Metrics,
    ) -> Arc<LiveView> {
        let view = Arc::new(LiveView {
            inventory: Inventory::default(),
            client,
            secret_view,
            secrets: WatchHealth::new("Secret"),
            service_accounts: WatchHealth::new("ServiceAccount"),
            namespaces: WatchHealth::new("Namespace"),
            confirm_timeout,
            metrics,
        });
        let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        let v = view.clone();
        let sa_config = config.clone();
        tokio::spawn(async move {
            let api: Api<ServiceAccount> = Api::all(v.client.clone());
            let watch = || watcher::watcher(api.clone(), sa_config.clone());
            drive(watch, summarise_service_account, &v.inventory.service_accounts, &v.service_accounts).await;
        });
        let v = view.clone();
        let ns_config = config.clone();
        tokio::spawn(async move {
            // labels select the policy overrides: metadata is all it takes
            let api: Api<PartialObjectMeta<Namespace>> = Api::all(v.client.clone());
            let watch = || watcher::watcher(api.clone(), ns_config.clone());
            drive(watch, summarise_namespace, &v.inventory.namespaces, &v.namespaces).await;
        });
        let v = view.clone();
        tokio::spawn(async move {
            match v.secret_view {
                SecretView::Keys => {
                    let api: Api<Secret> = Api::all(v.client.clone());
                    let watch = || watcher::watcher(api.clone(), config.clone());
                    drive(watch, summarise_secret, &v.inventory.secrets, &v.secrets).await;
                }
                SecretView::Metadata => {
                    // `Api<PartialObjectMeta<_>>` asks the API server for metadata only
                    let api: Api<PartialObjectMeta<Secret>> = Api::all(v.client.clone());
                    let watch = || watcher::watcher(api.clone(), config.clone());
                    drive(watch, summarise_secret_metadata, &v.inventory.secrets, &v.secrets).await;
                }
            }
        });
        view
    }

    /// The inventory the rules read.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Whether both watches have completed a list and are not failing.
    pub fn is_ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why the view is not ready (`None` when it is): a watch that has not
    /// listed yet, or one that failed and has not re-listed since.
    pub fn not_ready_reason(&self) -> Option<String> {
        [&self.secrets, &self.service_accounts, &self.namespaces].into_iter().find_map(WatchHealth::not_ready_reason)
    }

    /// Confirm cache misses with one live GET each (concurrently, bounded
    /// by the confirm timeout). Objects found are added to the inventory.
    /// Returns how many were found.
    pub async fn confirm(&self, keys: &BTreeSet<ObjectKey>) -> usize {
        let gets = keys.iter().take(MAX_CONFIRMATIONS).map(|key| async move {
            let (kind, result) = match tokio::time::timeout(self.confirm_timeout, self.get(key)).await {
                Ok(Ok(found)) => (kind_of(key), Ok(found)),
                Ok(Err(error)) => (kind_of(key), Err(error.to_string())),
                Err(_) => (kind_of(key), Err(format!("no answer within {:?}", self.confirm_timeout))),
            };
            match result {
                Ok(true) => {
                    self.metrics.record_confirmation(kind, Confirmation::Found);
                    tracing::debug!(%kind, "Cache miss was informer lag; found by a live GET");
                    true
                }
                Ok(false) => {
                    self.metrics.record_confirmation(kind, Confirmation::Absent);
                    false
                }
                Err(error) => {
                    self.metrics.record_confirmation(kind, Confirmation::Error);
                    tracing::warn!(%kind, %error, "Could not confirm a cache miss; the cached answer stands");
                    false
                }
            }
        });
        futures::future::join_all(gets).await.into_iter().filter(|found| *found).count()
    }

    /// GET a Namespace's metadata the watch has not delivered yet (bounded by
    /// the confirm timeout) and store its labels; whether it was found.
    pub async fn confirm_namespace(&self, name: &str) -> bool {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let result = tokio::time::timeout(self.confirm_timeout, api.get_metadata_opt(name)).await;
        let outcome = match result {
            Ok(Ok(Some(found))) => {
                self.inventory.namespaces.insert("", name, NamespaceSummary::from_metadata(&found.metadata));
                Confirmation::Found
            }
            Ok(Ok(None)) => Confirmation::Absent,
            Ok(Err(error)) => {
                tracing::warn!(%error, "Could not look up a Namespace the view does not hold; overrides match it by name only");
                Confirmation::Error
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.confirm_timeout, "No answer looking up a Namespace; overrides match it by name only");
                Confirmation::Error
            }
        };
        self.metrics.record_confirmation("Namespace", outcome);
        outcome == Confirmation::Found
    }

    /// GET one object; on success store its summary. `Ok(false)` when absent.
    async fn get(&self, key: &ObjectKey) -> kube::Result<bool> {
        match key {
            ObjectKey::Secret { namespace, name } => {
                let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
                let summary = match self.secret_view {
                    SecretView::Keys => api.get_opt(name).await?.map(|s| SecretSummary::from_secret(&s)),
                    SecretView::Metadata => {
                        api.get_metadata_opt(name).await?.map(|m| SecretSummary::from_metadata(&m.metadata))
                    }
                };
                Ok(summary.map(|s| self.inventory.secrets.insert(namespace, name, s)).is_some())
            }
            ObjectKey::ServiceAccount { namespace, name } => {
                let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
                let summary = api.get_opt(name).await?.map(|sa| ServiceAccountSummary::from_service_account(&sa));
                Ok(summary.map(|s| self.inventory.service_accounts.insert(namespace, name, s)).is_some())
            }
        }
    }
}

fn kind_of(key: &ObjectKey) -> &'static str {
    match key {
        ObjectKey::Secret { .. } => "Secret",
        ObjectKey::ServiceAccount { .. } => "ServiceAccount",
    }
}

/// (namespace, name, summary) of an object.
type Summarised<V> = Option<(String, String, V)>;

fn identity<K: Resource>(object: &K) -> Option<(String, String)> {
    let meta = object.meta();
    Some((meta.namespace.clone().unwrap_or_default(), meta.name.clone()?))
}

fn summarise_secret(secret: &Secret) -> Summarised<SecretSummary> {
    identity(secret).map(|(ns, name)| (ns, name, SecretSummary::from_secret(secret)))
}

fn summarise_secret_metadata(secret: &PartialObjectMeta<Secret>) -> Summarised<SecretSummary> {
    identity(secret).map(|(ns, name)| (ns, name, SecretSummary::from_metadata(&secret.metadata)))
}

fn summarise_namespace(namespace: &PartialObjectMeta<Namespace>) -> Summarised<NamespaceSummary> {
    identity(namespace).map(|(ns, name)| (ns, name, NamespaceSummary::from_metadata(&namespace.metadata)))
}

fn summarise_service_account(sa: &ServiceAccount) -> Summarised<ServiceAccountSummary> {
    identity(sa).map(|(ns, name)| (ns, name, ServiceAccountSummary::from_service_account(sa)))
}

// === impl WatchHealth ===

/// The state of one watch, for readiness.
#[derive(Debug)]
struct WatchHealth {
    kind: &'static str,
    synced: AtomicBool,
    /// When the watch failed, while it has not re-listed since.
    failing_since: Mutex<Option<Instant>>,
}

impl WatchHealth {
    fn new(kind: &'static str) -> WatchHealth {
        WatchHealth { kind, synced: AtomicBool::new(false), failing_since: Mutex::new(None) }
    }

    fn failing_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.failing_since.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn not_ready_reason(&self) -> Option<String> {
        if let Some(since) = *self.failing_since() {
            let secs = since.elapsed().as_secs();
            return Some(format!(
                "the {} watch failed {secs} s ago and has not re-listed yet: answers may be stale (see the log)",
                self.kind
            ));
        }
        (!self.synced.load(Ordering::Acquire)).then(|| format!("the {} list has not completed yet", self.kind))
    }
}

/// Backoff between a failed watch and the next list: doubles from the first
/// delay up to the cap, and starts again after a successful list.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(30);

/// Apply a watcher's events to `objects` (the reflector): the initial list is
/// buffered and swapped in whole at `InitDone`, which marks `health` synced.
/// A failed watch is dropped and, after a backoff, listed again from the
/// start, so that readiness turns true again only once the view is known to
/// be current (a resumed watch would give no sign that it works again).
async fn drive<K, V: Interned, S>(
    watch: impl Fn() -> S,
    summarise: fn(&K) -> Summarised<V>,
    objects: &Objects<V>,
    health: &WatchHealth,
) where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut delay = RETRY_FIRST;
    loop {
        let mut buffer = Vec::new();
        let mut stream = std::pin::pin!(watch());
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(object)) => buffer.extend(summarise(&object)),
                Ok(Event::InitDone) => {
                    let count = buffer.len();
                    objects.replace_all(buffer.drain(..));
                    delay = RETRY_FIRST;
                    let recovered = health.failing_since().take();
                    if !health.synced.swap(true, Ordering::AcqRel) {
                        tracing::info!(objects = count, kind = health.kind, "Synced");
                    } else if let Some(since) = recovered {
                        let outage = since.elapsed().as_secs();
                        tracing::info!(
                            objects = count,
                            kind = health.kind,
                            outage_seconds = outage,
                            "Re-listed after a watch failure"
                        );
                    }
                }
                Ok(Event::Apply(object)) => {
                    if let Some((ns, name, summary)) = summarise(&object) {
                        objects.insert(&ns, &name, summary);
                    }
                }
                Ok(Event::Delete(object)) => {
                    if let Some((ns, name, _)) = summarise(&object) {
                        objects.remove(&ns, &name);
                    }
                }
                Err(error) => {
                    health.failing_since().get_or_insert_with(Instant::now);
                    tracing::warn!(%error, kind = health.kind, retry_in = ?delay, "Watch failed; listing again after a backoff");
                    break;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_CAP);
    }
}
