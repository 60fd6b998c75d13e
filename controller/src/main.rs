//! mulambda-controller (placeholder until its issue lands).
#![forbid(unsafe_code)]
fn main() {}
