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
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::object::{Object, Workload};
use super::scan::Scan;
use crate::policy::ObjectKey;

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

/// Run a whole pass against the live cluster.
pub async fn scan_cluster(
    client: &Client,
    scan: &mut Scan,
    listing: &Listing,
    observer: &mut dyn Observer,
) -> Result<(), Stopped> {
    let mut pager = Pager { client, listing, observer, started: Instant::now(), listed: 0 };
    pager.each::<ServiceAccount>("ServiceAccount", |scan, sa| scan.remember_service_account(&sa), scan).await?;
    if listing.secret_values {
        pager
            .each::<Secret>(
                "Secret",
                |scan, secret| {
                    scan.remember_secret(&secret);
                    scan.scan(&Object::Secret(Box::new(secret)));
                },
                scan,
            )
            .await?;
    } else {
        // no value may reach the process: summaries from metadata, no Secret rules
        pager.secret_metadata(scan).await?;
    }
    let mut pending: Vec<(Object, BTreeSet<ObjectKey>)> = Vec::new();
    pager
        .each::<Pod>(
            "Pod",
            |scan, pod| {
                let object = Object::Pod(Box::new(pod));
                let checked = scan.check(&object);
                match checked.unresolved.is_empty() {
                    true => scan.record(checked),
                    false => pending.push((object, checked.unresolved)),
                }
            },
            scan,
        )
        .await?;
    pager.confirm(scan, std::mem::take(&mut pending)).await?;
    if scan.checks_workloads() {
        macro_rules! workloads {
            ($($type:ty),*) => {$(
                pager.each::<$type>(<$type as Workload>::KIND, |scan, w| {
                    let object = Object::workload(w);
                    let checked = scan.check(&object);
                    match checked.unresolved.is_empty() {
                        true => scan.record(checked),
                        false => pending.push((object, checked.unresolved)),
                    }
                }, scan).await?;
                pager.confirm(scan, std::mem::take(&mut pending)).await?;
            )*};
        }
        workloads!(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob);
    }
    Ok(())
}

struct Pager<'a> {
    client: &'a Client,
    listing: &'a Listing,
    observer: &'a mut dyn Observer,
    started: Instant,
    listed: u64,
}

impl Pager<'_> {
    /// List every `K`, page by page, handing each to `each`.
    async fn each<K>(&mut self, kind: &str, mut each: impl FnMut(&mut Scan, K), scan: &mut Scan) -> Result<(), Stopped>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = match &self.listing.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let mut token: Option<String> = None;
        let mut count = 0u64;
        loop {
            if self.observer.cancelled() {
                return Err(Stopped::Cancelled);
            }
            let mut params = ListParams::default().limit(self.listing.page_size);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let page = api.list(&params).await.map_err(|e| Stopped::Failed(format!("listing {kind}s: {e}")))?;
            let n = page.items.len() as u64;
            for item in page.items {
                let namespace = item.meta().namespace.as_deref().unwrap_or_default();
                if self.listing.skip.iter().any(|s| s == namespace) {
                    continue;
                }
                each(scan, item);
            }
            count += n;
            self.listed += n;
            self.observer.listed(kind, count);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(());
            }
            self.pace().await;
        }
    }

    /// Wait so that no more than `rate` objects per second are listed.
    fn pace(&self) -> tokio::time::Sleep {
        let due = match self.listing.rate.filter(|r| *r > 0.0) {
            Some(rate) => self.started + Duration::from_secs_f64(self.listed as f64 / rate),
            None => Instant::now(),
        };
        tokio::time::sleep_until(due.into())
    }

    /// List Secret metadata only, into the lookups.
    async fn secret_metadata(&mut self, scan: &mut Scan) -> Result<(), Stopped> {
        let api: Api<Secret> = match &self.listing.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let mut token: Option<String> = None;
        let mut count = 0u64;
        loop {
            if self.observer.cancelled() {
                return Err(Stopped::Cancelled);
            }
            let mut params = ListParams::default().limit(self.listing.page_size);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let page = api
                .list_metadata(&params)
                .await
                .map_err(|e| Stopped::Failed(format!("listing Secret metadata: {e}")))?;
            count += page.items.len() as u64;
            for item in &page.items {
                let namespace = item.metadata.namespace.as_deref().unwrap_or_default();
                if !self.listing.skip.iter().any(|s| s == namespace) {
                    scan.remember_secret_metadata(&item.metadata);
                }
            }
            self.listed += page.items.len() as u64;
            self.observer.listed("Secret", count);
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(());
            }
            self.pace().await;
        }
    }

    /// Confirm the misses of `pending` with GETs, then record them.
    async fn confirm(&mut self, scan: &mut Scan, pending: Vec<(Object, BTreeSet<ObjectKey>)>) -> Result<(), Stopped> {
        for (object, keys) in pending {
            for key in keys {
                fetch(self.client, scan, &key, self.listing.secret_values).await?;
            }
            scan.scan(&object);
        }
        Ok(())
    }
}

/// GET one missed object; what exists is added to the scan's lookups.
async fn fetch(client: &Client, scan: &Scan, key: &ObjectKey, secret_values: bool) -> Result<(), Stopped> {
    {
        let failed = |what: &str, e: kube::Error| Stopped::Failed(format!("confirming {what}: {e}"));
        match key {
            ObjectKey::Secret { namespace, name } => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                if !secret_values {
                    if let Some(meta) = api.get_metadata_opt(name).await.map_err(|e| failed("a Secret", e))? {
                        scan.remember_secret_metadata(&meta.metadata);
                    }
                } else if let Some(secret) = api.get_opt(name).await.map_err(|e| failed("a Secret", e))? {
                    scan.remember_secret(&secret);
                }
            }
            ObjectKey::ServiceAccount { namespace, name } => {
                let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
                if let Some(sa) = api.get_opt(name).await.map_err(|e| failed("a ServiceAccount", e))? {
                    scan.remember_service_account(&sa);
                }
            }
        }
        Ok(())
    }
}
