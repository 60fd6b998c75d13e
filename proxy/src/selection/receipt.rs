//! The decision receipt: plain numbers the selection computed anyway, and their compact header
//! form (`x-mulambda-reason`).
//!
//! Grammar of the header value (ABNF; every number is plain decimal):
//!
//! ```text
//! receipt   = "cand=" count "/" count ";rm=" removals [";tie=" count]
//!             [";lat=" ms "ms;score=" num "(l=" num ",a=" num [",c=" num] ")"
//!              ";age=" (ms "ms" / "none") [";obs=" ms "ms"]]
//! removals  = "none" / removal *("," removal)
//! removal   = filter ":" count          ; only filters that removed at least one executor
//! filter    = "type" / "in" / "out" / "model" / "notready" / "excluded" / "breaker"
//!             / "acc" / "lat" / "unreach"
//! ```
//!
//! `cand` is survivors / executors in the table; each removed executor is counted once, under the
//! first filter (in the order above) that removed it; `tie` is how many candidates were within
//! the near-tie margin when more than one was; `lat` the winner's expected latency; `score` its
//! score and the weighted latency and accuracy terms and the co-location bonus; `age` the age of
//! the probe figure used (`none`: the prior stood in); `obs` the age of the proxy's own
//! observation when it contributed.

use std::fmt::{self, Write};

use mulambda_catalog::ModelTraits;

/// The filters, in the order they are applied. Each removed executor is counted under the
/// first that removed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Hard: model type differs.
    ModelType,
    /// Hard: input format differs.
    InputFormat,
    /// Hard: output format differs.
    OutputFormat,
    /// Hard: not the pinned model name.
    Model,
    /// The executor is not ready.
    NotReady,
    /// Excluded by the caller (already tried).
    Excluded,
    /// The breaker is open (or a probation request is in flight).
    Breaker,
    /// Accuracy below the floor.
    AccuracyFloor,
    /// Expected latency above the ceiling.
    LatencyCeiling,
    /// The companion reported this client unreachable (fresh marker) while other candidates
    /// are reachable: a last resort only.
    Unreachable,
}

/// How many executors each filter removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Removed {
    /// Model type differs.
    pub model_type: u32,
    /// Input format differs.
    pub input_format: u32,
    /// Output format differs.
    pub output_format: u32,
    /// Not the pinned model.
    pub model: u32,
    /// Not ready.
    pub not_ready: u32,
    /// Excluded by the caller.
    pub excluded: u32,
    /// Breaker open.
    pub breaker: u32,
    /// Below the accuracy floor.
    pub accuracy_floor: u32,
    /// Above the latency ceiling.
    pub latency_ceiling: u32,
    /// Unreachable by probe, with reachable candidates left.
    pub unreachable: u32,
}

/// The winner's score and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ScoreTerms {
    /// Expected latency in ms (probe figure blended with own observations, before the in-flight
    /// penalty); what the latency ceiling applies to.
    pub expected_latency_ms: f64,
    /// Expected latency times the in-flight factor; what the latency term is computed from.
    pub cost_ms: f64,
    /// Latency term in (0, 1]: `ref / (ref + cost)`.
    pub latency_term: f64,
    /// Accuracy term in [0, 1]: the declared accuracy.
    pub accuracy_term: f64,
    /// Normalised latency weight (weights sum to 1).
    pub latency_weight: f64,
    /// Normalised accuracy weight.
    pub accuracy_weight: f64,
    /// Co-location bonus (same node, same zone, or 0).
    pub colocation: f64,
    /// `latency_weight × latency_term + accuracy_weight × accuracy_term + colocation`.
    pub score: f64,
}

/// Why an executor was chosen, in numbers. A plain `Copy` value: building it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Receipt {
    /// Executors in the table.
    pub total: u32,
    /// Executors that passed every filter.
    pub candidates: u32,
    /// What each filter removed.
    pub removed: Removed,
    /// Candidates within the near-tie margin of the best score (0 when not computed: a clear
    /// winner, or no candidate).
    pub near_tie: u32,
    /// The winner's score terms (`None` when nothing was chosen).
    pub winner: Option<ScoreTerms>,
    /// Age of the winner's probe figure in ms (`None`: no figure, the prior stood in).
    pub figure_age_ms: Option<u64>,
    /// Age of the winner's own observation in ms when it contributed to the expected latency.
    pub observed_age_ms: Option<u64>,
}

/// No executor passed the filters. `Display` names the criteria and what removed the executors.
/// A plain value (the wanted names are copied inline), so even this path allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoCandidate {
    /// The counts.
    pub receipt: Receipt,
    model_type: InlineStr<63>,
    input_format: InlineStr<63>,
    output_format: InlineStr<63>,
    pinned_model: Option<InlineStr<128>>,
    max_latency_ms: Option<f64>,
    min_accuracy: Option<f64>,
}

/// A short string stored inline (longer input is cut at a character boundary).
#[derive(Clone, Copy, PartialEq, Eq)]
struct InlineStr<const N: usize> {
    len: u8,
    buf: [u8; N],
}

