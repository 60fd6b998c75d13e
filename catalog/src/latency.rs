//! Latency measurements: what a companion measured between its executor and one client.

use serde::{Deserialize, Serialize};

use crate::Error;

/// A smoothed round-trip measurement from an executor's companion to a client's proxy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyMeasurement {
    /// Smoothed round-trip time in milliseconds; `None` means the client was unreachable in the
    /// last round, which readers treat as "do not route here on this figure".
    pub latency_ms: Option<f64>,
    /// How many samples the figure is made of.
    pub samples: u32,
    /// When it was measured, in milliseconds since the Unix epoch by the store's clock.
    pub measured_at_ms: u64,
}

/// Upper bound for a believable round-trip time (one hour); anything larger is garbage.
const MAX_LATENCY_MS: f64 = 3_600_000.0;

// === impl LatencyMeasurement ===

impl LatencyMeasurement {
    /// A reachable measurement.
    pub fn reachable(latency_ms: f64, samples: u32, measured_at_ms: u64) -> LatencyMeasurement {
        LatencyMeasurement {
            latency_ms: Some(latency_ms),
            samples,
            measured_at_ms,
        }
    }

    /// An unreachable marker.
    pub fn unreachable(measured_at_ms: u64) -> LatencyMeasurement {
        LatencyMeasurement {
            latency_ms: None,
            samples: 0,
            measured_at_ms,
        }
    }

    /// Whether the client was reachable.
    pub fn is_reachable(&self) -> bool {
        self.latency_ms.is_some()
    }

    /// Checks the value is finite, non-negative and believable.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(ms) = self.latency_ms
            && (!(0.0..=MAX_LATENCY_MS).contains(&ms))
        {
            return Err(Error::invalid(
                "latency_ms",
                &ms.to_string(),
                "must be in [0, 3600000]",
            ));
        }
        Ok(())
    }
}
