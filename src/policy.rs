//! The pure policy core: what every rule and mutation does (policy.md).
//!
//! No I/O, no async, no logging, no clock: callers pass the time and a
//! [`ClusterView`] in a [`Context`]. Rules return findings; [`decide`] turns
//! findings into a [`Decision`] under the configured actions. The wire
//! format lives in `crate::admission`, never here.
//!
//! Allowed imports: `std`, `k8s_openapi`, `serde`, `serde_json`, and the pure
//! parsing/crypto crates the hygiene rule needs (`rustls_pki_types`,
//! `x509_parser`, `rustls::crypto::ring::sign`), and `aho_corasick` for the
//! credential detector. `tests/architecture.rs`
//! enforces this.

pub mod configmap;
pub mod credentials;
pub mod decision;
pub mod names;
pub mod overrides;
pub mod pod;
pub mod rules;
pub mod secret;
pub mod settings;
pub mod view;

pub use decision::{Decision, Finding, ObjectKey, Report, Severity, decide};
pub use overrides::{Policy, Requester, Resolved};
pub use pod::{PodScope, validate_pod};
pub use rules::{Action, Denial, RuleId};
pub use secret::validate_secret;
pub use settings::Settings;
pub use view::{ClusterView, Inventory, SecretSummary, ServiceAccountSummary};

/// Everything a rule may consult besides the object under review.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The policy configuration.
    pub settings: &'a Settings,
    /// The cluster state.
    pub view: &'a dyn ClusterView,
    /// The current time, seconds since the Unix epoch (certificate expiry).
    pub now_unix: i64,
}

/// The operations the rules distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object.
    Update,
}
