//! The live cluster view: kube watchers (list, then watch, with backoff on
//! errors) feed the same [`Inventory`] the snapshot fills. Secrets become
//! summaries the moment they arrive: values are dropped before anything is
//! stored. With [`SecretView::Metadata`] the API server sends metadata only,
//! so no Secret value ever reaches the process.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};

use crate::metrics::{Confirmation, Metrics};
use crate::policy::view::{Interned, Objects};
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
    secrets_synced: AtomicBool,
    service_accounts_synced: AtomicBool,
    confirm_timeout: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView").field("secret_view", &self.secret_view).field("ready", &self.is_ready()).finish()
    }
}

impl LiveView {
    /// Start watching Secrets and ServiceAccounts in every namespace.
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
            secrets_synced: AtomicBool::new(false),
            service_accounts_synced: AtomicBool::new(false),
            confirm_timeout,
            metrics,
        });
        let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        let service_accounts: Api<ServiceAccount> = Api::all(view.client.clone());
        let v = view.clone();
        let sa_config = config.clone();
        tokio::spawn(async move {
            let sa_stream = watcher::watcher(service_accounts, sa_config).default_backoff();
            drive(sa_stream, summarise_service_account, &v.inventory.service_accounts, &v.service_accounts_synced)
                .await;
        });
        let v = view.clone();
        tokio::spawn(async move {
            match v.secret_view {
                SecretView::Keys => {
                    let secrets: Api<Secret> = Api::all(v.client.clone());
                    let stream = watcher::watcher(secrets, config).default_backoff();
                    drive(stream, summarise_secret, &v.inventory.secrets, &v.secrets_synced).await;
                }
                SecretView::Metadata => {
                    // `Api<PartialObjectMeta<_>>` asks the API server for metadata only
                    let metadata: Api<PartialObjectMeta<Secret>> = Api::all(v.client.clone());
                    let stream = watcher::watcher(metadata, config).default_backoff();
                    drive(stream, summarise_secret_metadata, &v.inventory.secrets, &v.secrets_synced).await;
                }
            }
        });
        view
    }

    /// The inventory the rules read.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Whether both initial lists have completed.
    pub fn is_ready(&self) -> bool {
        self.secrets_synced.load(Ordering::Acquire) && self.service_accounts_synced.load(Ordering::Acquire)
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

fn summarise_service_account(sa: &ServiceAccount) -> Summarised<ServiceAccountSummary> {
    identity(sa).map(|(ns, name)| (ns, name, ServiceAccountSummary::from_service_account(sa)))
}

/// Apply a watcher's events to `objects` (the reflector): the initial list is
/// buffered and swapped in whole at `InitDone`, which marks `synced`.
async fn drive<K, V: Interned>(
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>>,
    summarise: fn(&K) -> Summarised<V>,
    objects: &Objects<V>,
    synced: &AtomicBool,
) {
    let mut buffer = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => buffer.clear(),
            Ok(Event::InitApply(object)) => buffer.extend(summarise(&object)),
            Ok(Event::InitDone) => {
                let count = buffer.len();
                objects.replace_all(buffer.drain(..));
                if !synced.swap(true, Ordering::AcqRel) {
                    tracing::info!(objects = count, kind = std::any::type_name::<V>().rsplit("::").next(), "Synced");
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
            Err(error) => tracing::warn!(%error, "Watch failed; retrying with backoff"),
        }
    }
}
