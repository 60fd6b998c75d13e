//! Model traits: what a model does and what it takes and gives, independent of its identity.

use serde::{Deserialize, Serialize};

use crate::ident::TraitValue;

/// The three hard traits of a model. A client's hard criteria are the same three values, and an
/// executor matches a client only when all three are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelTraits {
    /// What the model does, e.g. `classification`, `regression`, `object-detection`.
    pub model_type: TraitValue,
    /// What it takes, e.g. `image`, `text`, `audio`, `tabular`.
    pub input_format: TraitValue,
    /// What it gives, e.g. `label`, `number`, `text`.
    pub output_format: TraitValue,
}

/// Which of the three hard traits differ, in a fixed order (for error messages and receipts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraitMismatch {
    /// Model type differs.
    pub model_type: bool,
    /// Input format differs.
    pub input_format: bool,
    /// Output format differs.
    pub output_format: bool,
}

// === impl ModelTraits ===

impl ModelTraits {
    /// Parses and validates three trait values.
    pub fn parse(
        model_type: &str,
        input_format: &str,
        output_format: &str,
    ) -> Result<ModelTraits, crate::Error> {
        let field = |name: &'static str, v: &str| {
            TraitValue::parse(v).map_err(|e| crate::Error::invalid(name, v, e))
        };
        Ok(ModelTraits {
            model_type: field("model_type", model_type)?,
            input_format: field("input_format", input_format)?,
            output_format: field("output_format", output_format)?,
        })
    }

    /// Compares `self` (an executor's traits) against wanted traits (a client's hard criteria).
    pub fn mismatch(&self, wanted: &ModelTraits) -> TraitMismatch {
        TraitMismatch {
            model_type: self.model_type != wanted.model_type,
            input_format: self.input_format != wanted.input_format,
            output_format: self.output_format != wanted.output_format,
        }
    }

    /// Whether all three traits are equal.
    pub fn matches(&self, wanted: &ModelTraits) -> bool {
        self == wanted
    }
}

impl std::fmt::Display for ModelTraits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "type={} input={} output={}",
            self.model_type, self.input_format, self.output_format
        )
    }
}

// === impl TraitMismatch ===

impl TraitMismatch {
    /// Whether any trait differs.
    pub fn any(&self) -> bool {
        self.model_type || self.input_format || self.output_format
    }
}
