//! The ranking input: one immutable table per snapshot, built off the hot path.
//!
//! Everything that does not change between two snapshots is computed here once: trait values and
//! model names are interned to small integers (a hard-criteria check is then one integer
//! compare), the probe figure of every executor is resolved (staleness decay, prior, unreachable
//! penalty), co-location bonuses and ramp deadlines are fixed, and a latency scale is chosen per
//! group of executors with equal traits.

use std::sync::Arc;
use std::time::Instant;

use mulambda_catalog::{ClientView, Executor, Id, ModelName, ModelTraits, TraitValue};

use super::estimate::{self, ScoreConfig};
use super::health::{ExecutorHealth, HealthConfig, HealthRegistry, decay, nanos_since};

/// Where the client (this proxy's pod) runs, for co-location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPlacement {
    /// Kubernetes node, when known.
    pub node: Option<Id>,
    /// Zone, when known.
    pub zone: Option<Id>,
}

/// Where an executor's probe figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSource {
    /// A fresh measurement.
    Measured,
    /// A measurement older than the stale age, decayed toward the prior.
    Stale,
    /// The companion could not reach this client: the unreachable penalty stands in (decayed
    /// toward the prior once the marker itself is stale).
    Unreachable,
    /// No measurement: the prior stands in.
    Prior,
}

/// Immutable per-executor data the selection reads.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Interned traits: `type | input << 16 | output << 32`.
    pub traits_key: u64,
    /// Interned model name.
    pub model: u32,
    /// Index into [`Table::groups`].
    pub group: u32,
    pub ready: bool,
    pub accuracy: f64,
    /// Probe-side latency figure in ms (resolved at build).
    pub probe_ms: f64,
    /// Age of the probe figure at build time, ms (`None`: prior).
    pub probe_age_ms: Option<u64>,
    pub probe_source: ProbeSource,
    /// A fresh "unreachable" marker: chosen only when no other candidate is left.
    pub last_resort: bool,
    pub colocation: f64,
    pub same_node: bool,
    pub same_zone: bool,
    /// First seen (ns since the health epoch) and end of the ramp.
    pub first_seen_ns: u64,
    pub ramp_end_ns: u64,
}

/// A group of executors with the same traits and its latency scale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub traits_key: u64,
    /// Latency scale `ref` of the latency term `ref / (ref + cost)`, ms.
    pub ref_ms: f64,
}

/// The immutable ranking input for one snapshot.
#[derive(Debug)]
pub struct Table {
    pub(crate) entries: Vec<Entry>,
    executors: Vec<Executor>,
    health: Vec<Arc<ExecutorHealth>>,
    types: Vec<TraitValue>,
    inputs: Vec<TraitValue>,
    outputs: Vec<TraitValue>,
    models: Vec<ModelName>,
    pub(crate) groups: Vec<Group>,
    pub(crate) score_cfg: ScoreConfig,
    pub(crate) health_cfg: HealthConfig,
    pub(crate) epoch: Instant,
    pub(crate) built_at_ns: u64,
    server_time_ms: u64,
    generation: u64,
    prior_ms: f64,
}

/// An interned id that matches nothing.
pub(crate) const NONE: u64 = 0xFFFF;

fn intern<T: Ord + Clone>(dict: &[T], v: &T) -> u64 {
    dict.binary_search(v).map_or(NONE, |i| i as u64)
}

fn dict<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = items.collect();
    v.sort();
    v.dedup();
    v
}

fn finite_or(v: f64, default: f64) -> f64 {
    if v.is_finite() { v } else { default }
}

// === impl Table ===

impl Table {
    /// A table with no executors (before the first snapshot, or in tests).
    pub fn empty(health: &HealthRegistry, cfg: &ScoreConfig, now: Instant) -> Table {
        Table::build(
            &ClientView::default(),
            &ClientPlacement::default(),
            health,
            cfg,
            now,
        )
    }

