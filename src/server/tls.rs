//! The serving certificate: loaded and checked before the port is bound,
//! re-read when the files change (including the kubelet's atomic `..data`
//! symlink swap on Secret volumes, which file-watch APIs miss), with the last
//! good pair kept serving when a new one is broken.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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
    /// The leaf certificate has expired: every handshake would fail.
    #[error("{0}")]
    Expired(String),
    /// The leaf certificate is not valid yet: handshakes would fail until it is.
    #[error("{0}")]
    NotYetValid(String),
}

/// A Unix time as an RFC 3339-like UTC string, for messages.
fn utc(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.replace_nanosecond(0).unwrap_or(t).to_string())
        .unwrap_or_else(|_| unix.to_string())
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

/// The most a certificate, key or CA file may hold: real ones are a few kB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Read a regular file of at most [`MAX_FILE_BYTES`] without ever blocking
/// (see [`crate::watched::read_regular`]).
pub fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    crate::watched::read_regular(path, MAX_FILE_BYTES).map_err(|e| match e {
        crate::watched::ReadError::Io(source) => TlsError::Read { flag, path: path.to_path_buf(), source },
        other => content(flag, path, other.to_string()),
    })
}

fn content(flag: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::Content { flag, path: path.to_path_buf(), reason: reason.into() }
}

impl TlsFiles {
    /// Load the pair as the server would; its notAfter when usable.
    pub fn check(&self) -> Result<i64, TlsError> {
        let contents = self.read()?;
        self.load(&contents).map(|loaded| loaded.not_after)
    }

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
        let validity = parsed.validity();
        let not_after = validity.not_after.timestamp();
        let now = crate::app::now_unix();
        if now >= not_after {
            let reason = format!("the certificate expired at {} (now {})", validity.not_after, utc(now));
            return Err(TlsError::Expired(content("--tls-cert-file", &self.cert, reason).to_string()));
        }
        if now < validity.not_before.timestamp() {
            let reason = format!("the certificate is not valid before {} (now {})", validity.not_before, utc(now));
            return Err(TlsError::NotYetValid(content("--tls-cert-file", &self.cert, reason).to_string()));
        }
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

/// The current serving config, replaced when the files change (or, with a
/// managed CA, when the controller installs a new pair).
pub struct TlsReloader {
    files: TlsFiles,
    /// A pair held in memory instead of the files (managed CA); the client CA
    /// file, if any, is still polled.
    managed: Option<RwLock<(Vec<u8>, Vec<u8>)>>,
    current: RwLock<Arc<ServerConfig>>,
    /// The contents last seen, loaded or not: a broken pair is reported once.
    seen: RwLock<Contents>,
    /// A pair refused only because it is not valid yet: reported once, retried.
    waiting: RwLock<Option<Contents>>,
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
        Ok(Arc::new(TlsReloader {
            files,
            managed: None,
            current: RwLock::new(loaded.config),
            seen: RwLock::new(contents),
            waiting: RwLock::new(None),
            metrics,
        }))
    }

    /// Serve a pair held in memory (PEM), replaced with [`TlsReloader::install`].
    pub fn in_memory(
        cert: &[u8],
        key: &[u8],
        client_ca: Option<PathBuf>,
        metrics: Metrics,
    ) -> Result<Arc<TlsReloader>, TlsError> {
        let files = TlsFiles {
            cert: PathBuf::from("(managed serving certificate)"),
            key: PathBuf::from("(managed key)"),
            client_ca,
        };
        let ca = files.client_ca.as_deref().map(|p| read("--tls-client-ca-file", p)).transpose()?;
        let contents = Contents(cert.to_vec(), key.to_vec(), ca);
        let loaded = files.load(&contents)?;
        metrics.set_cert_expiry(loaded.not_after);
        Ok(Arc::new(TlsReloader {
            files,
            managed: Some(RwLock::new((cert.to_vec(), key.to_vec()))),
            current: RwLock::new(loaded.config),
            seen: RwLock::new(contents),
            waiting: RwLock::new(None),
            metrics,
        }))
    }

    /// Serve a new in-memory pair for new connections (a managed CA's renewal).
    /// Returns whether it is now serving; a broken pair keeps the old one.
    pub fn install(&self, cert: &[u8], key: &[u8]) -> bool {
        let Some(pair) = &self.managed else { return false };
        *pair.write().unwrap_or_else(|e| e.into_inner()) = (cert.to_vec(), key.to_vec());
        self.reload()
    }

