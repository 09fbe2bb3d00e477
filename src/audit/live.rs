//! An audit over the live cluster: paginated lists (memory stays bounded by
//! a page whatever the cluster's size), paced so the API server never feels
//! it, in the order the lookups need: ServiceAccounts, Secrets (checked, then
//! kept as summaries: values are dropped with the page), Pods, workloads. A
//! reference that misses is confirmed with a GET before it is reported (the
//! object may have been created after its page was listed).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ReplicationController, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::object::{Object, Workload};
use super::scan::Scan;
use crate::policy::ObjectKey;
use crate::policy::configmap::ConfigMapObject;

/// How a live pass lists.
#[derive(Clone, Debug)]
pub struct Listing {
    /// Objects per list request.
    pub page_size: u32,
    /// At most this many objects per second (`None`: as fast as the API server answers).
    pub rate: Option<f64>,
    /// Only this namespace (`None`: all).
    pub namespace: Option<String>,
    /// Namespaces left out.
    pub skip: Vec<String>,
    /// Whether Secrets are listed whole (their rules run) or as metadata only
    /// (`--secret-view metadata`: no value reaches the process; the Secret
    /// rules and key-level Pod checks are left out).
    pub secret_values: bool,
}

/// Why a live pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// A request failed.
    #[error("{0}")]
    Failed(String),
    /// The caller called it off (lease lost, shutdown).
    #[error("called off")]
    Cancelled,
}

/// What a live pass reports as it goes.
pub trait Observer: Send {
    /// `count` objects of `kind` listed so far (after each page).
    fn listed(&mut self, kind: &str, count: u64);
    /// Whether to stop now.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Objects per list request for Secrets at most: a Secret may be 1 MiB (Helm
/// keeps releases in them), and a page is held whole while it is read.
pub const SECRET_PAGE_MAX: u32 = 50;

/// A kind's list is paced to end within this long: the API server keeps a
/// continue token for about 5 minutes (etcd compaction), then answers 410.
pub const LIST_WITHIN: Duration = Duration::from_secs(240);

/// Objects listed per kind in a pass (the next pass paces by them).
pub type Counts = std::collections::BTreeMap<String, u64>;

/// An object waiting for the GETs that confirm its misses.
type Pending = (Object, BTreeSet<ObjectKey>);

/// Run a whole pass against the live cluster. `last` holds the counts per
/// kind of the previous pass (none for the first): a kind is never listed so
/// slowly that its continue token could expire.
pub async fn scan_cluster(
    client: &Client,
    scan: &mut Scan,
    listing: &Listing,
    observer: &mut dyn Observer,
    last: &Counts,
) -> Result<Counts, Stopped> {
    let mut pager =
        Pager { client, listing, observer, last, counts: Counts::new(), pending: Vec::new(), absent: BTreeSet::new() };
    if scan.needs_namespaces() {
        pager.namespaces(scan).await?;
    }
    pager.each::<ServiceAccount>("ServiceAccount", |scan, _, sa| scan.remember_service_account(&sa), scan).await?;
    if listing.secret_values {
        let each = |scan: &mut Scan, _: &mut Vec<Pending>, secret: Secret| {
            scan.remember_secret(&secret);
            scan.scan(&Object::Secret(Box::new(secret)));
        };
        pager.each::<Secret>("Secret", each, scan).await?;
    } else {
        // no value may reach the process: summaries from metadata, no Secret rules
        pager.secret_metadata(scan).await?;
    }
    fn checked(scan: &mut Scan, pending: &mut Vec<Pending>, object: Object) {
        let checked = scan.check(&object);
        match checked.unresolved.is_empty() {
            true => scan.record(checked),
            false => pending.push((object, checked.unresolved)),
        }
    }
    pager.each::<Pod>("Pod", |scan, pending, pod| checked(scan, pending, Object::Pod(Box::new(pod))), scan).await?;
    if scan.checks_configmaps() {
        let each = |scan: &mut Scan, _: &mut Vec<Pending>, configmap: ConfigMap| {
            scan.scan(&Object::ConfigMap(Box::new(ConfigMapObject::from(configmap))));
        };
        pager.each::<ConfigMap>("ConfigMap", each, scan).await?;
    }
    if scan.checks_workloads() {
        macro_rules! workloads {
            ($($type:ty),*) => {$(
                pager.each::<$type>(<$type as Workload>::KIND, |scan, pending, w| checked(scan, pending, Object::workload(w)), scan).await?;
            )*};
        }
        workloads!(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob);
    }
    Ok(pager.counts)
}

struct Pager<'a> {
    client: &'a Client,
    listing: &'a Listing,
    observer: &'a mut dyn Observer,
    last: &'a Counts,
    counts: Counts,
    /// Objects of the current page whose misses are confirmed after it.
    pending: Vec<Pending>,
    /// Misses confirmed absent in this pass (not asked again).
    absent: BTreeSet<ObjectKey>,
}

