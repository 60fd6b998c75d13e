//! The catalog's error type for invalid values given by callers (configuration, annotations).

/// An invalid value for a named field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value was refused; the message names the field and the value.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The field (or option) name.
        field: &'static str,
        /// The refused value, cut to 64 characters.
        value: String,
        /// Why.
        reason: String,
    },
}

// === impl Error ===

impl Error {
    /// Builds an [`Error::Invalid`], shortening the shown value so a huge input stays readable.
    pub fn invalid(field: &'static str, value: &str, reason: impl std::fmt::Display) -> Error {
        let value: String = value.chars().take(64).collect();
        Error::Invalid {
            field,
            value,
            reason: reason.to_string(),
        }
    }
}