    /// Builds the table from a client view. Executors seen for the first time by `health` are
    /// ramped in, except on the very first build (an empty registry): those are not new to the
    /// platform, only to this proxy.
    pub fn build(
        view: &ClientView,
        client: &ClientPlacement,
        health: &HealthRegistry,
        cfg: &ScoreConfig,
        now: Instant,
    ) -> Table {
        let first_build = health.is_empty();
        let hcfg = *health.config();
        let epoch = health.epoch();
        let now_ns = nanos_since(epoch, now);

        let mut executors: Vec<Executor> = view.executors.iter().map(|l| l.value.clone()).collect();
        executors.sort_by(|a, b| a.id.cmp(&b.id));
        executors.dedup_by(|a, b| a.id == b.id);

        let types = dict(executors.iter().map(|e| e.traits.model_type.clone()));
        let inputs = dict(executors.iter().map(|e| e.traits.input_format.clone()));
        let outputs = dict(executors.iter().map(|e| e.traits.output_format.clone()));
        let models = dict(executors.iter().map(|e| e.model_name.clone()));

        // The prior: the median of the fresh reachable figures, else the configured default.
        let stale_ms = cfg.probe_stale_after.as_secs_f64() * 1000.0;
        let age_of = |at: u64| view.server_time_ms.saturating_sub(at);
        let mut fresh: Vec<f64> = executors
            .iter()
            .filter_map(|e| view.latencies.get(&e.id))
            .filter(|m| (age_of(m.measured_at_ms) as f64) <= stale_ms)
            .filter_map(|m| m.latency_ms)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        fresh.sort_by(f64::total_cmp);
        let prior_ms = match fresh.len() {
            0 => cfg.prior_latency.as_secs_f64() * 1000.0,
            n if n % 2 == 1 => fresh[n / 2],
            n => (fresh[n / 2 - 1] + fresh[n / 2]) / 2.0,
        };
        let unreachable_ms = cfg.unreachable_penalty.as_secs_f64() * 1000.0;
        let probe_half_life_ns = u64::try_from(cfg.probe_half_life.as_nanos()).unwrap_or(u64::MAX);
        let ramp_ns = u64::try_from(hcfg.ramp_up.as_nanos()).unwrap_or(u64::MAX);

        let mut entries = Vec::with_capacity(executors.len());
        let mut healths = Vec::with_capacity(executors.len());
        for e in &executors {
            let h = health.get_or_insert_with_ramp(&e.id, now, !first_build);
            let key = intern(&types, &e.traits.model_type)
                | intern(&inputs, &e.traits.input_format) << 16
                | intern(&outputs, &e.traits.output_format) << 32;
            let (probe_ms, probe_age_ms, probe_source) = match view.latencies.get(&e.id) {
                None => (prior_ms, None, ProbeSource::Prior),
                Some(m) => {
                    let age = age_of(m.measured_at_ms);
                    let (raw, source) = match m.latency_ms {
                        Some(v) if v.is_finite() && v >= 0.0 => (v, ProbeSource::Measured),
                        Some(_) => (prior_ms, ProbeSource::Prior),
                        None => (unreachable_ms, ProbeSource::Unreachable),
                    };
                    let over = (age as f64 - stale_ms).max(0.0);
                    if over > 0.0 {
                        let w = decay((over * 1e6) as u64, probe_half_life_ns);
                        let source = match source {
                            ProbeSource::Measured => ProbeSource::Stale,
                            s => s,
                        };
                        (w * raw + (1.0 - w) * prior_ms, Some(age), source)
                    } else {
                        (raw, Some(age), source)
                    }
                }
            };
            let same_node = client.node.is_some() && client.node == e.node;
            let same_zone = client.zone.is_some() && client.zone == e.zone;
            let colocation = if same_node {
                cfg.same_node_bonus
            } else if same_zone {
                cfg.same_zone_bonus
            } else {
                0.0
            };
            let first_seen_ns = h.first_seen_ns();
            let last_resort = probe_source == ProbeSource::Unreachable
                && probe_age_ms.is_some_and(|a| a as f64 <= stale_ms);
            entries.push(Entry {
                traits_key: key,
                model: intern(&models, &e.model_name) as u32,
                group: 0,
                ready: e.ready,
                accuracy: finite_or(e.accuracy, 0.0).clamp(0.0, 1.0),
                probe_ms: finite_or(probe_ms, prior_ms).max(0.0),
                probe_age_ms,
                probe_source,
                last_resort,
                colocation: finite_or(colocation, 0.0).max(0.0),
                same_node,
                same_zone,
                first_seen_ns,
                ramp_end_ns: first_seen_ns.saturating_add(ramp_ns),
            });
            healths.push(h);
        }

        // Latency scale per group of equal traits: the lowest expected latency among its ready
        // executors now (never below `min_latency_ref`), else the prior.
        let obs_decay = estimate::ObsDecay::new(&hcfg);
        let min_ref = (cfg.min_latency_ref.as_secs_f64() * 1000.0).max(1e-6);
        let mut groups: Vec<Group> = Vec::new();
        let mut keys: Vec<u64> = entries.iter().map(|e| e.traits_key).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            let best = entries
                .iter()
                .zip(&healths)
                .filter(|(e, _)| e.traits_key == k && e.ready)
                .map(|(e, h)| estimate::expected_latency(e.probe_ms, h, now_ns, obs_decay).0)
                .fold(f64::INFINITY, f64::min);
            let ref_ms = if best.is_finite() { best } else { prior_ms };
            groups.push(Group {
                traits_key: k,
                ref_ms: ref_ms.max(min_ref),
            });
        }
        for e in &mut entries {
            e.group = groups
                .binary_search_by_key(&e.traits_key, |g| g.traits_key)
                .unwrap_or(0) as u32;
        }

