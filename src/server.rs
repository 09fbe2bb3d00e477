//! The HTTPS webhook server and the plain-HTTP admin server. Knows HTTP and
//! TLS; knows no policy.

pub mod admin;
pub mod listener;
pub mod routes;
pub mod tls;
