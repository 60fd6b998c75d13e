//! Configuration of one simulated executor: identity, versions and labels, service time and
//! faults; parsed from a compact `key=value,…` spec (the CLI's `--executor`) or from JSON.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::profile::{Confidence, Profile};

/// An invalid simulator configuration; the message names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid simulator configuration: {0}")]
pub struct ConfigError(pub String);

/// How long a request takes to serve.
///
/// `time = (base_ms + per_element_us/1000 · elements + U(0, jitter_ms))
///         · (1 + concurrency_slowdown · k) + per_inflight_ms · k`,
/// then multiplied by the fault's `slow_factor` and increased by its `extra_ms`
/// (see [`Fault`]). `elements` counts the scalar input values of the request; `k` counts the
/// inference requests already being served by this executor when this one arrives. With
/// `concurrency_slowdown = 0` this is the original prototype's dummy model,
/// `D + n·α + k·β + U(0, J)` (see [`Profile`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceTime {
    /// Fixed part, milliseconds.
    pub base_ms: f64,
    /// Added per input element, microseconds.
    pub per_element_us: f64,
    /// Upper bound of a uniformly distributed extra delay, milliseconds.
    pub jitter_ms: f64,
    /// Added per request already in flight when this one arrives, milliseconds (the
    /// prototype's β, additive).
    pub per_inflight_ms: f64,
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
            per_inflight_ms: 0.0,
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
        non_negative("per-inflight-ms", self.per_inflight_ms)?;
        non_negative("concurrency-slowdown", self.concurrency_slowdown)
    }

    /// Service time in milliseconds for `elements` inputs, `in_flight` concurrent requests
    /// (this one included, so `k = in_flight − 1` were there before it) and a jitter draw `u`
    /// in [0, 1).
    pub fn millis(&self, elements: usize, in_flight: usize, u: f64) -> f64 {
        let before = in_flight.saturating_sub(1) as f64;
        let base =
            self.base_ms + self.per_element_us / 1000.0 * elements as f64 + self.jitter_ms * u;
        base * (1.0 + self.concurrency_slowdown * before) + self.per_inflight_ms * before
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
    /// Per-request confidence, reported in the `x-mulambda-confidence` response header (gRPC:
    /// response metadata) and in REST answers' `confidence` field; `None`: not reported.
    pub confidence: Option<Confidence>,
    /// Seed of the executor's random draws (faults, jitter, confidence); `None`: a random seed.
    pub seed: Option<u64>,
    /// A Unix socket on which the executor also serves its REST API, for control and in-flight
    /// queries that must not cross an emulated network link (a file path is reachable from
    /// every network namespace); `None`: none.
    pub control_socket: Option<PathBuf>,
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
            confidence: None,
            seed: None,
            control_socket: None,
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
        if let Some(c) = &self.confidence {
            c.validate()?;
        }
        self.fault.validate()
    }

    /// Applies a model profile: its service time (replacing the current one) and its
    /// confidence.
    pub fn apply_profile(&mut self, profile: &Profile) {
        self.timing = profile.timing();
        self.confidence = Some(profile.confidence());
    }

    /// Parses a spec such as
    /// `name=fast,model=half_plus_two,port=0,base-ms=1,jitter-ms=0.5,versions=1+2,labels=stable:1+canary:2`.
    ///
    /// Keys: `name`, `model`, `addr` (`ip:port`), `port`, `grpc-addr` (`ip:port`), `grpc-port`
    /// (on the REST address's IP; either one turns the gRPC listener on), `versions` (`+`-separated),
    /// `labels` (`label:version`, `+`-separated), `available`, `profile` (a reference model
    /// profile by name, see [`Profile::by_name`]; applied first, so other keys refine it),
    /// `base-ms`, `per-element-us`, `per-inflight-ms`, `jitter-ms`, `concurrency-slowdown`,
    /// `confidence` (`+`-separated levels), `confidence-gamma`, `seed`, `control-socket` (a
    /// path), `error-rate`, `error-status`, `stall-rate`, `drop-rate`, `slow-factor`,
    /// `extra-ms`. Unset keys keep their defaults.
    ///
    /// # Errors
    /// Names the unknown key or the bad value; validates the result.
    pub fn parse_spec(spec: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let mut labels_given = false;
        let mut grpc_port = None;
        let mut gamma = None;
        let mut pairs = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("{part:?} is not key=value")))?;
            pairs.push((key.trim(), value.trim()));
        }
        // A profile is the starting point wherever it is written: the other keys refine it.
        for (_, value) in pairs.iter().filter(|(k, _)| *k == "profile") {
            config.apply_profile(&Profile::by_name(value)?);
        }
        for (key, value) in pairs {
            match key {
                "profile" => {}
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
                "per-inflight-ms" => config.timing.per_inflight_ms = parse(key, value)?,
                "concurrency-slowdown" => config.timing.concurrency_slowdown = parse(key, value)?,
                "confidence" => {
                    let levels = Confidence::parse_levels(value)?.levels;
                    let gamma = config.confidence.as_ref().map_or(0.0, |c| c.gamma);
                    config.confidence = Some(Confidence { levels, gamma });
                }
                "confidence-gamma" => gamma = Some(parse::<f64>(key, value)?),
                "seed" => config.seed = Some(parse(key, value)?),
                "control-socket" => {
                    if value.is_empty() {
                        return Err(ConfigError("control-socket is empty".into()));
                    }
                    config.control_socket = Some(PathBuf::from(value));
                }
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
        if let Some(gamma) = gamma {
            match config.confidence.as_mut() {
                Some(c) => c.gamma = gamma,
                None => {
                    return Err(ConfigError(
                        "confidence-gamma needs confidence levels (confidence=… or profile=…)"
                            .into(),
                    ));
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
            per_inflight_ms: 0.0,
            concurrency_slowdown: 0.5,
        };
        assert_eq!(t.millis(4, 1, 0.0), 4.0);
        assert_eq!(t.millis(4, 1, 0.5), 6.0);
        assert_eq!(t.millis(4, 3, 0.0), 8.0);
        assert_eq!(t.millis(0, 0, 0.0), 2.0);
        // β is additive, beside the multiplicative slowdown: (4 · 2) + 3 · 2.
        let t = ServiceTime {
            per_inflight_ms: 3.0,
            ..t
        };
        assert_eq!(t.millis(4, 3, 0.0), 14.0);
        assert_eq!(t.millis(4, 1, 0.0), 4.0);
    }

    #[test]
    fn a_profile_in_a_spec_is_refined_by_the_other_keys() {
        let c = SimConfig::parse_spec("base-ms=5,profile=FastGood,seed=9").unwrap();
        assert_eq!(
            c.timing.base_ms, 5.0,
            "later keys refine the profile wherever it is"
        );
        assert!((c.timing.per_element_us - 4000.0).abs() < 1e-6);
        assert!((c.timing.per_inflight_ms - 700.0).abs() < 1e-9);
        assert_eq!(c.timing.jitter_ms, 5.0);
        let conf = c.confidence.unwrap();
        assert_eq!(
            (conf.levels.clone(), conf.gamma),
            (vec![0.9, 0.7, 0.5], 0.3)
        );
        assert_eq!(c.seed, Some(9));
        let c = SimConfig::parse_spec("profile=SlowGood,confidence-gamma=0").unwrap();
        assert_eq!(c.confidence.unwrap().gamma, 0.0);
        let c = SimConfig::parse_spec("confidence=0.5+0.25,confidence-gamma=1,per-inflight-ms=3")
            .unwrap();
        assert_eq!(c.confidence.unwrap().levels, vec![0.5, 0.25]);
        assert_eq!(c.timing.per_inflight_ms, 3.0);
        let c = SimConfig::parse_spec("control-socket=/tmp/x.sock").unwrap();
        assert_eq!(c.control_socket.unwrap(), PathBuf::from("/tmp/x.sock"));
        let e = |s| SimConfig::parse_spec(s).unwrap_err().0;
        assert!(e("profile=Turbo").contains("Turbo"));
        assert!(e("confidence-gamma=1").contains("needs confidence levels"));
        assert!(e("confidence=2").contains("[0, 1]"));
        assert!(e("per-inflight-ms=-1").contains("per-inflight-ms"));
        assert!(e("seed=x").contains("seed"));
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
