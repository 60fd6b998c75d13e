//! Shared by the namespace tests.
#![allow(dead_code)]

pub mod clients;
pub mod lab;
pub mod proxy;
