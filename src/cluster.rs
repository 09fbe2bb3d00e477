//! Implementations of the cluster view: the only code that fills the
//! [`Inventory`](crate::policy::Inventory) the rules read.
//!
//! - [`snapshot`]: a static view loaded from YAML/JSON files (`--cluster`).
//! - [`live`]: kube watchers against the API server.
//!
//! Both keep Secrets as summaries (type, key names), never values.

pub mod events;
pub mod live;
pub mod snapshot;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use events::{EventLimits, EventPublisher, EventSink};
pub use live::{LiveView, SecretView};
pub use snapshot::{Snapshot, SnapshotError};

use crate::policy::{ClusterView, ObjectKey};

/// The cluster view a server or a `review` run uses.
#[derive(Clone, Debug)]
pub enum View {
    /// A static snapshot: authoritative, ready at once.
    Static(Arc<Snapshot>),
    /// The live cluster.
    Live(Arc<LiveView>),
}

impl View {
    /// The lookups the rules read.
    pub fn cluster(&self) -> &dyn ClusterView {
        match self {
            View::Static(snapshot) => &snapshot.inventory,
            View::Live(live) => live.inventory(),
        }
    }

    /// Whether the view is synced and current.
    pub fn is_ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why the view is not ready, for `/readyz`; `None` when it is.
    pub fn not_ready_reason(&self) -> Option<String> {
        match self {
            View::Static(_) => None,
            View::Live(live) => live.not_ready_reason(),
        }
    }

    /// Confirm cache misses; returns how many objects were found after all.
    /// A snapshot is authoritative: nothing to confirm.
    pub async fn confirm(&self, keys: &BTreeSet<ObjectKey>) -> usize {
        match self {
            View::Static(_) => 0,
            View::Live(live) => live.confirm(keys).await,
        }
    }

    /// Look up a Namespace the view does not hold (informer lag); whether it was found.
    pub async fn confirm_namespace(&self, name: &str) -> bool {
        match self {
            View::Static(_) => false,
            View::Live(live) => live.confirm_namespace(name).await,
        }
    }

    /// Object counts by kind, for `secretgate_cluster_objects`.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let inventory = match self {
            View::Static(snapshot) => &snapshot.inventory,
            View::Live(live) => live.inventory(),
        };
        vec![
            ("Secret", inventory.secrets.len()),
            ("ServiceAccount", inventory.service_accounts.len()),
            ("Namespace", inventory.namespaces.len()),
        ]
    }
}
