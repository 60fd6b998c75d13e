//! Fixtures shared by the catalog's integration tests.
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use mulambda_catalog::{
    Client, Criteria, Endpoint, Executor, Id, ModelName, ModelTraits, SoftCriteria, Store,
    StoreConfig,
};

pub fn store(url: &str) -> Store {
    let mut cfg = StoreConfig::new(url);
    cfg.call_timeout = Duration::from_secs(2);
    Store::new(cfg).expect("valid store config")
}

pub fn traits() -> ModelTraits {
    ModelTraits::parse("classification", "image", "label").unwrap()
}

pub fn executor(id: &str, accuracy: f64) -> Executor {
    Executor {
        id: Id::parse(id).unwrap(),
        model_name: ModelName::parse("half_plus_two").unwrap(),
        model_version: Some(1),
        traits: traits(),
        accuracy,
        rest_endpoint: Endpoint::parse("127.0.0.1:8501").unwrap(),
        grpc_endpoint: None,
        node: Some(Id::parse("node-a").unwrap()),
        zone: None,
        ready: true,
        signature: None,
    }
}

pub fn client(id: &str) -> Client {
    Client {
        id: Id::parse(id).unwrap(),
        probe_addr: Endpoint::parse("127.0.0.1:9901").unwrap(),
        criteria: Criteria {
            hard: traits(),
            soft: SoftCriteria::default(),
        },
        node: None,
        zone: None,
    }
}

pub fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

/// Polls `check` every 20 ms until it returns true or `within` passes.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
