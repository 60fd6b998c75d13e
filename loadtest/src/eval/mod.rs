//! The evaluation's definitions, shared by every selector and report: the utility of a
//! request ([`utility`]), the oracle that maximises it ([`oracle`]), the original prototype's
//! weighted selector ([`prototype`]) and the oracle's source of live in-flight counts
//! ([`inflight`]). See docs/evaluation.md.
//!
//! Everything here but [`inflight`] is pure: no I/O, no clock, no randomness.

pub mod inflight;
pub mod oracle;
pub mod prototype;
pub mod utility;

pub use oracle::{OracleCandidate, OracleChoice, choose as oracle_choose};
pub use prototype::{
    LATENCY_BUCKETS_MS, PrototypeObservations, WeightedCandidate, normalise_latency,
    weighted_select, weighted_terms,
};
pub use utility::{
    ENV_PHASES, Normalisation, ScenarioPath, UseCase, UtilityError, Weights, network_rtt_ms,
    regret, utility,
};
