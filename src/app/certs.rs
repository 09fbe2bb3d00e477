//! `secretgate certs`: a throw-away CA and a serving certificate signed by it,
//! for local use and tests. Keys are written with mode 0600.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use time::{Duration, OffsetDateTime};

use super::EXIT_UNUSABLE;
use crate::config::CertsArgs;

/// The files written.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The CA certificate (PEM): what clients trust, the webhook's caBundle.
    pub ca: PathBuf,
    /// The serving certificate (PEM).
    pub cert: PathBuf,
    /// The serving key (PEM, mode 0600).
    pub key: PathBuf,
}

/// Run `secretgate certs`.
pub fn run(args: CertsArgs) -> ExitCode {
    match generate(&args.out, &args.dns, &args.ip, args.days) {
        Ok(files) => {
            println!("wrote {}, {} and {} (mode 0600)", files.ca.display(), files.cert.display(), files.key.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("secretgate certs: {error}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// The files of an earlier run in `out`, when they form a pair for localhost
/// that is valid for at least `seconds` more and whose key matches.
pub fn reusable(out: &Path, seconds: i64) -> Option<Generated> {
    let files = Generated { ca: out.join("ca.crt"), cert: out.join("tls.crt"), key: out.join("tls.key") };
    std::fs::metadata(&files.ca).ok()?;
    let tls = crate::server::tls::TlsFiles { cert: files.cert.clone(), key: files.key.clone(), client_ca: None };
    let not_after = tls.check().ok()?;
    (not_after - super::now_unix() >= seconds).then_some(files)
}

/// Write `ca.crt`, `tls.crt` and `tls.key` to `out`.
pub fn generate(out: &Path, dns: &[String], ips: &[IpAddr], days: u32) -> Result<Generated, String> {
    let pem = pair(dns, ips, days).map_err(|e| format!("could not generate certificates: {e}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("--out {}: {e}", out.display()))?;
    let files = Generated { ca: out.join("ca.crt"), cert: out.join("tls.crt"), key: out.join("tls.key") };
    write(&files.ca, pem.0.as_bytes(), 0o644)?;
    write(&files.cert, pem.1.as_bytes(), 0o644)?;
    write(&files.key, pem.2.as_bytes(), 0o600)?;
    Ok(files)
}

/// (CA certificate, serving certificate, serving key), PEM.
fn pair(dns: &[String], ips: &[IpAddr], days: u32) -> Result<(String, String, String), rcgen::Error> {
    let now = OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "secretgate development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = now - Duration::hours(1);
    ca.not_after = now + Duration::days(i64::from(days));
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(dns.to_vec())?;
    leaf.distinguished_name.push(DnType::CommonName, dns.first().map_or("secretgate", String::as_str));
    leaf.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.not_before = now - Duration::hours(1);
    leaf.not_after = now + Duration::days(i64::from(days));
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let mut file = options.open(path).map_err(fail)?;
        // an existing file keeps its old mode on open: set it explicitly
        file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(fail)?;
        file.write_all(bytes).map_err(fail)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        options.open(path).map_err(fail)?.write_all(bytes).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_usable_pair_with_a_private_key_mode() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path(), &["localhost".into()], &[IpAddr::from([127, 0, 0, 1])], 2).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let cert = std::fs::read(&files.cert).unwrap();
        let der = rustls_pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = parsed.subject_alternative_name().unwrap().unwrap().value.general_names.len();
        assert_eq!(sans, 2);
        assert!(std::fs::read_to_string(&files.key).unwrap().contains("PRIVATE KEY"));
    }

    use rustls_pki_types::pem::PemObject;
}
