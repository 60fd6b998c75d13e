//! `mulambda-proxy`: see the library docs and `docs/proxy.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_proxy::{Config, ConfigError};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Config::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        // --help, --version and parse errors print themselves and exit with clap's code.
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mulambda_proxy::run(
        config,
        mulambda_proxy::shutdown::wait_for_signal(),
    )) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
