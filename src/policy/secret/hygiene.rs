//! `secret-hygiene`: warnings about values that are valid but almost surely
//! a mistake. Messages name keys, never values.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{SecretData, data_path, types::go_map_unmarshal_error};
use crate::policy::{Finding, RuleId};

const SECONDS_PER_DAY: i64 = 86_400;
/// Values up to this size are checked for the `echo` newline.
const ECHO_CHECK_MAX_BYTES: usize = 64 * 1024;

pub(super) fn check(secret: &SecretData<'_>, now_unix: i64, expiry_warning_days: u32) -> Vec<Finding> {
    let mut findings = Vec::new();
    match secret.secret_type {
        "Opaque" | "kubernetes.io/basic-auth" => {
            for (key, value) in &secret.data {
                // a value typed with `echo` is short: larger ones are not decoded
                if value.len() <= ECHO_CHECK_MAX_BYTES && is_echo_newline(&value.bytes()) {
                    findings.push(warning(
                        key,
                        "the value is a single line ending in a newline, as `echo` without -n leaves it; \
                         the newline becomes part of the secret (use echo -n or printf)",
                    ));
                }
            }
        }
        "kubernetes.io/tls" => findings.extend(tls(secret, now_unix, expiry_warning_days)),
        "kubernetes.io/dockerconfigjson" => {
            if let Some(value) = secret.get(".dockerconfigjson").map(|v| v.bytes())
                && go_map_unmarshal_error(&value).is_none()
                && !has_auths(&value)
            {
                findings.push(warning(
                    ".dockerconfigjson",
                    "has no \"auths\" object, so the kubelet finds no registry credentials in it",
                ));
            }
        }
        _ => {}
    }
    findings
}

fn warning(key: &str, message: &str) -> Finding {
    Finding::violation(RuleId::SecretHygiene, data_path(key), message)
}

/// One line, then exactly one trailing `\n`.
fn is_echo_newline(value: &[u8]) -> bool {
    match value.split_last() {
        Some((b'\n', line)) => !line.contains(&b'\n'),
        _ => false,
    }
}

fn has_auths(value: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Config {
        auths: Option<serde::de::IgnoredAny>,
    }
    // `null` is valid for the type rule but holds no auths either
    serde_json::from_slice::<Option<Config>>(value).ok().flatten().is_some_and(|c| c.auths.is_some())
}

/// When the certificate in `tls.crt` of a `kubernetes.io/tls` Secret
/// expires (unix seconds); `None` for other types or an unreadable value.
pub(super) fn certificate_not_after(secret: &SecretData<'_>) -> Option<i64> {
    if secret.secret_type != "kubernetes.io/tls" {
        return None;
    }
    let crt = secret.get("tls.crt")?.bytes();
    let der = CertificateDer::pem_slice_iter(&crt).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn tls(secret: &SecretData<'_>, now_unix: i64, expiry_warning_days: u32) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Empty values are placeholders (cert-manager creates them before issuing).
    let crt = secret.get("tls.crt").filter(|v| !v.is_empty()).map(|v| v.bytes());
    let key = secret.get("tls.key").filter(|v| !v.is_empty()).map(|v| v.bytes());

    let cert_der = crt.as_deref().and_then(|crt| match CertificateDer::pem_slice_iter(crt).next() {
        Some(Ok(der)) => Some(der),
        _ => {
            findings.push(warning("tls.crt", "is not a PEM-encoded certificate"));
            None
        }
    });
    let parsed = cert_der.as_ref().and_then(|der| match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => Some(cert),
        Err(_) => {
            findings.push(warning("tls.crt", "the first PEM block is not a valid X.509 certificate"));
            None
        }
    });
    if let Some(cert) = &parsed {
        let not_after = cert.validity().not_after.timestamp();
        if not_after <= now_unix {
            findings.push(warning("tls.crt", &format!("the certificate expired on {}", civil_date(not_after))));
        } else if not_after - now_unix < i64::from(expiry_warning_days) * SECONDS_PER_DAY {
            let days = (not_after - now_unix) / SECONDS_PER_DAY;
            findings.push(warning(
                "tls.crt",
                &format!("the certificate expires on {} (in {days} days)", civil_date(not_after)),
            ));
        }
    }

    let private_key = key.as_deref().and_then(|key| match PrivateKeyDer::from_pem_slice(key) {
        Ok(k) => Some(k),
        Err(_) => {
            findings.push(warning("tls.key", "is not a PEM-encoded private key"));
            None
        }
    });
    if let (Some(cert), Some(private_key)) = (&parsed, &private_key)
        && let Ok(signing_key) = rustls::crypto::ring::sign::any_supported_type(private_key)
        && let Some(public) = signing_key.public_key()
        && public.as_ref() != cert.public_key().raw
    {
        findings.push(warning("tls.key", "the private key does not match the certificate in data[tls.crt]"));
    }
    findings
}

