//! secretgate: a Kubernetes admission webhook that enforces Secret policy.
//!
//! ```text
//!   server (HTTPS, admin)  ──►  admission (AdmissionReview in/out)  ──►  policy (pure rules)
//!        │                            │                                     ▲
//!        └── metrics, telemetry       └── redaction                         │ &dyn ClusterView
//!   app wires  cluster::{snapshot, live}  ──────────────────────────────────┘
//! ```
//!
//! `policy` knows no I/O; `admission` knows no HTTP; `server` knows no policy.
//! The `review` command runs the same decode → dispatch → policy → encode path
//! as the server.

#![forbid(unsafe_code)]

pub mod admission;
pub mod app;
pub mod audit;
pub mod cluster;
pub mod config;
pub mod documents;
pub mod metrics;
pub mod policy;
pub mod registration;
pub mod server;
pub mod telemetry;
pub mod watched;
