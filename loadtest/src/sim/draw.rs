//! The random draws of one executor: the fault, the jitter and the confidence of every inference
//! request, reproducible under a seed.
//!
//! Request number `i` (counted per executor from 0, in arrival order) takes the SplitMix64
//! outputs `3i + 1 … 3i + 3` of the executor's seed: a counter-based generator, so there is no
//! shared generator state to lock, and the same seed gives the same draws for the same sequence
//! of requests (sequential requests are fully reproducible; concurrent ones get the same set of
//! draws, assigned in their arrival order).

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Draws per request.
const PER_REQUEST: u64 = 3;

/// The draws of one request, each uniform in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestDraws {
    /// Picks the injected fault, if any.
    pub fault: f64,
    /// Scales the service time's jitter.
    pub jitter: f64,
    /// Picks the confidence level.
    pub confidence: f64,
}

/// The per-executor generator.
#[derive(Debug)]
pub struct Draws {
    seed: u64,
    next: AtomicU64,
}

// === impl Draws ===

impl Draws {
    /// A generator with this seed, at request 0.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The draws of the next request.
    pub fn next(&self) -> RequestDraws {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.at(i)
    }

    /// The draws of request `i`.
    pub fn at(&self, i: u64) -> RequestDraws {
        let base = i.wrapping_mul(PER_REQUEST);
        let u = |j: u64| {
            unit(mix(self
                .seed
                .wrapping_add(base.wrapping_add(j).wrapping_mul(GOLDEN))))
        };
        RequestDraws {
            fault: u(1),
            jitter: u(2),
            confidence: u(3),
        }
    }
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 53 bits as a float in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let (a, b) = (Draws::new(7), Draws::new(7));
        for _ in 0..100 {
            assert_eq!(a.next(), b.next());
        }
        assert_ne!(Draws::new(7).at(0), Draws::new(8).at(0));
        assert_eq!(Draws::new(7).at(5), {
            let d = Draws::new(7);
            (0..5).for_each(|_| {
                d.next();
            });
            d.next()
        });
    }

    #[test]
    fn draws_are_uniform_in_the_unit_interval() {
        // Seeded and statistical with generous bounds: 10 bins of 30,000 draws, each ≈ 3,000.
        let d = Draws::new(1);
        let mut bins = [0u32; 10];
        for _ in 0..10_000 {
            let r = d.next();
            for u in [r.fault, r.jitter, r.confidence] {
                assert!((0.0..1.0).contains(&u));
                bins[(u * 10.0) as usize] += 1;
            }
        }
        for b in bins {
            assert!((2_700..3_300).contains(&b), "{bins:?}");
        }
    }
}
