//! Configuration of one simulated executor: identity, versions and labels, service time and
//! faults; parsed from a compact `key=value,…` spec (the CLI's `--executor`) or from JSON.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// An invalid simulator configuration; the message names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid simulator configuration: {0}")]
pub struct ConfigError(pub String);

/// How long a request takes to serve.
///
/// `time = (base_ms + per_element_us/1000 · elements + U(0, jitter_ms))
///         · (1 + concurrency_slowdown · (in_flight − 1))`,
/// then multiplied by the fault's `slow_factor` and increased by its `extra_ms`
/// (see [`Fault`]). `elements` counts the scalar input values of the request; `in_flight`
/// counts inference requests being served by this executor, this one included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceTime {
    /// Fixed part, milliseconds.
    pub base_ms: f64,
    /// Added per input element, microseconds.
    pub per_element_us: f64,
    /// Upper bound of a uniformly distributed extra delay, milliseconds.
    pub jitter_ms: f64,
    /// Relative slowdown per additional concurrent request (0.1: 10 % slower per request
    /// already in flight).
    pub concurrency_slowdown: f64,
}

impl Default for ServiceTime {
    fn default() -> Self {
        Self {
            base_ms: 1.0,
            per_element_us: 0.0,
            jitter_ms: 0.0,
            concurrency_slowdown: 0.0,
        }
    }
}

// === impl ServiceTime ===

impl ServiceTime {
    /// Checks every field is finite and non-negative.
    ///
    /// # Errors
    /// Names the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        non_negative("base-ms", self.base_ms)?;
        non_negative("per-element-us", self.per_element_us)?;
        non_negative("jitter-ms", self.jitter_ms)?;
        non_negative("concurrency-slowdown", self.concurrency_slowdown)
    }

    /// Service time in milliseconds for `elements` inputs, `in_flight` concurrent requests and
    /// a jitter draw `u` in [0, 1).
    pub fn millis(&self, elements: usize, in_flight: usize, u: f64) -> f64 {
        let base =
            self.base_ms + self.per_element_us / 1000.0 * elements as f64 + self.jitter_ms * u;
        base * (1.0 + self.concurrency_slowdown * in_flight.saturating_sub(1) as f64)
    }
}

/// Faults injected into inference requests (`:predict`, `:classify`, `:regress`). Status,
/// metadata and control requests are never faulted.
///
/// Per request, one uniform draw picks at most one of drop, stall and error, in that order of
/// the cumulated rates (`drop_rate + stall_rate + error_rate ≤ 1`). Errors answer at once (an
/// executor that fails fast); dropped connections close without a response at once; stalls never
/// answer (until the client gives up or the simulator shuts down). Requests that are not faulted
/// take the service time, multiplied by `slow_factor`, plus `extra_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Fraction of requests answered with `error_status`.
    pub error_rate: f64,
    /// HTTP status of injected errors (500 INTERNAL or 503 UNAVAILABLE are typical).
    pub error_status: u16,
    /// Fraction of requests that never get an answer.
    pub stall_rate: f64,
    /// Fraction of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Multiplies the service time (1: no slowdown).
    pub slow_factor: f64,
    /// Added to the service time, milliseconds.
    pub extra_ms: f64,
}

impl Default for Fault {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_status: 503,
            stall_rate: 0.0,
            drop_rate: 0.0,
            slow_factor: 1.0,
            extra_ms: 0.0,
        }
    }
}

// === impl Fault ===

impl Fault {
    /// No fault at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every request answered with `status`.
    pub fn always_error(status: u16) -> Self {
        Self {
            error_rate: 1.0,
            error_status: status,
            ..Self::default()
        }
    }

    /// Every request stalls.
    pub fn always_stall() -> Self {
        Self {
            stall_rate: 1.0,
            ..Self::default()
        }
    }

    /// Every request's connection is dropped.
    pub fn always_drop() -> Self {
        Self {
            drop_rate: 1.0,
            ..Self::default()
        }
    }

