//! Command-line options: one error type for every binary, the value parsers that turn flag and
//! `MULAMBDA_*` text into typed values, and the option groups the binaries share.
//!
//! Options are typed where clap reads them: a value parser ([`parse`]) refuses bad text with a
//! reason, and [`parse_args`] turns clap's error into an [`OptionError`] that names the flag,
//! its environment variable and the refused value — the variable is read from the flag's own
//! definition, so no table of names has to be kept beside the flags. Checks that involve two
//! options are made after parsing, with [`OptionError::of`].

pub mod groups;
pub mod parse;

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, Parser};

pub use groups::{LeaseArgs, LogArgs, PodArgs, StoreArgs, TraitArgs};

/// Longest refused value shown in a message; the rest is cut (a huge input stays readable).
const MAX_SHOWN: usize = 128;

/// A command line that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    /// Clap could not parse the command line (unknown or missing flags); also carries `--help`
    /// and `--version` output, which [`OptionError::exit`] prints.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// A value was refused.
    #[error("invalid --{option} ({env}) {value:?}: {reason}")]
    Invalid {
        /// The flag, without dashes.
        option: String,
        /// Its environment variable.
        env: String,
        /// The refused value (cut to 128 characters; a store URL's password masked).
        value: String,
        /// Why.
        reason: String,
    },
}

/// Parses a command line (first item: the program name), reading the environment for flags not
/// given; a refused value becomes [`OptionError::Invalid`].
pub fn parse_args<P, I, T>(args: I) -> Result<P, OptionError>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    P::try_parse_from(args).map_err(|e| OptionError::from_clap(e, &P::command()))
}

// === impl OptionError ===

impl OptionError {
    /// A refused value of the flag `--{option}` of the options `P` (a command line or a group
    /// of it; for checks across options, made after parsing). The variable's name comes from
    /// the flag's definition.
    pub fn of<P: clap::Args>(
        option: &str,
        value: impl AsRef<str>,
        reason: impl std::fmt::Display,
    ) -> OptionError {
        let cmd = P::augment_args(Command::new("options"));
        match find_long(&cmd, option) {
            Some(arg) => invalid(arg, value.as_ref(), reason.to_string()),
            None => OptionError::Invalid {
                option: option.to_string(),
                env: "no variable".to_string(),
                value: shown(value.as_ref()),
                reason: reason.to_string(),
            },
        }
    }

    /// Turns clap's refusal of a value into [`OptionError::Invalid`]; other errors stay
    /// [`OptionError::Cli`].
    pub fn from_clap(e: clap::Error, cmd: &Command) -> OptionError {
        if !matches!(
            e.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            return OptionError::Cli(e);
        }
        let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
            e.get(ContextKind::InvalidArg),
            e.get(ContextKind::InvalidValue),
        ) else {
            return OptionError::Cli(e);
        };
        // `arg` reads `--store-timeout <DURATION>`.
        let long = arg
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_start_matches('-');
        let Some(found) = find_long(cmd, long) else {
            return OptionError::Cli(e);
        };
        let reason = match (
            std::error::Error::source(&e),
            e.get(ContextKind::ValidValue),
        ) {
            (Some(s), _) => s.to_string().trim_end().to_string(),
            (None, Some(ContextValue::Strings(valid))) => {
                format!("expected one of: {}", valid.join(", "))
            }
            _ => "refused".to_string(),
        };
        let value = value.clone();
        invalid(found, &value, reason)
    }

    /// Prints the error (clap's own output for `--help`, `--version` and parse errors) and ends
    /// the process: exit status 0 for help and version, 2 otherwise.
    pub fn exit(self) -> ! {
        match self {
            OptionError::Cli(e) => e.exit(),
            e => {
                eprintln!("error: {e}");
                std::process::exit(2)
            }
        }
    }
}

fn invalid(arg: &clap::Arg, value: &str, reason: String) -> OptionError {
    let value = if arg.is_hide_env_values_set() {
        // Only secrets hide their values (the store URL): show it without its password.
        mulambda_catalog::redact_url(value)
    } else {
        value.to_string()
    };
    OptionError::Invalid {
        option: arg.get_long().unwrap_or_default().to_string(),
        env: arg.get_env().map_or_else(
            || "no variable".into(),
            |v| v.to_string_lossy().into_owned(),
        ),
        value: shown(&value),
        reason,
    }
}

fn shown(value: &str) -> String {
    value.chars().take(MAX_SHOWN).collect()
}

/// The argument with long name `long` in `cmd` or its subcommands.
fn find_long<'a>(cmd: &'a Command, long: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|s| find_long(s, long)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        /// A duration.
        #[arg(long, env = "MULAMBDA_TEST_WAIT", default_value = "1s", value_parser = parse::positive_duration)]
        wait: Duration,
        /// A choice.
        #[arg(long, env = "MULAMBDA_TEST_MODE", default_value = "a")]
        mode: Mode,
        /// A secret URL.
        #[arg(long, env = "MULAMBDA_TEST_URL", hide_env_values = true, value_parser = parse::store_url)]
        url: Option<String>,
    }

    #[test]
    fn refusals_name_flag_variable_and_value() {
        let e = parse_args::<Cli, _, _>(["t", "--wait", "5"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid --wait (MULAMBDA_TEST_WAIT) \"5\": expected a number"),
            "{e}"
        );
        let e = parse_args::<Cli, _, _>(["t", "--url", "http://:hunter2@x:1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--url (MULAMBDA_TEST_URL)"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = OptionError::of::<Cli>("wait", "2s", "must be shorter").to_string();
        assert_eq!(
            e,
            "invalid --wait (MULAMBDA_TEST_WAIT) \"2s\": must be shorter"
        );
    }

    #[derive(Debug, Clone, Copy, clap::ValueEnum)]
    enum Mode {
        A,
        B,
    }

    #[test]
    fn refused_choices_list_the_choices() {
        let e = parse_args::<Cli, _, _>(["t", "--mode", "c"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid --mode (MULAMBDA_TEST_MODE) \"c\": expected one of: a, b"
        );
    }

    #[test]
    fn unknown_flags_stay_clap_errors() {
        let e = parse_args::<Cli, _, _>(["t", "--nope"]).unwrap_err();
        assert!(matches!(e, OptionError::Cli(_)));
    }
}
