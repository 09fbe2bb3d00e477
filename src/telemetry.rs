//! Logging setup: `tracing` to stderr, as text or JSON. No business logic.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogArgs, LogFormat};

/// Install the global subscriber. `default_filter` applies when
/// `--log-level` is not given. An unparsable filter is an error naming the flag.
pub fn init(log: &LogArgs, default_filter: &str) -> Result<(), String> {
    let directive = log.log_level.as_deref().unwrap_or(default_filter);
    let filter = EnvFilter::try_new(directive).map_err(|e| format!("--log-level {directive:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match log.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = result;
    Ok(())
}