    /// Every request slowed down: service time × `factor` + `extra_ms`.
    pub fn slow(factor: f64, extra_ms: f64) -> Self {
        Self {
            slow_factor: factor,
            extra_ms,
            ..Self::default()
        }
    }

    /// Checks rates are in [0, 1] and sum to at most 1, the status is an HTTP error status and
    /// the slowdown is finite and non-negative.
    ///
    /// # Errors
    /// Names the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        rate("error-rate", self.error_rate)?;
        rate("stall-rate", self.stall_rate)?;
        rate("drop-rate", self.drop_rate)?;
        let sum = self.error_rate + self.stall_rate + self.drop_rate;
        if sum > 1.0 + 1e-9 {
            return Err(ConfigError(format!(
                "error-rate + stall-rate + drop-rate = {sum} exceeds 1"
            )));
        }
        if !(400..=599).contains(&self.error_status) {
            return Err(ConfigError(format!(
                "error-status = {} is not an HTTP error status (400..=599)",
                self.error_status
            )));
        }
        non_negative("slow-factor", self.slow_factor)?;
        non_negative("extra-ms", self.extra_ms)
    }

    /// Which fault, if any, a uniform draw `u` in [0, 1) selects.
    pub fn pick(&self, u: f64) -> Option<FaultKind> {
        let mut edge = self.drop_rate;
        if u < edge {
            return Some(FaultKind::Drop);
        }
        edge += self.stall_rate;
        if u < edge {
            return Some(FaultKind::Stall);
        }
        edge += self.error_rate;
        if u < edge {
            return Some(FaultKind::Error);
        }
        None
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Close the connection without a response.
    Drop,
    /// Never answer.
    Stall,
    /// Answer with the configured error status.
    Error,
}

/// One simulated executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Executor name (reported on the control endpoint and in the start-up line).
    pub name: String,
    /// Model name served (the function is always half_plus_two).
    pub model: String,
    /// Address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Address of the optional TF Serving gRPC listener (port 0 picks a free one); `None`:
    /// REST only.
    pub grpc_addr: Option<SocketAddr>,
    /// Model versions, all loaded; the highest is the latest.
    pub versions: Vec<i64>,
    /// Version labels (label → version).
    pub labels: BTreeMap<String, i64>,
    /// Whether the model starts available.
    pub available: bool,
    /// Service time.
    pub timing: ServiceTime,
    /// Initial faults.
    pub fault: Fault,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            name: "sim".into(),
            model: "half_plus_two".into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            grpc_addr: None,
            versions: vec![1],
            labels: BTreeMap::from([("stable".to_owned(), 1)]),
            available: true,
            timing: ServiceTime::default(),
            fault: Fault::default(),
        }
    }
}

// === impl SimConfig ===

