//! `mulambda-companion`: see the library docs and `docs/companion.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_catalog::names::env;
use mulambda_companion::{Config, ConfigError};
use tracing_subscriber::EnvFilter;

/// A single-threaded runtime: the companion's work is light and mostly waiting, and one thread
/// costs about a third of the CPU of the multi-threaded runtime for the same probe round
/// (no cross-thread wake-ups; see docs/companion-bench.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_env(env::LOG).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = match Config::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        // --help, --version and parse errors print themselves and exit with clap's code.
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match mulambda_companion::run(config).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
