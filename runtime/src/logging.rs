//! Logging: `tracing` in plain text on standard output, filtered by `--log` / `MULAMBDA_LOG`.

/// Installs the global subscriber with `filter` (validated by
/// [`crate::options::parse::log_filter`]; `info` if it is not valid after all). Colours only on
/// a terminal. A second call does nothing (tests start several components in one process).
pub fn init(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}