impl SimConfig {
    /// A default executor with the given name (model `half_plus_two`, loopback, free port).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks the whole configuration.
    ///
    /// # Errors
    /// Names the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError("name is empty".into()));
        }
        if self.model.is_empty() || self.model.contains(['/', ':']) {
            return Err(ConfigError(format!(
                "model = {:?} must be non-empty and contain neither '/' nor ':'",
                self.model
            )));
        }
        if self.versions.is_empty() {
            return Err(ConfigError("versions is empty".into()));
        }
        if let Some(v) = self.versions.iter().find(|v| **v < 0) {
            return Err(ConfigError(format!("version {v} is negative")));
        }
        for (label, version) in &self.labels {
            if label.is_empty() || label.contains(['/', ':']) {
                return Err(ConfigError(format!("label {label:?} is not a valid label")));
            }
            if !self.versions.contains(version) {
                return Err(ConfigError(format!(
                    "label {label} points to version {version}, which is not in versions {:?}",
                    self.versions
                )));
            }
        }
        self.timing.validate()?;
        self.fault.validate()
    }

    /// Parses a spec such as
    /// `name=fast,model=half_plus_two,port=0,base-ms=1,jitter-ms=0.5,versions=1+2,labels=stable:1+canary:2`.
    ///
    /// Keys: `name`, `model`, `addr` (`ip:port`), `port`, `grpc-addr` (`ip:port`), `grpc-port`
    /// (on the REST address's IP; either one turns the gRPC listener on), `versions` (`+`-separated),
    /// `labels` (`label:version`, `+`-separated), `available`, `base-ms`, `per-element-us`,
    /// `jitter-ms`, `concurrency-slowdown`, `error-rate`, `error-status`, `stall-rate`,
    /// `drop-rate`, `slow-factor`, `extra-ms`. Unset keys keep their defaults.
    ///
    /// # Errors
    /// Names the unknown key or the bad value; validates the result.
    pub fn parse_spec(spec: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let mut labels_given = false;
        let mut grpc_port = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("{part:?} is not key=value")))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "name" => config.name = value.to_owned(),
                "model" => config.model = value.to_owned(),
                "addr" => {
                    config.addr = value
                        .parse()
                        .map_err(|_| ConfigError(format!("addr = {value:?} is not ip:port")))?;
                }
                "port" => config.addr.set_port(parse(key, value)?),
                "grpc-addr" => {
                    config.grpc_addr = Some(value.parse().map_err(|_| {
                        ConfigError(format!("grpc-addr = {value:?} is not ip:port"))
                    })?);
                }
                "grpc-port" => grpc_port = Some(parse::<u16>(key, value)?),
                "versions" => {
                    config.versions = value
                        .split('+')
                        .map(|v| parse(key, v.trim()))
                        .collect::<Result<_, _>>()?;
                }
                "labels" => {
                    labels_given = true;
                    config.labels = value
                        .split('+')
                        .filter(|l| !l.is_empty())
                        .map(|l| {
                            let (label, version) = l.split_once(':').ok_or_else(|| {
                                ConfigError(format!("labels entry {l:?} is not label:version"))
                            })?;
                            Ok((label.trim().to_owned(), parse(key, version.trim())?))
                        })
                        .collect::<Result<_, ConfigError>>()?;
                }
                "available" => config.available = parse(key, value)?,
                "base-ms" => config.timing.base_ms = parse(key, value)?,
                "per-element-us" => config.timing.per_element_us = parse(key, value)?,
                "jitter-ms" => config.timing.jitter_ms = parse(key, value)?,
                "concurrency-slowdown" => config.timing.concurrency_slowdown = parse(key, value)?,
                "error-rate" => config.fault.error_rate = parse(key, value)?,
                "error-status" => config.fault.error_status = parse(key, value)?,
                "stall-rate" => config.fault.stall_rate = parse(key, value)?,
                "drop-rate" => config.fault.drop_rate = parse(key, value)?,
                "slow-factor" => config.fault.slow_factor = parse(key, value)?,
                "extra-ms" => config.fault.extra_ms = parse(key, value)?,
                other => {
                    return Err(ConfigError(format!(
                        "unknown key {other:?} in executor spec"
                    )));
                }
            }
        }
        if let Some(port) = grpc_port {
            if config.grpc_addr.is_some() {
                return Err(ConfigError(
                    "grpc-addr and grpc-port are both given; use one".into(),
                ));
            }
            config.grpc_addr = Some(SocketAddr::new(config.addr.ip(), port));
        }
        if !labels_given {
            // Default label follows the versions: `stable` → the lowest version.
            let lowest = config.versions.iter().min().copied().unwrap_or(1);
            config.labels = BTreeMap::from([("stable".to_owned(), lowest)]);
        }
        config.validate()?;
        Ok(config)
    }

    /// The latest (highest) version.
    pub fn latest_version(&self) -> i64 {
        self.versions.iter().max().copied().unwrap_or(1)
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError(format!("{key} = {value:?} is not a valid value")))
}