impl Pager<'_> {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        match &self.listing.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// The parameters of the next list request, unless the pass is called off.
    fn next_page(&self, kind: &str, token: Option<&str>) -> Result<ListParams, Stopped> {
        if self.observer.cancelled() {
            return Err(Stopped::Cancelled);
        }
        let params = ListParams::default().limit(self.page_size(kind));
        Ok(match token {
            Some(token) => params.continue_token(token),
            None => params,
        })
    }

    /// Whether objects of `namespace` are left out.
    fn skipped(&self, namespace: Option<&str>) -> bool {
        let namespace = namespace.unwrap_or_default();
        self.listing.skip.iter().any(|s| s == namespace)
    }

    /// Objects per request for `kind`.
    fn page_size(&self, kind: &str) -> u32 {
        match kind {
            // values up to 1 MiB each: a page stays small
            "Secret" | "ConfigMap" => self.listing.page_size.min(SECRET_PAGE_MAX),
            _ => self.listing.page_size,
        }
    }

    /// List every `K`, page by page, handing each to `each`; misses are
    /// confirmed after each page.
    async fn each<K>(
        &mut self,
        kind: &str,
        mut each: impl FnMut(&mut Scan, &mut Vec<Pending>, K),
        scan: &mut Scan,
    ) -> Result<(), Stopped>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = self.api();
        let started = Instant::now();
        let mut token: Option<String> = None;
        let mut count = 0u64;
        loop {
            let params = self.next_page(kind, token.as_deref())?;
            let page = api.list(&params).await.map_err(|e| listing_failed(kind, &e))?;
            count += page.items.len() as u64;
            for item in page.items {
                if !self.skipped(item.meta().namespace.as_deref()) {
                    each(scan, &mut self.pending, item);
                }
            }
            self.confirm(scan).await?;
            self.observer.listed(kind, count);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                self.counts.insert(kind.to_string(), count);
                return Ok(());
            }
            self.pace(kind, started, count).await?;
        }
    }

    /// List Namespace metadata into the lookups: their labels select overrides.
    async fn namespaces(&mut self, scan: &mut Scan) -> Result<(), Stopped> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut token: Option<String> = None;
        loop {
            let params = self.next_page("Namespace", token.as_deref())?;
            let page = api.list_metadata(&params).await.map_err(|e| listing_failed("Namespace", &e))?;
            page.items.iter().for_each(|item| scan.remember_namespace(&item.metadata));
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// List Secret metadata only, into the lookups.
    async fn secret_metadata(&mut self, scan: &mut Scan) -> Result<(), Stopped> {
        let api: Api<Secret> = self.api();
        let started = Instant::now();
        let mut token: Option<String> = None;
        let mut count = 0u64;
        loop {
            let params = self.next_page("Secret", token.as_deref())?;
            let page = api.list_metadata(&params).await.map_err(|e| listing_failed("Secret", &e))?;
            count += page.items.len() as u64;
            for item in &page.items {
                if !self.skipped(item.metadata.namespace.as_deref()) {
                    scan.remember_secret_metadata(&item.metadata);
                }
            }
            self.observer.listed("Secret", count);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                self.counts.insert("Secret".into(), count);
                return Ok(());
            }
            self.pace("Secret", started, count).await?;
        }
    }

    /// Wait so that `kind` is listed at no more than the rate, but fast enough
    /// to end within [`LIST_WITHIN`] (judged by its count in the last pass);
    /// the wait ends early when the pass is called off.
    async fn pace(&mut self, kind: &str, started: Instant, listed: u64) -> Result<(), Stopped> {
        let Some(rate) = self.listing.rate.filter(|r| *r > 0.0) else { return Ok(()) };
        let needed = self.last.get(kind).map_or(0.0, |n| *n as f64 / LIST_WITHIN.as_secs_f64());
        let rate = rate.max(needed);
        let due = started + Duration::from_secs_f64(listed as f64 / rate);
        while Instant::now() < due {
            if self.observer.cancelled() {
                return Err(Stopped::Cancelled);
            }
            tokio::time::sleep(due.saturating_duration_since(Instant::now()).min(Duration::from_millis(500))).await;
        }
        Ok(())
    }

    /// Confirm the misses of the pending objects with GETs, then record them.
    async fn confirm(&mut self, scan: &mut Scan) -> Result<(), Stopped> {
        for (object, keys) in std::mem::take(&mut self.pending) {
            if self.observer.cancelled() {
                return Err(Stopped::Cancelled);
            }
            for key in keys {
                if !self.absent.contains(&key) && !fetch(self.client, scan, &key, self.listing.secret_values).await? {
                    self.absent.insert(key);
                }
            }
            scan.scan(&object);
        }
        Ok(())
    }
}

fn listing_failed(kind: &str, e: &kube::Error) -> Stopped {
    match e {
        kube::Error::Api(status) if status.code == 410 => Stopped::Failed(format!(
            "listing {kind}s: the continue token expired (the list took longer than the API server keeps it); \
             raise --audit-rate"
        )),
        e => Stopped::Failed(format!("listing {kind}s: {e}")),
    }
}

/// GET one missed object; what exists is added to the scan's lookups.
/// Whether it exists.
async fn fetch(client: &Client, scan: &Scan, key: &ObjectKey, secret_values: bool) -> Result<bool, Stopped> {
    let failed = |what: &str, e: kube::Error| Stopped::Failed(format!("confirming {what}: {e}"));
    Ok(match key {
        ObjectKey::Secret { namespace, name } => {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            if !secret_values {
                let meta = api.get_metadata_opt(name).await.map_err(|e| failed("a Secret", e))?;
                meta.map(|m| scan.remember_secret_metadata(&m.metadata)).is_some()
            } else {
                let secret = api.get_opt(name).await.map_err(|e| failed("a Secret", e))?;
                secret.map(|s| scan.remember_secret(&s)).is_some()
            }
        }
        ObjectKey::ServiceAccount { namespace, name } => {
            let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
            let sa = api.get_opt(name).await.map_err(|e| failed("a ServiceAccount", e))?;
            sa.map(|sa| scan.remember_service_account(&sa)).is_some()
        }
    })
}
