//! `mulambda-loadtest`: the TF Serving simulator (`sim`) and the open-loop load generator
//! (`run`). `demo` and `bench` come next.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli.run())
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(mulambda_catalog::names::env::LOG)
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // Logs go to stderr: stdout carries the machine-readable lines and reports.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