    /// An acceptor for the next connection, with the current pair.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Re-read the files; load them if they changed. Returns whether a new
    /// pair is now serving. A broken pair is logged once and the old one kept.
    pub fn reload(&self) -> bool {
        let read = match &self.managed {
            Some(pair) => {
                let (cert, key) = pair.read().unwrap_or_else(|e| e.into_inner()).clone();
                let ca = self.files.client_ca.as_deref().map(|p| read("--tls-client-ca-file", p)).transpose();
                ca.map(|ca| Contents(cert, key, ca))
            }
            None => self.files.read(),
        };
        let contents = match read {
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
            // not valid yet (issued with our clock behind): refused, and tried
            // again on the next polls until it is, without logging each time
            Err(TlsError::NotYetValid(reason)) => {
                let mut waiting = self.waiting.write().unwrap_or_else(|e| e.into_inner());
                if waiting.as_ref() != Some(&contents) {
                    self.metrics.record_tls_reload(false);
                    tracing::error!(error = %reason, "New serving certificate refused until it is valid; the previous one keeps serving");
                    *waiting = Some(contents);
                }
                *self.seen.write().unwrap_or_else(|e| e.into_inner()) = Contents(Vec::new(), Vec::new(), None);
                false
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};
    use std::time::Duration;
    use time::{Duration as Span, OffsetDateTime};

    /// A self-signed serving pair valid from `from` to `until` (relative to now).
    fn write_pair(dir: &Path, from: Span, until: Span) -> TlsFiles {
        let now = OffsetDateTime::now_utc();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = now + from;
        params.not_after = now + until;
        let cert = params.self_signed(&key).unwrap();
        let files = TlsFiles { cert: dir.join("tls.crt"), key: dir.join("tls.key"), client_ca: None };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    fn failures(metrics: &Metrics) -> bool {
        metrics.render().contains(r#"secretgate_tls_reloads_total{outcome="failure"} 1"#)
    }

    #[test]
    fn an_expired_or_not_yet_valid_pair_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), Span::days(-10), Span::days(-1));
        let error = TlsReloader::new(files, Metrics::new()).unwrap_err();
        assert!(matches!(error, TlsError::Expired(_)), "{error}");
        assert!(
            error.to_string().starts_with("--tls-cert-file ") && error.to_string().contains("expired at"),
            "{error}"
        );
        let files = write_pair(dir.path(), Span::days(1), Span::days(10));
        let error = TlsReloader::new(files, Metrics::new()).unwrap_err();
        assert!(matches!(error, TlsError::NotYetValid(_)) && error.to_string().contains("not valid before"), "{error}");
    }

    #[test]
    fn a_rotation_to_an_expired_pair_keeps_the_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let reloader =
            TlsReloader::new(write_pair(dir.path(), Span::hours(-1), Span::days(1)), metrics.clone()).unwrap();
        let good = reloader.acceptor().config().clone();
        write_pair(dir.path(), Span::days(-10), Span::days(-1));
        assert!(!reloader.reload());
        assert!(Arc::ptr_eq(&good, reloader.acceptor().config()), "the good pair keeps serving");
        assert!(failures(&metrics), "{}", metrics.render());
    }

    #[test]
    fn a_not_yet_valid_pair_is_refused_once_and_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let reloader =
            TlsReloader::new(write_pair(dir.path(), Span::hours(-1), Span::days(1)), metrics.clone()).unwrap();
        write_pair(dir.path(), Span::hours(1), Span::days(2));
        assert!(!reloader.reload());
        assert!(!reloader.reload(), "still not valid");
        assert!(failures(&metrics), "counted once: {}", metrics.render());
        // the same files, once valid, are taken: here a new valid pair stands in for time passing
        write_pair(dir.path(), Span::hours(-1), Span::days(2));
        assert!(reloader.reload());
    }

    #[test]
    fn a_fifo_or_a_huge_file_never_blocks_or_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), Span::hours(-1), Span::days(1));
        let reloader = TlsReloader::new(files.clone(), Metrics::new()).unwrap();
        std::fs::remove_file(&files.cert).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&files.cert).status().unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert!(!reloader.reload(), "a FIFO is not a certificate");
        let error = files.read().err().unwrap();
        assert!(error.to_string().contains("is not a regular file"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5), "the poller did not block");
        std::fs::remove_file(&files.cert).unwrap();
        std::fs::write(&files.cert, vec![b'x'; 2 * 1024 * 1024]).unwrap();
        let error = files.read().err().unwrap();
        assert!(error.to_string().contains("is 2097152 bytes; at most 1048576 are read"), "{error}");
    }
}
