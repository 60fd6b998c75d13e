//! `mulambda-proxy`: see the library docs and `docs/proxy.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_proxy::{Config, Proxy};
use mulambda_runtime::Threads;

fn main() -> ExitCode {
    let config = Config::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let (log, threads) = (config.log.clone(), Threads::Multi(config.worker_threads));
    mulambda_runtime::main::<Proxy>(config, &log, threads)
}
