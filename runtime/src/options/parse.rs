//! Value parsers for clap (`#[arg(value_parser = …)]`): each turns a flag's or a `MULAMBDA_*`
//! variable's text into a typed value, or refuses it with a reason that says what is expected.
//! Clap adds the flag and the value; [`super::parse_args`] adds the variable.
//!
//! "Blank means unknown": the downward API and templated manifests give empty strings for
//! values they do not have, so optional identities and addresses accept an empty value as
//! `None` ([`blank_or`]).

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use mulambda_catalog::{Id, SoftCriteria};

/// An optional value where blank text means "unknown". A type alias (not `Option<T>` spelled
/// out) so clap hands the parser blank text instead of treating the option as absent.
pub type Blankable<T> = Option<T>;

/// Durations: a number with a unit, `250ms`, `5s`, `2m` (see
/// [`mulambda_catalog::parse_duration`]), zero allowed.
pub fn duration(text: &str) -> Result<Duration, String> {
    mulambda_catalog::parse_duration(text)
}

/// A duration greater than zero (intervals and deadlines of zero would spin or fail at once).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be greater than zero".into()),
        d => Ok(d),
    }
}

/// Sizes: bytes, or a number with `KiB`, `MiB`, `GiB`, `kB`, `MB`, `GB`. At most 4 GiB.
pub fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    const UNITS: [(&str, f64); 7] = [
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    let (number, scale) = UNITS
        .iter()
        .find_map(|(u, s)| t.strip_suffix(u).map(|n| (n, *s)))
        .unwrap_or((t, 1.0));
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| "expected a size such as 65536, 64KiB or 16MiB".to_string())?;
    let bytes = v * scale;
    if !(0.0..=4.0 * 1024.0 * 1024.0 * 1024.0).contains(&bytes) {
        return Err("must be between 0 and 4GiB".into());
    }
    Ok(bytes as u64)
}

/// A size greater than zero.
pub fn positive_size(text: &str) -> Result<u64, String> {
    match size(text)? {
        0 => Err("must be greater than zero".into()),
        n => Ok(n),
    }
}

/// A listener address, `ip:port`.
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected ip:port".to_string())
}

/// A whole number within `range`.
pub fn whole_in<T>(range: RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |text| {
        text.trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "must be a whole number in {}..={}",
                    range.start(),
                    range.end()
                )
            })
    }
}

/// A finite number within `[lo, hi]`.
pub fn number_in(lo: f64, hi: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |text| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(|| format!("must be a number in [{lo}, {hi}]"))
    }
}

/// A finite number (the soft criteria's figures; their ranges are checked by
/// [`SoftCriteria::validate`], so the rules live in one place).
fn number(text: &str) -> Result<f64, String> {
    mulambda_catalog::parse_number("value", text).map_err(|e| match e {
        mulambda_catalog::Error::Invalid { reason, .. } => reason,
    })
}

/// Checks one soft-criteria figure by the catalog's rules, with every other figure at its
/// default (the rule that two weights are not both zero is checked after parsing).
fn soft_figure(text: &str, set: impl Fn(&mut SoftCriteria, f64)) -> Result<f64, String> {
    let v = number(text)?;
    let mut soft = SoftCriteria::default();
    set(&mut soft, v);
    match soft.validate() {
        Ok(()) => Ok(v),
        Err(mulambda_catalog::Error::Invalid { reason, .. }) => Err(reason),
    }
}

/// A soft-criteria weight (finite, ≥ 0).
pub fn weight(text: &str) -> Result<f64, String> {
    soft_figure(text, |s, v| s.latency_weight = v)
}

/// A latency ceiling in milliseconds (finite, > 0).
pub fn latency_ceiling_ms(text: &str) -> Result<f64, String> {
    soft_figure(text, |s, v| s.max_latency_ms = Some(v))
}

/// An accuracy floor in [0, 1].
pub fn accuracy_floor(text: &str) -> Result<f64, String> {
    soft_figure(text, |s, v| s.min_accuracy = Some(v))
}

/// An identifier ([`Id`]): pod names, executor and client ids, nodes, zones.
pub fn id(text: &str) -> Result<Id, String> {
    Id::parse(text.trim()).map_err(|e| e.to_string())
}

/// `parse`, or `None` for blank text (see the module docs).
pub fn blank_or<T, E: std::fmt::Display>(
    parse: impl Fn(&str) -> Result<T, E> + Clone + Send + Sync + 'static,
) -> impl Fn(&str) -> Result<Blankable<T>, String> + Clone {
    move |text| match text.trim() {
        "" => Ok(None),
        t => parse(t).map(Some).map_err(|e| e.to_string()),
    }
}

/// A store URL: `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS) or `redis+unix:///path`.
/// The error never repeats the URL (it may hold a password).
pub fn store_url(text: &str) -> Result<String, String> {
    let raw = text.trim();
    let u = url::Url::parse(raw).map_err(|e| e.to_string())?;
    let ok = match u.scheme() {
        "redis" | "rediss" => u.host_str().is_some_and(|h| !h.is_empty()),
        "redis+unix" | "unix" => !u.path().is_empty(),
        _ => false,
    };
    if !ok {
        return Err("must be redis://host:port or rediss://host:port".into());
    }
    Ok(raw.to_string())
}

/// A store key prefix: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn store_prefix(text: &str) -> Result<String, String> {
    let p = text.trim();
    let ok = !p.is_empty()
        && p.len() <= 64
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(p.to_string())
    } else {
        Err("1 to 64 of A-Z a-z 0-9 - _ .".into())
    }
}

/// A log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info` or `mulambda_proxy=debug`.
pub fn log_filter(text: &str) -> Result<String, String> {
    let t = text.trim();
    tracing_subscriber::EnvFilter::try_new(t).map_err(|e| e.to_string())?;
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("0s").unwrap(), Duration::ZERO);
        assert!(
            positive_duration("0s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(positive_duration("5").unwrap_err().contains("unit"));
        assert_eq!(size("16MiB").unwrap(), 16 << 20);
        assert_eq!(size("100").unwrap(), 100);
        assert_eq!(size("1kB").unwrap(), 1000);
        assert!(size("5GiB").is_err());
        assert!(positive_size("0").is_err());
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(whole_in(1u32..=100)("7").unwrap(), 7);
        assert_eq!(
            whole_in(1u32..=100)("0").unwrap_err(),
            "must be a whole number in 1..=100"
        );
        assert_eq!(number_in(0.0, 1.0)("0.5").unwrap(), 0.5);
        assert!(number_in(0.0, 1.0)("NaN").is_err());
        assert!(weight("-1").unwrap_err().contains("≥ 0"));
        assert!(weight("fast").unwrap_err().contains("not a number"));
        assert!(latency_ceiling_ms("0").is_err());
        assert!(accuracy_floor("2").unwrap_err().contains("[0, 1]"));
    }

    #[test]
    fn blank_means_unknown() {
        assert_eq!(blank_or(id)(" ").unwrap(), None);
        assert_eq!(blank_or(id)("web-1").unwrap().unwrap().as_str(), "web-1");
        assert!(blank_or(id)("Bad Id!").is_err());
    }

    #[test]
    fn store_urls_and_prefixes() {
        assert!(store_url("redis://:pw@store:6379/0").is_ok());
        assert!(store_url("redis+unix:///run/redis.sock").is_ok());
        let e = store_url("http://:hunter2@x:1").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(store_prefix("mulambda").is_ok());
        assert!(store_prefix("a b").is_err());
        assert!(log_filter("mulambda_proxy=debug").is_ok());
        assert!(log_filter("=[").is_err());
    }
}
