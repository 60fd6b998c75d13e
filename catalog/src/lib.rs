//! The shared vocabulary of mulambda and its store schema.
#![forbid(unsafe_code)]

pub mod names;
