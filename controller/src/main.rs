//! `mulambda-controller`: see the library docs and `docs/controller.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_controller::Invocation;
use mulambda_controller::run::Controller;
use mulambda_runtime::Threads;

fn main() -> ExitCode {
    match Invocation::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit()) {
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
            let log = config.log.clone();
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            mulambda_runtime::main::<Controller>(*config, &log, Threads::Multi(threads))
        }
    }
}
