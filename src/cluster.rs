//! Implementations of the cluster view: the only code that fills the
//! [`Inventory`](crate::policy::Inventory) the rules read.
//!
//! - [`snapshot`]: a static view loaded from YAML/JSON files (`--cluster`).
//! - `live`: kube watchers against the API server.
//!
//! Both keep Secrets as summaries (type, key names), never values.

pub mod snapshot;

pub use snapshot::{Snapshot, SnapshotError};
