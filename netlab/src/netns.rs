//! Running code inside a named network namespace, from this process.
//!
//! A network namespace belongs to a thread, not a process: a fresh thread joins the namespace
//! (`setns` on `/run/netns/NAME`) and everything it then creates — sockets, TUN devices, child
//! processes — lives there. The thread is used for that one purpose and ends with it, so no
//! other code ever runs in a namespace it did not ask for.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

use crate::error::Error;

/// Where `ip netns add` mounts a named namespace.
pub fn path(ns: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(ns)
}

/// Starts `f` on a new thread inside namespace `ns`; returns once the thread is in it (or
/// could not get in).
pub fn spawn_in<T, F>(ns: &str, f: F) -> Result<NsThread<T>, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = File::open(path(ns)).map_err(|e| Error::io(format!("open namespace {ns}"), e))?;
    let (tx, rx) = mpsc::sync_channel(1);
    let name = format!("netns-{}", ns.rsplit('-').next().unwrap_or(ns));
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let joined = setns(&file, CloneFlags::CLONE_NEWNET);
            drop(file);
            let ok = joined.is_ok();
            let _ = tx.send(joined);
            // Only reached inside the namespace; the caller learns of a failure from `rx`.
            ok.then(f)
        })
        .map_err(|e| Error::io("spawn a namespace thread", e))?;
    match rx.recv() {
        Ok(Ok(())) => Ok(NsThread(handle)),
        Ok(Err(errno)) => {
            let _ = handle.join();
            Err(Error::io(
                format!("enter namespace {ns}"),
                std::io::Error::from(errno),
            ))
        }
        Err(_) => Err(Error::io(
            format!("enter namespace {ns}"),
            std::io::Error::other("the namespace thread died"),
        )),
    }
}

/// Runs `f` inside namespace `ns` and waits for its result.
pub fn run_in<T, F>(ns: &str, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    spawn_in(ns, f)?.join().map_err(|_| {
        Error::io(
            format!("work in namespace {ns}"),
            std::io::Error::other("panicked"),
        )
    })
}

/// A thread running inside a namespace ([`spawn_in`]).
pub struct NsThread<T>(JoinHandle<Option<T>>);

impl<T> NsThread<T> {
    /// Waits for the thread's result; `Err` carries its panic.
    pub fn join(self) -> std::thread::Result<T> {
        // `None` only comes from a thread that never entered its namespace, and `spawn_in`
        // returns an error instead of an `NsThread` for those.
        self.0
            .join()
            .map(|v| v.expect("an NsThread always entered its namespace"))
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}
