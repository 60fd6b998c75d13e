//! The init binary's options: flags with `MULAMBDA_*` environment variables, typed by clap's
//! value parsers, validated together into a [`Plan`]. Every error names the flag, its variable
//! and the refused value.

use std::path::PathBuf;

use clap::Parser;

use crate::init::{Action, Plan};
use crate::nft::Nft;
use crate::redirect::{DEFAULT_REDIRECTS, Redirect, RedirectError, Redirects};
use crate::rules::{DEFAULT_PROXY_UID, Rules, RulesError};

/// Environment variables of the init step (each also has a `--flag`).
pub mod env {
    /// UID the proxy runs as; its traffic is not redirected.
    pub const PROXY_UID: &str = "MULAMBDA_PROXY_UID";
    /// Port mapping, `TF_PORT=PROXY_PORT` items separated by commas.
    pub const REDIRECT: &str = "MULAMBDA_INTERCEPT_REDIRECT";
    /// `true`: remove the rules instead of installing them.
    pub const REMOVE: &str = "MULAMBDA_INTERCEPT_REMOVE";
    /// `true`: print the nft script instead of applying it.
    pub const DRY_RUN: &str = "MULAMBDA_INTERCEPT_DRY_RUN";
    /// The nft binary (a path, or a name looked up in `PATH`).
    pub const NFT: &str = "MULAMBDA_NFT";
}

/// The init step's command line. Every option can also be given by its environment variable; a
/// flag wins over the environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mulambda-intercept",
    version,
    about = "Installs, in the current network namespace, the nftables rules that redirect \
             outbound TCP to TF Serving ports to the mulambda proxy (IPv4 and IPv6), except the \
             proxy's own traffic. Run once per pod, before the application, with CAP_NET_ADMIN.",
    long_about = None
)]
pub struct Args {
    /// UID the proxy runs as; its own connections (to executors) are not redirected. Not 0.
    #[arg(long, env = env::PROXY_UID, default_value_t = DEFAULT_PROXY_UID, value_name = "UID",
          value_parser = parse_uid)]
    pub proxy_uid: u32,

    /// Redirect outbound TCP to TF_PORT (any address) to the proxy's PROXY_PORT on loopback;
    /// repeat the flag or separate with commas. Default: REST 8501 to the proxy's REST
    /// listener 18501, gRPC 8500 to its gRPC listener 18500.
    #[arg(long = "redirect", env = env::REDIRECT, value_name = "TF_PORT=PROXY_PORT",
          value_delimiter = ',', default_value = DEFAULT_REDIRECTS, value_parser = parse_redirect)]
    pub redirects: Vec<Redirect>,

    /// Remove mulambda's table instead of installing it (succeeds when it is absent).
    #[arg(long, env = env::REMOVE)]
    pub remove: bool,

    /// Print the exact nft script and change nothing (needs no privilege).
    #[arg(long, env = env::DRY_RUN)]
    pub dry_run: bool,

    /// The nft binary: a path, or a name looked up in PATH.
    #[arg(long, env = env::NFT, default_value = "nft", value_name = "PATH")]
    pub nft: PathBuf,
}

/// Options that are valid one by one but not together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The redirects as a whole.
    #[error("--redirect / {var}: refused `{value}`: {source}", var = env::REDIRECT)]
    Redirects {
        /// The refused mapping.
        value: String,
        /// Why.
        source: RedirectError,
    },
    /// The proxy UID.
    #[error("--proxy-uid / {var}: refused `{uid}`: {source}", var = env::PROXY_UID)]
    ProxyUid {
        /// The refused UID.
        uid: u32,
        /// Why.
        source: RulesError,
    },
}

// === impl Args ===

impl Args {
    /// Validates the options together.
    pub fn into_plan(self) -> Result<Plan, OptionError> {
        let listed = self
            .redirects
            .iter()
            .map(Redirect::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let redirects =
            Redirects::new(self.redirects).map_err(|source| OptionError::Redirects {
                value: listed,
                source,
            })?;
        let rules =
            Rules::new(self.proxy_uid, redirects).map_err(|source| OptionError::ProxyUid {
                uid: self.proxy_uid,
                source,
            })?;
        Ok(Plan {
            action: if self.remove {
                Action::Remove
            } else {
                Action::Install(rules)
            },
            dry_run: self.dry_run,
            nft: Nft::new(self.nft),
        })
    }
}

fn parse_uid(s: &str) -> Result<u32, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` is not a numeric UID (--proxy-uid / {})",
            env::PROXY_UID
        )
    })
}

fn parse_redirect(s: &str) -> Result<Redirect, String> {
    s.parse()
        .map_err(|e| format!("{e} (--redirect / {})", env::REDIRECT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Plan, String> {
        let args =
            Args::try_parse_from(std::iter::once("mulambda-intercept").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        args.into_plan().map_err(|e| e.to_string())
    }

    #[test]
    fn without_options_the_default_rules_are_installed() {
        // Assumes none of the init step's MULAMBDA_* variables is set in the test environment.
        let plan = parse(&[]).unwrap();
        assert_eq!(
            plan.action,
            Action::Install(Rules::new(DEFAULT_PROXY_UID, Redirects::default()).unwrap())
        );
        assert!(!plan.dry_run);
        assert_eq!(plan.nft, Nft::new("nft"));
    }

    #[test]
    fn redirects_may_be_repeated_or_comma_separated() {
        let a = parse(&["--redirect", "8501=15001,8500=15002"]).unwrap();
        let b = parse(&["--redirect", "8500=15002", "--redirect", "8501=15001"]).unwrap();
        assert_eq!(a, b);
        assert!(a.script().contains("tcp dport 8501 redirect to :15001"));
    }

    #[test]
    fn a_malformed_redirect_names_the_flag_variable_and_value() {
        let err = parse(&["--redirect", "8501-18501"]).unwrap_err();
        assert!(err.contains("--redirect"), "{err}");
        assert!(err.contains("MULAMBDA_INTERCEPT_REDIRECT"), "{err}");
        assert!(err.contains("`8501-18501`"), "{err}");
    }

    #[test]
    fn conflicting_redirects_name_the_flag_variable_and_value() {
        let err = parse(&["--redirect", "8501=18501,8501=18502"]).unwrap_err();
        assert_eq!(
            err,
            "--redirect / MULAMBDA_INTERCEPT_REDIRECT: refused `8501=18501,8501=18502`: TF \
             Serving port 8501 is redirected twice (to 18501 and to 18502)"
        );
    }

    #[test]
    fn uid_zero_and_non_numeric_uids_are_refused_by_name() {
        let err = parse(&["--proxy-uid", "0"]).unwrap_err();
        assert!(
            err.starts_with("--proxy-uid / MULAMBDA_PROXY_UID: refused `0`: "),
            "{err}"
        );
        let err = parse(&["--proxy-uid", "proxy"]).unwrap_err();
        assert!(
            err.contains("`proxy` is not a numeric UID (--proxy-uid / MULAMBDA_PROXY_UID)"),
            "{err}"
        );
    }

    #[test]
    fn remove_and_dry_run_plan_the_removal_script() {
        let plan = parse(&["--remove", "--dry-run"]).unwrap();
        assert_eq!(plan.action, Action::Remove);
        assert!(plan.dry_run);
        assert_eq!(plan.script(), crate::rules::remove_script());
    }
}
