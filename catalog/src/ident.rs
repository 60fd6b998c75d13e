//! Validated identifiers: trait values (model type, formats), ids and model names.
//!
//! Traits are open-ended on purpose: a platform can add `object-detection` or `audio` without a
//! release of mulambda. What *is* fixed is their shape, so that `Image`, ` image ` and `image`
//! mean the same thing and a hostile store record cannot smuggle a 10 MB "format".

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    /// The string is empty after trimming.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than allowed.
    #[error("is {len} bytes long; at most {max} allowed")]
    TooLong {
        /// Actual length in bytes.
        len: usize,
        /// Maximum length in bytes.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("contains {found:?}; allowed: {allowed}")]
    BadChar {
        /// The offending character.
        found: char,
        /// The allowed set, in words.
        allowed: &'static str,
    },
    /// Must start with a letter or digit.
    #[error("must start with a letter or a digit")]
    BadStart,
}

/// A model trait value such as `classification`, `image` or `label`.
///
/// Normalised to lower case and trimmed; `[a-z0-9][a-z0-9._-]*`, at most 63 bytes (a DNS label,
/// so it also fits in Kubernetes labels and metric label values).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraitValue(Box<str>);

/// An id of an executor or a client, typically a pod name (`[A-Za-z0-9._:-]`, at most 253 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(Box<str>);

/// A TF Serving model name as it appears in REST paths (`[A-Za-z0-9._-]`, at most 128 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName(Box<str>);

const TRAIT_MAX: usize = 63;
const ID_MAX: usize = 253;
const MODEL_NAME_MAX: usize = 128;

fn check(
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdentError> {
    if s.is_empty() {
        return Err(IdentError::Empty);
    }
    if s.len() > max {
        return Err(IdentError::TooLong { len: s.len(), max });
    }
    if let Some(found) = s.chars().find(|c| !ok(*c)) {
        return Err(IdentError::BadChar { found, allowed });
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(IdentError::BadStart);
    }
    Ok(())
}

// === impl TraitValue ===

impl TraitValue {
    /// Normalises (trim, lower-case) and validates a trait value.
    pub fn parse(s: &str) -> Result<TraitValue, IdentError> {
        let s = s.trim();
        if s.len() > TRAIT_MAX {
            // Checked before lower-casing so a huge input costs nothing.
            return Err(IdentError::TooLong {
                len: s.len(),
                max: TRAIT_MAX,
            });
        }
        let lower = s.to_ascii_lowercase();
        check(&lower, TRAIT_MAX, "a-z 0-9 . _ -", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        })?;
        Ok(TraitValue(lower.into_boxed_str()))
    }

    /// The normalised value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// === impl Id ===

impl Id {
    /// Validates an id (not normalised: pod names are already canonical).
    pub fn parse(s: &str) -> Result<Id, IdentError> {
        check(s, ID_MAX, "A-Z a-z 0-9 . _ : -", |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
        })?;
        Ok(Id(s.into()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// === impl ModelName ===

impl ModelName {
    /// Validates a model name.
    pub fn parse(s: &str) -> Result<ModelName, IdentError> {
        check(s, MODEL_NAME_MAX, "A-Z a-z 0-9 . _ -", |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
        })?;
        Ok(ModelName(s.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_like {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $t {
            type Err = IdentError;
            fn from_str(s: &str) -> Result<Self, IdentError> {
                <$t>::parse(s)
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_like!(TraitValue);
string_like!(Id);
string_like!(ModelName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trait_values_are_normalised() {
        assert_eq!(TraitValue::parse(" Image ").unwrap().as_str(), "image");
        assert_eq!(
            TraitValue::parse("object-detection").unwrap().as_str(),
            "object-detection"
        );
    }

    #[test]
    fn trait_values_reject_bad_shapes() {
        assert_eq!(TraitValue::parse("  "), Err(IdentError::Empty));
        assert!(matches!(
            TraitValue::parse("a b"),
            Err(IdentError::BadChar { found: ' ', .. })
        ));
        assert_eq!(TraitValue::parse("-x"), Err(IdentError::BadStart));
        assert!(matches!(
            TraitValue::parse(&"x".repeat(64)),
            Err(IdentError::TooLong { len: 64, max: 63 })
        ));
        assert!(TraitValue::parse("bild/ä").is_err());
    }

    #[test]
    fn ids_and_model_names() {
        assert!(Id::parse("fast-7d9f8-abcde").is_ok());
        assert!(Id::parse("a/b").is_err());
        assert!(ModelName::parse("half_plus_two").is_ok());
        assert!(ModelName::parse("half plus").is_err());
        assert!(ModelName::parse(&"m".repeat(129)).is_err());
    }
}