// === impl Filter ===

impl Filter {
    /// Every filter, in order.
    pub const ALL: [Filter; 10] = [
        Filter::ModelType,
        Filter::InputFormat,
        Filter::OutputFormat,
        Filter::Model,
        Filter::NotReady,
        Filter::Excluded,
        Filter::Breaker,
        Filter::AccuracyFloor,
        Filter::LatencyCeiling,
        Filter::Unreachable,
    ];

    /// The short key used in the receipt header.
    pub fn key(self) -> &'static str {
        match self {
            Filter::ModelType => "type",
            Filter::InputFormat => "in",
            Filter::OutputFormat => "out",
            Filter::Model => "model",
            Filter::NotReady => "notready",
            Filter::Excluded => "excluded",
            Filter::Breaker => "breaker",
            Filter::AccuracyFloor => "acc",
            Filter::LatencyCeiling => "lat",
            Filter::Unreachable => "unreach",
        }
    }

    /// Words for error messages ("3 differ in model_type").
    pub fn describe(self) -> &'static str {
        match self {
            Filter::ModelType => "differ in model_type",
            Filter::InputFormat => "differ in input_format",
            Filter::OutputFormat => "differ in output_format",
            Filter::Model => "are another model",
            Filter::NotReady => "not ready",
            Filter::Excluded => "already tried",
            Filter::Breaker => "breaker open",
            Filter::AccuracyFloor => "below the accuracy floor",
            Filter::LatencyCeiling => "above the latency ceiling",
            Filter::Unreachable => "unreachable by probe",
        }
    }
}

// === impl Removed ===

impl Removed {
    /// The count for one filter.
    pub fn get(&self, f: Filter) -> u32 {
        match f {
            Filter::ModelType => self.model_type,
            Filter::InputFormat => self.input_format,
            Filter::OutputFormat => self.output_format,
            Filter::Model => self.model,
            Filter::NotReady => self.not_ready,
            Filter::Excluded => self.excluded,
            Filter::Breaker => self.breaker,
            Filter::AccuracyFloor => self.accuracy_floor,
            Filter::LatencyCeiling => self.latency_ceiling,
            Filter::Unreachable => self.unreachable,
        }
    }

    /// Counts one more removal by `f`.
    pub fn add(&mut self, f: Filter) {
        let c = match f {
            Filter::ModelType => &mut self.model_type,
            Filter::InputFormat => &mut self.input_format,
            Filter::OutputFormat => &mut self.output_format,
            Filter::Model => &mut self.model,
            Filter::NotReady => &mut self.not_ready,
            Filter::Excluded => &mut self.excluded,
            Filter::Breaker => &mut self.breaker,
            Filter::AccuracyFloor => &mut self.accuracy_floor,
            Filter::LatencyCeiling => &mut self.latency_ceiling,
            Filter::Unreachable => &mut self.unreachable,
        };
        *c = c.saturating_add(1);
    }

    /// Sum over all filters.
    pub fn total(&self) -> u32 {
        Filter::ALL.iter().map(|f| self.get(*f)).sum()
    }
}

// === impl Receipt ===

impl Receipt {
    /// Writes the compact `x-mulambda-reason` value (grammar in the module docs). Allocates
    /// nothing beyond what `buf` does.
    pub fn write_header(&self, buf: &mut impl Write) -> fmt::Result {
        write!(buf, "cand={}/{};rm=", self.candidates, self.total)?;
        let mut first = true;
        for f in Filter::ALL {
            let n = self.removed.get(f);
            if n > 0 {
                if !first {
                    buf.write_char(',')?;
                }
                first = false;
                write!(buf, "{}:{}", f.key(), n)?;
            }
        }
        if first {
            buf.write_str("none")?;
        }
        if self.near_tie > 1 {
            write!(buf, ";tie={}", self.near_tie)?;
        }
        if let Some(w) = &self.winner {
            write!(
                buf,
                ";lat={}ms;score={}(l={},a={}",
                Num(w.expected_latency_ms),
                Num(w.score),
                Num(w.latency_weight * w.latency_term),
                Num(w.accuracy_weight * w.accuracy_term),
            )?;
            if w.colocation > 0.0 {
                write!(buf, ",c={}", Num(w.colocation))?;
            }
            buf.write_char(')')?;
            match self.figure_age_ms {
                Some(a) => write!(buf, ";age={a}ms")?,
                None => buf.write_str(";age=none")?,
            }
            if let Some(a) = self.observed_age_ms {
                write!(buf, ";obs={a}ms")?;
            }
        }
        Ok(())
    }
}

