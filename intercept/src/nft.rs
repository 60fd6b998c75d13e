//! Running the `nft` binary, and telling its failures apart.
//!
//! nftables is driven through its own command-line tool rather than through netlink from Rust:
//! the rules stay in nft's text syntax, which is what `--dry-run` prints and what `nft list
//! ruleset` shows in the pod, and the kernel ABI stays nftables' problem. The pure-Rust netlink
//! crates either wrap libnftnl (C) or would have us assemble nf_tables expressions by hand.
//!
//! nft reports kernel errors as strerror text on stderr; the three a pod spec can cause are told
//! apart here: no permission, missing kernel support, anything else.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::rules::{TABLE_FAMILY, TABLE_NAME};

/// Name of the option that sets the nft binary, for messages.
const NFT_OPTION: &str = "--nft / MULAMBDA_NFT";

/// The `nft` binary to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nft {
    program: PathBuf,
}

/// Why nft could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The binary is not there.
    #[error(
        "the nft binary `{}` was not found ({NFT_OPTION}): the init step needs nftables' `nft` \
         in its image (Debian: apt-get install nftables)",
        program.display()
    )]
    NotFound {
        /// The program that was looked for.
        program: PathBuf,
    },
    /// The binary is there but could not be run or fed.
    #[error("cannot run the nft binary `{}` ({NFT_OPTION}): {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The kernel refused with EPERM although the capability check passed.
    #[error(
        "the kernel refused nftables (Operation not permitted) although this process has \
         CAP_NET_ADMIN: its network namespace belongs to another user namespace, or a security \
         policy (seccomp, AppArmor, SELinux) forbids nftables. nft said: {stderr}"
    )]
    PermissionDenied {
        /// nft's error output.
        stderr: String,
    },
    /// The kernel lacks nf_tables, NAT in the `inet` family, or the redirect expression.
    #[error(
        "the kernel lacks what the rules need: nf_tables with NAT in the inet family and the \
         redirect expression (Linux >= 5.2; modules nf_tables, nft_chain_nat, nft_redir). nft \
         said: {stderr}"
    )]
    KernelSupport {
        /// nft's error output.
        stderr: String,
    },
    /// Any other failure.
    #[error("nft failed ({status}): {stderr}")]
    Failed {
        /// nft's exit status.
        status: ExitStatus,
        /// nft's error output.
        stderr: String,
    },
}

/// What nft said, for [`classify`].
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

// === impl Nft ===

impl Nft {
    /// The nft at `program` (a path, or a name looked up in `PATH`).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Applies an `nft -f` script as one transaction.
    pub fn apply(&self, script: &str) -> Result<(), NftError> {
        let done = self.run(&["-f", "-"], Some(script))?;
        if done.status.success() {
            Ok(())
        } else {
            Err(classify(done.status, done.stderr))
        }
    }

    /// mulambda's table as nft lists it, or `None` when it is not installed.
    pub fn list_table(&self) -> Result<Option<String>, NftError> {
        let done = self.run(&["list", "table", TABLE_FAMILY, TABLE_NAME], None)?;
        if done.status.success() {
            return Ok(Some(done.stdout));
        }
        // Listing an absent table is ENOENT; here that is an answer, not missing support.
        if done.stderr.contains("No such file or directory") {
            return Ok(None);
        }
        Err(classify(done.status, done.stderr))
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Finished, NftError> {
        let spawn_error = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                NftError::NotFound {
                    program: self.program.clone(),
                }
            } else {
                NftError::Spawn {
                    program: self.program.clone(),
                    source,
                }
            }
        };
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // The pipe is closed when `pipe` drops, which ends nft's input. A broken pipe means
            // nft stopped reading (it failed early): its exit status and stderr tell why.
            match pipe.write_all(script.as_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(source) => {
                    // Do not leave nft behind waiting for the rest of its input.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(NftError::Spawn {
                        program: self.program.clone(),
                        source,
                    });
                }
            }
        }
        let out = child.wait_with_output().map_err(|source| NftError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        Ok(Finished {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Tells nft's failures apart by the kernel's strerror text in its output.
///
/// "No such file or directory" counts as missing support because the scripts never refer to
/// anything that may be absent (the table is created before it is deleted): the kernel answers
/// ENOENT for an unknown chain type or expression, i.e. a module it cannot load.
fn classify(status: ExitStatus, stderr: String) -> NftError {
    const UNSUPPORTED: [&str; 4] = [
        "No such file or directory",
        "Operation not supported",
        "Protocol not supported",
        "Address family not supported",
    ];
    if stderr.contains("Operation not permitted") {
        NftError::PermissionDenied { stderr }
    } else if UNSUPPORTED.iter().any(|s| stderr.contains(s)) {
        NftError::KernelSupport { stderr }
    } else {
        NftError::Failed { status, stderr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn failed() -> ExitStatus {
        ExitStatus::from_raw(1 << 8)
    }

    #[test]
    fn eperm_is_a_permission_error() {
        // What nft 1.0.6 prints without CAP_NET_ADMIN over the namespace.
        let stderr = "Operation not permitted (you must be root)\n\
                      netlink: Error: cache initialization failed: Operation not permitted";
        assert!(matches!(
            classify(failed(), stderr.into()),
            NftError::PermissionDenied { .. }
        ));
    }

    #[test]
    fn unknown_chain_types_and_expressions_are_missing_kernel_support() {
        // A kernel without nft_chain_nat answers ENOENT for the nat chain type; one without
        // nf_tables at all cannot open the netlink family.
        for stderr in [
            "/dev/stdin:5:1-60: Error: Could not process rule: No such file or directory\n\
             \t\ttype nat hook output priority -100; policy accept;",
            "Error: Could not process rule: Operation not supported",
            "netlink: Error: cache initialization failed: Protocol not supported",
        ] {
            assert!(
                matches!(
                    classify(failed(), stderr.into()),
                    NftError::KernelSupport { .. }
                ),
                "{stderr}"
            );
        }
    }

    #[test]
    fn other_failures_keep_nfts_words() {
        let stderr = "/dev/stdin:1:1-3: Error: syntax error, unexpected junk";
        let err = classify(failed(), stderr.into());
        assert!(matches!(err, NftError::Failed { .. }));
        assert!(err.to_string().contains("unexpected junk"));
    }

    #[test]
    fn a_missing_binary_is_named_with_its_option() {
        let err = Nft::new("/nonexistent/mulambda-test/nft")
            .list_table()
            .unwrap_err();
        assert!(matches!(err, NftError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains("`/nonexistent/mulambda-test/nft` was not found"));
        assert!(msg.contains("MULAMBDA_NFT"));
    }
}
