use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (ring, as kube uses).
    let _ = rustls::crypto::ring::default_provider().install_default();
    secretgate::app::run(secretgate::config::Cli::parse())
}
