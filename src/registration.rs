//! The server's care of its own installation: a managed CA whose serving
//! certificates renew themselves ([`authority`]), and the webhook
//! configurations it registers once it is ready and withdraws when its
//! namespace goes away ([`webhooks`]); [`controller`] does the I/O.

pub mod authority;
pub mod controller;
pub mod webhooks;

pub use controller::{Controller, RegistrationConfig};
