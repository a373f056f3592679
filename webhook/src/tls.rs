//! The server certificate, re-read when its files change (cert-manager and similar tools
//! rotate them in place): each TLS handshake compares the files' identity and modification
//! time with those last loaded; a changed pair that does not load keeps the previous one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::rustls::crypto::ring::{default_provider, sign};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// What identifies a version of the two files: (inode, size, modification time) of each.
type Stamp = [(u64, u64, Option<SystemTime>); 2];

/// A certificate and key read from files, reloaded when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    /// Loads the pair; fails if it does not load now.
    pub fn new(cert: &Path, key: &Path) -> Result<ReloadingCert, String> {
        let stamp = stamp(cert, key)?;
        let loaded = load(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: Mutex::new((stamp, Arc::new(loaded))),
        })
    }

    /// The pair to use now.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(now) = stamp(&self.cert, &self.key) {
            if now != current.0 {
                match load(&self.cert, &self.key) {
                    Ok(loaded) => {
                        eprintln!(
                            "apm-inject-webhook: certificate reloaded from {}",
                            self.cert.display()
                        );
                        *current = (now, Arc::new(loaded));
                    }
                    // Half-written rotation: retried at the next handshake.
                    Err(e) => {
                        eprintln!("apm-inject-webhook: keeping the previous certificate: {e}")
                    }
                }
            }
        }
        current.1.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A TLS acceptor serving `cert` (HTTP/2 and HTTP/1.1).
pub fn acceptor(cert: ReloadingCert) -> Result<TlsAcceptor, String> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn stamp(cert: &Path, key: &Path) -> Result<Stamp, String> {
    use std::os::unix::fs::MetadataExt;
    let one = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.ino(), m.len(), m.modified().ok()))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    Ok([one(cert)?, one(key)?])
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let chain = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate", cert.display()));
    }
    let private = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no PEM private key", key.display()))?;
    let signer =
        sign::any_supported_type(&private).map_err(|e| format!("{}: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signer);
    pair.keys_match()
        .map_err(|e| format!("{} and {} do not match: {e}", cert.display(), key.display()))?;
    Ok(pair)
}
