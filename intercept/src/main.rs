//! `mulambda-intercept`: the init step of intercepted mode. See docs/interception.md.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use mulambda_intercept::cli::Args;

fn main() -> ExitCode {
    let plan = match Args::parse().into_plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("mulambda-intercept: {e}");
            return ExitCode::from(2);
        }
    };
    match plan.run(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mulambda-intercept: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