fn non_negative(key: &str, x: f64) -> Result<(), ConfigError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError(format!("{key} = {x} must be finite and ≥ 0")))
    }
}

fn rate(key: &str, x: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(ConfigError(format!("{key} = {x} must be in [0, 1]")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_all_keys() {
        let c = SimConfig::parse_spec(
            "name=fast, model=m, port=0, versions=1+2, labels=stable:1+canary:2, base-ms=2, \
             per-element-us=10, jitter-ms=0.5, concurrency-slowdown=0.1, error-rate=0.1, \
             error-status=500, stall-rate=0.2, drop-rate=0.3, slow-factor=2, extra-ms=5, available=false",
        )
        .unwrap();
        assert_eq!(c.name, "fast");
        assert_eq!(c.grpc_addr, None);
        let g = SimConfig::parse_spec("addr=127.0.0.2:0,grpc-port=0").unwrap();
        assert_eq!(g.grpc_addr, Some("127.0.0.2:0".parse().unwrap()));
        let g = SimConfig::parse_spec("grpc-addr=127.0.0.1:8500").unwrap();
        assert_eq!(g.grpc_addr.unwrap().port(), 8500);
        assert_eq!(c.model, "m");
        assert_eq!(c.versions, vec![1, 2]);
        assert_eq!(c.labels["canary"], 2);
        assert_eq!(c.latest_version(), 2);
        assert!(!c.available);
        assert_eq!(c.timing.per_element_us, 10.0);
        assert_eq!(c.fault.error_status, 500);
        assert_eq!(c.fault.pick(0.1), Some(FaultKind::Drop));
        assert_eq!(c.fault.pick(0.4), Some(FaultKind::Stall));
        assert_eq!(c.fault.pick(0.55), Some(FaultKind::Error));
        assert_eq!(c.fault.pick(0.7), None);
    }

    #[test]
    fn spec_errors_name_the_bad_value() {
        let e = |s| SimConfig::parse_spec(s).unwrap_err().0;
        assert!(e("color=red").contains("color"));
        assert!(e("port=x").contains("port"));
        assert!(e("error-rate=1.5").contains("error-rate"));
        assert!(e("error-rate=0.6,drop-rate=0.6").contains("exceeds 1"));
        assert!(e("error-status=200").contains("error-status"));
        assert!(e("labels=stable:3").contains("stable"));
        assert!(e("base-ms=-1").contains("base-ms"));
        assert!(e("model=a/b").contains("model"));
        assert!(e("name").contains("key=value"));
        assert!(e("grpc-addr=x").contains("grpc-addr"));
        assert!(e("grpc-port=1,grpc-addr=127.0.0.1:2").contains("both"));
    }

    #[test]
    fn default_label_follows_versions() {
        let c = SimConfig::parse_spec("versions=3+4").unwrap();
        assert_eq!(c.labels["stable"], 3);
    }

    #[test]
    fn service_time_math() {
        let t = ServiceTime {
            base_ms: 2.0,
            per_element_us: 500.0,
            jitter_ms: 4.0,
            concurrency_slowdown: 0.5,
        };
        assert_eq!(t.millis(4, 1, 0.0), 4.0);
        assert_eq!(t.millis(4, 1, 0.5), 6.0);
        assert_eq!(t.millis(4, 3, 0.0), 8.0);
        assert_eq!(t.millis(0, 0, 0.0), 2.0);
    }

    #[test]
    fn json_config_uses_defaults() {
        let c: SimConfig =
            serde_json::from_str(r#"{"name": "x", "timing": {"base_ms": 3}}"#).unwrap();
        assert_eq!(c.timing.base_ms, 3.0);
        assert_eq!(c.model, "half_plus_two");
        assert!(serde_json::from_str::<SimConfig>(r#"{"nme": "x"}"#).is_err());
    }
}
