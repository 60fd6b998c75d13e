//! The init step: install or remove the rules, or print them.

use std::io::{self, Write};

use crate::caps::Capabilities;
use crate::nft::{Nft, NftError};
use crate::rules::{self, Rules, TABLE_FAMILY, TABLE_NAME};

/// What to do with mulambda's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Install the rules, replacing the table if it exists.
    Install(Rules),
    /// Remove the table, if it exists.
    Remove,
}

/// A validated run of the init step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Install or remove.
    pub action: Action,
    /// Print the nft script instead of applying it (needs no privilege).
    pub dry_run: bool,
    /// The nft binary.
    pub nft: Nft,
}

/// Why the init step failed. Each kind has its own exit code ([`InitError::exit_code`]), so a
/// pod's status tells them apart without reading logs.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The process lacks CAP_NET_ADMIN.
    #[error(
        "this process lacks CAP_NET_ADMIN (effective capabilities {effective}), which nftables \
         needs: run the init container with securityContext.capabilities.add: [\"NET_ADMIN\"] \
         (NET_RAW is not needed: nft speaks netlink)"
    )]
    MissingNetAdmin {
        /// The effective set that was found.
        effective: Capabilities,
    },
    /// nft failed.
    #[error(transparent)]
    Nft(#[from] NftError),
    /// Writing the report failed.
    #[error("cannot write to standard output: {0}")]
    Output(#[source] io::Error),
}

// === impl InitError ===

impl InitError {
    /// Exit code of the binary: 3 no permission, 4 no nft, 5 no kernel support, 1 otherwise
    /// (2 is taken by invalid options).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::MissingNetAdmin { .. } | Self::Nft(NftError::PermissionDenied { .. }) => 3,
            Self::Nft(NftError::NotFound { .. } | NftError::Spawn { .. }) => 4,
            Self::Nft(NftError::KernelSupport { .. }) => 5,
            Self::Nft(NftError::Failed { .. }) | Self::Output(_) => 1,
        }
    }
}

// === impl Plan ===

impl Plan {
    /// The exact `nft -f` script this plan applies.
    pub fn script(&self) -> String {
        match &self.action {
            Action::Install(rules) => rules.install_script(),
            Action::Remove => rules::remove_script(),
        }
    }

    /// Carries the plan out, reporting on `out`: the script for a dry run, else the installed
    /// table as nft lists it, or what removal found.
    pub fn run(&self, out: &mut dyn Write) -> Result<(), InitError> {
        if self.dry_run {
            return out
                .write_all(self.script().as_bytes())
                .map_err(InitError::Output);
        }
        // Without /proc (unusual) the check is skipped and nft's own answer decides.
        if let Ok(effective) = Capabilities::effective()
            && !effective.net_admin()
        {
            return Err(InitError::MissingNetAdmin { effective });
        }
        let report = match &self.action {
            Action::Install(_) => {
                self.nft.apply(&self.script())?;
                let listed = self.nft.list_table()?.unwrap_or_default();
                format!(
                    "mulambda-intercept: installed; `nft list table {TABLE_FAMILY} {TABLE_NAME}` \
                     shows:\n{listed}"
                )
            }
            Action::Remove => {
                let present = self.nft.list_table()?.is_some();
                self.nft.apply(&self.script())?;
                if present {
                    format!("mulambda-intercept: removed table {TABLE_FAMILY} {TABLE_NAME}\n")
                } else {
                    format!(
                        "mulambda-intercept: table {TABLE_FAMILY} {TABLE_NAME} was not \
                         installed; nothing removed\n"
                    )
                }
            }
        };
        out.write_all(report.as_bytes()).map_err(InitError::Output)
    }
}