/// A finite number with at most 3 decimals and no trailing zeros (NaN/inf written as 0).
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        // Round to 3 decimals and print as integer parts, to avoid "0.300" and "-0".
        let scaled = (v * 1000.0).round();
        if scaled.abs() >= 1e15 {
            return write!(f, "{}", v.round());
        }
        let scaled = scaled as i64;
        let (sign, abs) = if scaled < 0 {
            ("-", scaled.unsigned_abs())
        } else {
            ("", scaled.unsigned_abs())
        };
        let int = abs / 1000;
        let mut frac = abs % 1000;
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let mut digits = 3;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{sign}{int}.{frac:0digits$}")
    }
}

// === impl NoCandidate ===

impl NoCandidate {
    /// Builds the error from the receipt and the request's criteria.
    pub(crate) fn new(
        receipt: Receipt,
        hard: &ModelTraits,
        pinned_model: Option<&str>,
        max_latency_ms: Option<f64>,
        min_accuracy: Option<f64>,
    ) -> NoCandidate {
        NoCandidate {
            receipt,
            model_type: InlineStr::new(hard.model_type.as_str()),
            input_format: InlineStr::new(hard.input_format.as_str()),
            output_format: InlineStr::new(hard.output_format.as_str()),
            pinned_model: pinned_model.map(InlineStr::new),
            max_latency_ms,
            min_accuracy,
        }
    }
}

impl fmt::Display for NoCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no executor matches model_type={} input_format={} output_format={}",
            self.model_type.as_str(),
            self.input_format.as_str(),
            self.output_format.as_str()
        )?;
        if let Some(m) = &self.pinned_model {
            write!(f, " model={}", m.as_str())?;
        }
        if let Some(l) = self.max_latency_ms {
            write!(f, " max_latency_ms={}", Num(l))?;
        }
        if let Some(a) = self.min_accuracy {
            write!(f, " min_accuracy={}", Num(a))?;
        }
        let r = &self.receipt;
        if r.total == 0 {
            return f.write_str(" (no executors in the catalog)");
        }
        let noun = if r.total == 1 {
            "executor"
        } else {
            "executors"
        };
        write!(f, " ({} {noun}", r.total)?;
        let mut sep = ": ";
        for flt in Filter::ALL {
            let n = r.removed.get(flt);
            if n > 0 {
                write!(f, "{sep}{n} {}", flt.describe())?;
                sep = ", ";
            }
        }
        f.write_char(')')
    }
}

impl std::error::Error for NoCandidate {}

// === impl InlineStr ===

impl<const N: usize> InlineStr<N> {
    fn new(s: &str) -> InlineStr<N> {
        let mut end = s.len().min(N).min(u8::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; N];
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        InlineStr {
            len: end as u8,
            buf,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        let s = |v: f64| Num(v).to_string();
        assert_eq!(s(3.1), "3.1");
        assert_eq!(s(0.3), "0.3");
        assert_eq!(s(2.0), "2");
        assert_eq!(s(0.0125), "0.013");
        assert_eq!(s(-0.0001), "0");
        assert_eq!(s(f64::NAN), "0");
        assert_eq!(s(1234.5678), "1234.568");
    }

    #[test]
    fn header_grammar() {
        let mut r = Receipt {
            total: 5,
            candidates: 2,
            ..Receipt::default()
        };
        r.removed.model_type = 1;
        r.removed.output_format = 1;
        r.removed.not_ready = 1;
        r.winner = Some(ScoreTerms {
            expected_latency_ms: 3.1,
            cost_ms: 3.1,
            latency_term: 0.62,
            accuracy_term: 1.02,
            latency_weight: 0.5,
            accuracy_weight: 0.5,
            colocation: 0.0,
            score: 0.82,
        });
        r.figure_age_ms = Some(420);
        let mut s = String::new();
        r.write_header(&mut s).unwrap();
        assert_eq!(
            s,
            "cand=2/5;rm=type:1,out:1,notready:1;lat=3.1ms;score=0.82(l=0.31,a=0.51);age=420ms"
        );
        let mut s = String::new();
        Receipt::default().write_header(&mut s).unwrap();
        assert_eq!(s, "cand=0/0;rm=none");
    }

    #[test]
    fn no_candidate_names_criteria() {
        let hard = ModelTraits::parse("classification", "image", "label").unwrap();
        let mut r = Receipt {
            total: 5,
            ..Receipt::default()
        };
        r.removed.model_type = 3;
        r.removed.not_ready = 2;
        let e = NoCandidate::new(r, &hard, None, None, None);
        assert_eq!(
            e.to_string(),
            "no executor matches model_type=classification input_format=image \
             output_format=label (5 executors: 3 differ in model_type, 2 not ready)"
        );
        let e = NoCandidate::new(Receipt::default(), &hard, Some("résumé"), Some(5.0), None);
        assert!(
            e.to_string()
                .contains("model=résumé max_latency_ms=5 (no executors")
        );
    }

    #[test]
    fn inline_str_cuts_at_char_boundary() {
        let s: InlineStr<3> = InlineStr::new("aé");
        assert_eq!(s.as_str(), "aé");
        let s: InlineStr<2> = InlineStr::new("aé");
        assert_eq!(s.as_str(), "a");
    }
}
