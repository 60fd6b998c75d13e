//! `mulambda-controller`: see the library docs and `docs/controller.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_catalog::names::env;
use mulambda_controller::{ConfigError, Invocation};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let invocation = match Invocation::try_parse_from(std::env::args_os()) {
        Ok(i) => i,
        // --help, --version and parse errors print themselves and exit with clap's code.
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match invocation {
        Invocation::Crd => match mulambda_controller::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
        Invocation::Run(config) => {
            let filter =
                EnvFilter::try_from_env(env::LOG).unwrap_or_else(|_| EnvFilter::new("info"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init();
            // kube's client and the webhook both use rustls with ring; make it the process
            // default so no other provider is picked implicitly.
            let _ = rustls::crypto::ring::default_provider().install_default();
            match mulambda_controller::run::run(*config, mulambda_controller::run::signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