/// `YYYY-MM-DD` (UTC) of a unix time, without a date library.
fn civil_date(unix: i64) -> String {
    // Howard Hinnant's civil_from_days
    let z = unix.div_euclid(SECONDS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;
    use rcgen::{CertificateParams, KeyPair};
    use time::{Duration, OffsetDateTime};

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    fn texts(type_: &str, data: &[(&str, &[u8])]) -> Vec<String> {
        check(&SecretData::of(&secret(type_, data)), NOW, 30).iter().map(Finding::text).collect()
    }

    fn cert(not_after_from_now: Duration) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["example.test".to_string()]).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        params.not_before = now - Duration::days(400);
        params.not_after = now + not_after_from_now;
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn echo_newline_is_flagged_without_the_value() {
        let got =
            texts("Opaque", &[("password", b"hunter2\n"), ("ok", b"fine"), ("pem", b"a\nb\n"), ("crlf", b"x\r\n")]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("[secret-hygiene] data[crlf]: the value is a single line ending in a newline"));
        assert!(got[1].starts_with("[secret-hygiene] data[password]:"));
        assert!(got.iter().all(|t| !t.contains("hunter2")));
        assert_eq!(texts("kubernetes.io/basic-auth", &[("username", b"admin\n")]).len(), 1);
        assert!(texts("example.com/custom", &[("username", b"admin\n")]).is_empty());
    }

    #[test]
    fn large_values_are_not_decoded_for_the_echo_check() {
        let big = format!("{}\n", "x".repeat(ECHO_CHECK_MAX_BYTES));
        assert!(texts("Opaque", &[("blob", big.as_bytes())]).is_empty());
        let small = format!("{}\n", "x".repeat(ECHO_CHECK_MAX_BYTES - 1));
        assert_eq!(texts("Opaque", &[("blob", small.as_bytes())]).len(), 1);
    }

    #[test]
    fn valid_tls_pair_is_quiet() {
        let (crt, key) = cert(Duration::days(365));
        assert!(texts("kubernetes.io/tls", &[("tls.crt", crt.as_bytes()), ("tls.key", key.as_bytes())]).is_empty());
    }

    #[test]
    fn empty_tls_values_are_placeholders() {
        assert!(texts("kubernetes.io/tls", &[("tls.crt", b""), ("tls.key", b"")]).is_empty());
    }

    #[test]
    fn garbage_tls_values_are_named() {
        let got = texts("kubernetes.io/tls", &[("tls.crt", b"hunter2"), ("tls.key", b"hunter3")]);
        assert_eq!(
            got,
            vec![
                "[secret-hygiene] data[tls.crt]: is not a PEM-encoded certificate",
                "[secret-hygiene] data[tls.key]: is not a PEM-encoded private key"
            ]
        );
    }

    #[test]
    fn mismatched_key_is_flagged() {
        let (crt, _) = cert(Duration::days(365));
        let (_, other_key) = cert(Duration::days(365));
        assert_eq!(
            texts("kubernetes.io/tls", &[("tls.crt", crt.as_bytes()), ("tls.key", other_key.as_bytes())]),
            vec!["[secret-hygiene] data[tls.key]: the private key does not match the certificate in data[tls.crt]"]
        );
    }

    #[test]
    fn expired_and_expiring_certificates() {
        let (expired, key) = cert(Duration::days(-2));
        let got = texts("kubernetes.io/tls", &[("tls.crt", expired.as_bytes()), ("tls.key", key.as_bytes())]);
        assert_eq!(got, vec!["[secret-hygiene] data[tls.crt]: the certificate expired on 2027-01-13"]);
        let (soon, key) = cert(Duration::days(10) + Duration::hours(1));
        let got = texts("kubernetes.io/tls", &[("tls.crt", soon.as_bytes()), ("tls.key", key.as_bytes())]);
        assert_eq!(got, vec!["[secret-hygiene] data[tls.crt]: the certificate expires on 2027-01-25 (in 10 days)"]);
        let (later, key) = cert(Duration::days(31));
        assert!(texts("kubernetes.io/tls", &[("tls.crt", later.as_bytes()), ("tls.key", key.as_bytes())]).is_empty());
    }

    #[test]
    fn dockerconfigjson_without_auths() {
        let want = vec![
            "[secret-hygiene] data[.dockerconfigjson]: has no \"auths\" object, so the kubelet finds no registry credentials in it",
        ];
        assert_eq!(texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"{}")]), want);
        assert_eq!(texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"null")]), want);
        assert!(texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"{\"auths\":{}}")]).is_empty());
        // invalid JSON is secret-type's business, not hygiene's
        assert!(texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"[]")]).is_empty());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(-1), "1969-12-31");
    }
}
