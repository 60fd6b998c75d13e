//! Durations as operators write them in flags and environment variables: `250ms`, `5s`, `2m`.
//!
//! One parser for every binary, so `MULAMBDA_HEARTBEAT=2s` means the same to the proxy, the
//! companion and the controller.

use std::time::Duration;

/// Longest duration accepted: one day. Anything longer in these settings is a typo.
const MAX_SECS: f64 = 86_400.0;

/// Parses a number with a unit — `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h` — between 0
/// and one day, e.g. `250ms`, `1.5s`, `2m`. The error says what is expected, for the caller to
/// wrap with the option's name.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    const UNITS: [(&str, f64); 7] = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("min", 60.0),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let expected = "expected a number with a unit: us, ms, s, m or h (e.g. 250ms, 5s)";
    let (number, scale) = UNITS
        .iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n, *scale)))
        .ok_or_else(|| expected.to_string())?;
    let value: f64 = number.trim().parse().map_err(|_| expected.to_string())?;
    let secs = value * scale;
    if !(0.0..=MAX_SECS).contains(&secs) {
        return Err("must be between 0 and 24 hours".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration(" 1.5s ").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refusals() {
        for bad in ["5", "x", "-1s", "NaNs", "infs", "2d", "25h", "3 days", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
