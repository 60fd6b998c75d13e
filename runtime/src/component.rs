//! One way to start a binary. The proxy, the companion and the controller are each a
//! [`Component`]: `start(config)` binds its listeners and starts its tasks, `shutdown()` stops
//! them in order and reports what it did; [`run`] does both around a shutdown signal, and
//! [`main`] is the whole body of a binary's `main` once its command line is parsed.

use std::future::Future;
use std::process::ExitCode;

/// A long-running part of a binary.
pub trait Component: Sized {
    /// Its validated configuration.
    type Config;
    /// What shutting down did.
    type Report: std::fmt::Debug;
    /// Why it could not start.
    type Error: std::error::Error + 'static;

    /// Binds listeners and starts tasks; returns once it serves.
    fn start(config: Self::Config) -> impl Future<Output = Result<Self, Self::Error>> + Send;

    /// Stops in order (stop accepting, deregister, drain, stop background tasks).
    fn shutdown(self) -> impl Future<Output = Self::Report> + Send;
}

/// Starts `C`, waits for `signal` (e.g. [`crate::signal::shutdown`]), then shuts it down.
pub async fn run<C: Component>(
    config: C::Config,
    signal: impl Future<Output = ()>,
) -> Result<C::Report, C::Error> {
    let component = C::start(config).await?;
    signal.await;
    Ok(component.shutdown().await)
}

/// Tokio worker threads of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One thread (light, mostly waiting work: no cross-thread wake-ups).
    Current,
    /// A multi-threaded runtime with this many workers.
    Multi(usize),
}

/// Sets up logging with `log`, builds the runtime, runs `C` until SIGTERM or SIGINT and returns
/// the exit code (failure when it could not start; the error and its causes are printed).
pub fn main<C: Component>(config: C::Config, log: &str, threads: Threads) -> ExitCode {
    crate::logging::init(log);
    let runtime = match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Threads::Multi(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::<C>(config, crate::signal::shutdown())) {
        Ok(report) => {
            tracing::debug!(?report, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its sources, joined by ": " (a source already part of the message is skipped).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let text = src.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = src.source();
    }
    s
}
