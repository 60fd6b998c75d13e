//! Small shared helpers: human-friendly durations for flags.

use std::time::Duration;

/// Parses `1.5s`, `500ms`, `250us`, `2m`, `1h` ([`mulambda_catalog::parse_duration`]) or a
/// bare number of seconds.
///
/// # Errors
/// A message naming the value when it is not a non-negative duration of at most a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let with_unit = if t.parse::<f64>().is_ok() {
        format!("{t}s")
    } else {
        t.to_string()
    };
    mulambda_catalog::parse_duration(&with_unit).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
