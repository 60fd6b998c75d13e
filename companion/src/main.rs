//! `mulambda-companion`: see the library docs and `docs/companion.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use mulambda_companion::{Companion, Config};
use mulambda_runtime::Threads;

/// A single-threaded runtime: the companion's work is light and mostly waiting, and one thread
/// costs about a third of the CPU of the multi-threaded runtime for the same probe round (no
/// cross-thread wake-ups; see "Companion: one probe round over 1,000 clients" in BENCHMARKS.md).
fn main() -> ExitCode {
    let config = Config::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let log = config.log.clone();
    mulambda_runtime::main::<Companion>(config, &log, Threads::Current)
}