        Table {
            entries,
            executors,
            health: healths,
            types,
            inputs,
            outputs,
            models,
            groups,
            score_cfg: *cfg,
            health_cfg: hcfg,
            epoch,
            built_at_ns: now_ns,
            server_time_ms: view.server_time_ms,
            generation: view.generation,
            prior_ms,
        }
    }

    /// Number of executors.
    pub fn len(&self) -> usize {
        self.executors.len()
    }

    /// Whether the table has no executor.
    pub fn is_empty(&self) -> bool {
        self.executors.is_empty()
    }

    /// The executor at `i` (panics when out of range, like slice indexing).
    pub fn executor(&self, i: usize) -> &Executor {
        &self.executors[i]
    }

    /// The health record of the executor at `i`.
    pub fn health(&self, i: usize) -> &Arc<ExecutorHealth> {
        &self.health[i]
    }

    /// The index of the executor with id `id`.
    pub fn position(&self, id: &Id) -> Option<usize> {
        self.executors.binary_search_by(|e| e.id.cmp(id)).ok()
    }

    /// All executors, in table order (sorted by id).
    pub fn executors(&self) -> &[Executor] {
        &self.executors
    }

    /// The store's clock when the view was read (ms since the epoch).
    pub fn server_time_ms(&self) -> u64 {
        self.server_time_ms
    }

    /// The registration generation of the view.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The latency prior (ms) for executors without a figure.
    pub fn prior_ms(&self) -> f64 {
        self.prior_ms
    }

    /// The scoring configuration the table was built with.
    pub fn score_config(&self) -> &ScoreConfig {
        &self.score_cfg
    }

    /// Interned key of wanted traits (matches nothing when a value is unknown to the table).
    pub(crate) fn traits_key(&self, t: &ModelTraits) -> u64 {
        intern(&self.types, &t.model_type)
            | intern(&self.inputs, &t.input_format) << 16
            | intern(&self.outputs, &t.output_format) << 32
    }

    /// Interned id of a model name ([`NONE`] when unknown).
    pub(crate) fn model_id(&self, name: &str) -> u32 {
        self.models
            .binary_search_by(|m| m.as_str().cmp(name))
            .map_or(NONE as u32, |i| i as u32)
    }

    /// Latency scale for a traits key.
    pub(crate) fn ref_ms(&self, key: u64) -> f64 {
        self.groups
            .binary_search_by_key(&key, |g| g.traits_key)
            .map_or(self.prior_ms, |i| self.groups[i].ref_ms)
    }
}
