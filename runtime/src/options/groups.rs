//! Option groups every binary that needs them flattens into its command line
//! (`#[command(flatten)]`), so each flag, its variable, default and check is written once.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use mulambda_catalog::names::env;
use mulambda_catalog::schema::DEFAULT_PREFIX;
use mulambda_catalog::{Id, ModelTraits, StoreConfig, TraitValue};

use super::parse::{self, Blankable};

/// Where the metadata store is.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Metadata store URL: redis://[user:pass@]host:port[/db] or rediss://… (TLS).
    #[arg(long, env = env::STORE_URL, value_name = "URL", hide_env_values = true,
          value_parser = parse::store_url)]
    pub store_url: Option<String>,

    /// Key prefix (namespace) in the store.
    #[arg(long, env = env::STORE_PREFIX, default_value = DEFAULT_PREFIX, value_name = "PREFIX",
          value_parser = parse::store_prefix)]
    pub store_prefix: String,
}

/// How a process that holds a registration talks to the store.
#[derive(Debug, Clone, Copy, Args)]
pub struct LeaseArgs {
    /// Deadline of one store call.
    #[arg(long, env = env::STORE_TIMEOUT, default_value = "1s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    pub store_timeout: Duration,

    /// Lease heartbeat of the registration; the lease lasts three heartbeats.
    #[arg(long, env = env::HEARTBEAT, default_value = "2s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    pub heartbeat: Duration,
}

/// Where this pod runs (Kubernetes downward API); blank values mean unknown.
#[derive(Debug, Clone, Args)]
pub struct PodArgs {
    /// Pod name (downward API `metadata.name`); the default id in the catalog.
    #[arg(long, env = env::POD_NAME, value_name = "NAME", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::id))]
    pub pod_name: Blankable<Id>,

    /// Pod IP (downward API `status.podIP`); the default host of the address others reach
    /// this pod at.
    #[arg(long, env = env::POD_IP, value_name = "IP", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(pod_ip))]
    pub pod_ip: Blankable<IpAddr>,

    /// Kubernetes node name (downward API `spec.nodeName`); empty = unknown.
    #[arg(long, env = env::NODE, value_name = "NODE", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::id))]
    pub node: Blankable<Id>,

    /// Zone of the node; empty = unknown.
    #[arg(long, env = env::ZONE, value_name = "ZONE", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::id))]
    pub zone: Blankable<Id>,
}

/// The three model traits: a proxy's hard criteria, a companion's declared model.
#[derive(Debug, Clone, Args)]
pub struct TraitArgs {
    /// Model type, e.g. `classification` (a proxy's hard criterion; a companion's trait).
    #[arg(long, env = env::MODEL_TYPE, value_name = "TRAIT", value_parser = trait_value)]
    pub model_type: TraitValue,

    /// Input format, e.g. `image`.
    #[arg(long, env = env::INPUT_FORMAT, value_name = "TRAIT", value_parser = trait_value)]
    pub input_format: TraitValue,

    /// Output format, e.g. `label`.
    #[arg(long, env = env::OUTPUT_FORMAT, value_name = "TRAIT", value_parser = trait_value)]
    pub output_format: TraitValue,
}

/// What the process logs.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `mulambda_proxy=debug`.
    #[arg(long, env = env::LOG, default_value = "info", value_name = "FILTER",
          value_parser = parse::log_filter)]
    pub log: String,
}

fn pod_ip(text: &str) -> Result<IpAddr, String> {
    text.parse().map_err(|_| "not an IP address".to_string())
}

fn trait_value(text: &str) -> Result<TraitValue, String> {
    TraitValue::parse(text).map_err(|e| e.to_string())
}

// === impl StoreArgs ===

impl StoreArgs {
    /// The store URL, required by processes that connect (the controller only passes it on).
    pub fn required_url(&self) -> Result<String, super::OptionError> {
        self.store_url
            .clone()
            .ok_or_else(|| super::OptionError::of::<StoreArgs>("store-url", "", "required"))
    }

    /// The store client's configuration.
    pub fn config(&self, url: String, lease: &LeaseArgs) -> StoreConfig {
        let mut c = StoreConfig::new(url).with_prefix(self.store_prefix.clone());
        c.call_timeout = lease.store_timeout;
        c
    }
}

// === impl TraitArgs ===

impl TraitArgs {
    /// The traits.
    pub fn traits(&self) -> ModelTraits {
        ModelTraits {
            model_type: self.model_type.clone(),
            input_format: self.input_format.clone(),
            output_format: self.output_format.clone(),
        }
    }
}
