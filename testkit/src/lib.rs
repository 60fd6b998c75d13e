//! Test harness (placeholder).
#![forbid(unsafe_code)]
