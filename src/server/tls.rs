//! The serving certificate: loaded and checked before the port is bound,
//! re-read when the files change (including the kubelet's atomic `..data`
//! symlink swap on Secret volumes, which file-watch APIs miss), with the last
//! good pair kept serving when a new one is broken.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// Why a serving pair cannot be used. Messages name the flag to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{flag} {path}: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds nothing usable.
    #[error("{flag} {path}: {reason}")]
    Content {
        /// The flag naming the file.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("--tls-cert-file and --tls-key-file: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The files of the serving pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--tls-cert-file`: PEM chain, leaf first.
    pub cert: PathBuf,
    /// `--tls-key-file`: PEM private key.
    pub key: PathBuf,
    /// `--tls-client-ca-file`: PEM CAs for client certificates, if required.
    pub client_ca: Option<PathBuf>,
}

/// The bytes of the files, to notice changes.
#[derive(Clone, PartialEq, Eq)]
struct Contents(Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// A loaded pair: the rustls config and the leaf's notAfter.
struct Loaded {
    config: Arc<ServerConfig>,
    not_after: i64,
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { flag, path: path.to_path_buf(), source })
}

fn content(flag: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::Content { flag, path: path.to_path_buf(), reason: reason.into() }
}

impl TlsFiles {
    fn read(&self) -> Result<Contents, TlsError> {
        let client_ca = self.client_ca.as_deref().map(|p| read("--tls-client-ca-file", p)).transpose()?;
        Ok(Contents(read("--tls-cert-file", &self.cert)?, read("--tls-key-file", &self.key)?, client_ca))
    }

    fn load(&self, contents: &Contents) -> Result<Loaded, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&contents.0)
            .collect::<Result<_, _>>()
            .map_err(|e| content("--tls-cert-file", &self.cert, format!("not PEM: {e}")))?;
        let Some(leaf) = certs.first() else {
            return Err(content("--tls-cert-file", &self.cert, "holds no PEM certificate"));
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| {
            content("--tls-cert-file", &self.cert, format!("the first certificate does not parse: {e}"))
        })?;
        let not_after = parsed.validity().not_after.timestamp();
        let key = PrivateKeyDer::from_pem_slice(&contents.1)
            .map_err(|e| content("--tls-key-file", &self.key, format!("holds no usable PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| content("--tls-key-file", &self.key, format!("unsupported private key: {e}")))?;
        let certified = rustls::sign::CertifiedKey::new(certs, signing_key);
        if let Err(rustls::Error::InconsistentKeys(_)) = certified.keys_match() {
            return Err(content("--tls-key-file", &self.key, "does not match the certificate in --tls-cert-file"));
        }
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match (&self.client_ca, &contents.2) {
            (Some(path), Some(pem)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| content("--tls-client-ca-file", path, format!("not PEM: {e}")))?;
                    roots.add(cert).map_err(|e| content("--tls-client-ca-file", path, e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(content("--tls-client-ca-file", path, "holds no PEM certificate"));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| content("--tls-client-ca-file", path, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCert(Arc::new(certified))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Loaded { config: Arc::new(config), not_after })
    }
}

/// Always the same certificate, whatever the SNI.
#[derive(Debug)]
struct SingleCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for SingleCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The current serving config, replaced when the files change.
pub struct TlsReloader {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// The contents last seen, loaded or not: a broken pair is reported once.
    seen: RwLock<Contents>,
    metrics: Metrics,
}

impl std::fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReloader").field("files", &self.files).finish()
    }
}

impl TlsReloader {
    /// Load the pair once; an error here stops the server before it binds.
    pub fn new(files: TlsFiles, metrics: Metrics) -> Result<Arc<TlsReloader>, TlsError> {
        let contents = files.read()?;
        let loaded = files.load(&contents)?;
        metrics.set_cert_expiry(loaded.not_after);
        Ok(Arc::new(TlsReloader { files, current: RwLock::new(loaded.config), seen: RwLock::new(contents), metrics }))
    }

    /// An acceptor for the next connection, with the current pair.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Re-read the files; load them if they changed. Returns whether a new
    /// pair is now serving. A broken pair is logged once and the old one kept.
    pub fn reload(&self) -> bool {
        let contents = match self.files.read() {
            Ok(contents) => contents,
            // mid-rotation a file may be briefly missing; try again next poll
            Err(error) => {
                tracing::debug!(%error, "Could not read the serving certificate files");
                return false;
            }
        };
        if *self.seen.read().unwrap_or_else(|e| e.into_inner()) == contents {
            return false;
        }
        *self.seen.write().unwrap_or_else(|e| e.into_inner()) = contents.clone();
        match self.files.load(&contents) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded.config;
                self.metrics.record_tls_reload(true);
                self.metrics.set_cert_expiry(loaded.not_after);
                tracing::info!(not_after = loaded.not_after, "Serving certificate reloaded");
                true
            }
            Err(error) => {
                self.metrics.record_tls_reload(false);
                tracing::error!(%error, "New serving certificate refused; the previous one keeps serving");
                false
            }
        }
    }

    /// Poll the files every `interval` until `shutdown` fires.
    pub fn spawn_polling(self: &Arc<Self>, interval: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        let this = this.clone();
                        // file reads and PEM parsing are blocking work
                        let _ = tokio::task::spawn_blocking(move || this.reload()).await;
                    }
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
}
