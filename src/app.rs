//! Wiring: one function per subcommand. `anyhow`-free on purpose: each
//! command reports one line and picks the exit status.

mod audit;
pub mod certs;
mod limits;
mod probe;
pub mod review;
pub mod serve;
mod test;

use std::process::ExitCode;

use crate::config::{Cli, Command};

/// Exit status for unusable input or flags (contract §1).
pub const EXIT_UNUSABLE: u8 = 2;

/// Run the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let Cli { log, command } = cli;
    let default_filter = match &command {
        Command::Serve(_) => "info",
        Command::Review(_) | Command::Test(_) | Command::Certs(_) | Command::Probe(_) | Command::Audit(_) => "warn",
    };
    if let Err(error) = crate::telemetry::init(&log, default_filter) {
        eprintln!("secretgate: {error}");
        return ExitCode::from(EXIT_UNUSABLE);
    }
    match command {
        Command::Serve(args) => serve::run(*args),
        Command::Review(args) => review::run(args),
        Command::Test(args) => test::run(args),
        Command::Certs(args) => certs::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Audit(args) => audit::run(args),
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}
