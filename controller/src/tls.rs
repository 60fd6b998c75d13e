//! The webhook's serving certificate, read from PEM files and swapped in when they change.
//!
//! cert-manager (or `gen-webhook-cert.sh`) writes the certificate into a Secret mounted as files;
//! the kubelet replaces the files atomically when the Secret changes. [`ReloadingCert`] is a
//! rustls [`ResolvesServerCert`] whose current [`CertifiedKey`] lives in an [`ArcSwap`]: each
//! new TLS handshake takes the current one without a lock; [`ReloadingCert::watch`] re-reads the
//! files every few seconds and swaps a new pair in when their *contents* changed (not their
//! mtime: two writes within a second keep it, and Secret volumes swap symlinks). A pair that
//! does not parse, or whose key does not match the certificate (a rotation caught half-way),
//! is refused and the previous one stays in service until the next check.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};
use tokio_util::sync::CancellationToken;

/// Why a certificate/key pair was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the pair (unsupported key, key does not match the certificate).
    #[error("certificate {cert} and key {key}: {source}")]
    Pair {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
}

/// A server certificate that follows its files.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// The file contents `current` was built from.
    loaded_from: Mutex<(Vec<u8>, Vec<u8>)>,
}

/// The crypto provider of every TLS endpoint of the controller: rustls with *ring*.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// === impl ReloadingCert ===

impl ReloadingCert {
    /// Loads the pair; fails (naming the file) when it is unusable.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ReloadingCert>, TlsError> {
        let provider = provider();
        let (cert_pem, key_pem) = read_pair(cert_path, key_path)?;
        let key = certified_key(cert_path, key_path, &cert_pem, &key_pem, &provider)?;
        Ok(Arc::new(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: ArcSwap::from_pointee(key),
            loaded_from: Mutex::new((cert_pem, key_pem)),
        }))
    }

    /// Re-reads the files; swaps in the new pair when they changed and are valid. `Ok(true)`
    /// when a new certificate is now served.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let (cert_pem, key_pem) = read_pair(&self.cert_path, &self.key_path)?;
        let mut loaded = self
            .loaded_from
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if loaded.0 == cert_pem && loaded.1 == key_pem {
            return Ok(false);
        }
        let key = certified_key(
            &self.cert_path,
            &self.key_path,
            &cert_pem,
            &key_pem,
            &self.provider,
        )?;
        self.current.store(Arc::new(key));
        *loaded = (cert_pem, key_pem);
        Ok(true)
    }

    /// Checks the files every `interval` until cancelled, logging swaps and refusals.
    pub async fn watch(self: Arc<Self>, interval: Duration, cancel: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let this = Arc::clone(&self);
            // File I/O off the async threads.
            let result = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
            match result {
                Ok(Ok(true)) => tracing::info!(
                    cert = %self.cert_path.display(),
                    "webhook certificate reloaded"
                ),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    "webhook certificate files changed but are not usable; serving the previous pair"
                ),
                Err(e) => tracing::warn!(error = %e, "certificate reload task failed"),
            }
        }
    }

    /// A rustls server configuration that serves this certificate, offering HTTP/2 and
    /// HTTP/1.1, TLS 1.2 and 1.3.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The DER of the certificate currently served (first of the chain).
    pub fn current_certificate(&self) -> Vec<u8> {
        self.current
            .load()
            .cert
            .first()
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((read(cert_path)?, read(key_path)?))
}

fn certified_key(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_path_buf(),
            reason: format!("not a PEM certificate chain: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_path_buf(),
            reason: "no CERTIFICATE in the file".to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_path_buf(),
        reason: format!("no usable PRIVATE KEY in the file: {e}"),
    })?;
    CertifiedKey::from_der(certs, key, provider).map_err(|source| TlsError::Pair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn reloads_only_changed_valid_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "one.test");
        let cert = ReloadingCert::load(&c, &k).unwrap();
        let first = cert.current_certificate();
        assert!(!cert.reload_if_changed().unwrap());

        // A key that does not match: refused, the old pair stays.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&k, other.serialize_pem()).unwrap();
        assert!(matches!(
            cert.reload_if_changed(),
            Err(TlsError::Pair { .. })
        ));
        assert_eq!(cert.current_certificate(), first);

        // Garbage: refused, naming the file.
        std::fs::write(&c, "garbage").unwrap();
        let e = cert.reload_if_changed().unwrap_err().to_string();
        assert!(e.contains("tls.crt"), "{e}");

        write_pair(dir.path(), "two.test");
        assert!(cert.reload_if_changed().unwrap());
        assert_ne!(cert.current_certificate(), first);
    }

    #[test]
    fn missing_files_are_named() {
        let e = ReloadingCert::load(Path::new("/nonexistent/tls.crt"), Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/tls.crt"), "{e}");
    }
}
