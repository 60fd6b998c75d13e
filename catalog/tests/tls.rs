//! `rediss://` over rustls against a real TLS-serving redis-server, trusting a test CA.

mod common;

use std::time::Duration;

use common::*;
use mulambda_catalog::{Store, StoreConfig};
use mulambda_testkit::{RedisOptions, RedisServer, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let files = TlsFiles {
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
        ca: dir.path().join("ca.pem"),
    };
    std::fs::write(&files.cert, server.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca.pem()).unwrap();

    let redis = RedisServer::start_with(RedisOptions {
        password: Some("pw".into()),
        tls: Some(files.clone()),
    });
    assert!(redis.url().starts_with("rediss://"));

    let mut cfg = StoreConfig::new(redis.url());
    cfg.ca_file = Some(files.ca.clone());
    cfg.call_timeout = Duration::from_secs(3);
    let store = Store::new(cfg).unwrap();
    store
        .register_executor(&executor("tls-1", 0.5), Duration::from_secs(5), false)
        .await
        .unwrap();
    assert_eq!(store.read_executors().await.unwrap().executors.len(), 1);

    // Without the CA the server's certificate is not trusted.
    let mut cfg = StoreConfig::new(redis.url());
    cfg.call_timeout = Duration::from_secs(3);
    let untrusting = Store::new(cfg).unwrap();
    assert!(untrusting.ping().await.is_err());
}
