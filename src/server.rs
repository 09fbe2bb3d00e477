//! The HTTPS webhook server and the plain-HTTP admin server. Knows HTTP and
//! TLS; knows no policy.

pub mod activity;
pub mod admin;
pub mod budget;
pub mod listener;
pub mod registry;
pub mod routes;
pub mod tls;
