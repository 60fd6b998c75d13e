//! `mulambda-netlab`: bring a network lab up and down, run a command inside one of its hosts,
//! remove leftovers of earlier runs, and measure the link emulator's accuracy.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    match cli.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mulambda-netlab: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(mulambda_catalog::names::env::LOG)
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // Logs go to stderr: stdout carries the lab's description, `ready` and reports.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
