//! The managed certificate authority, as plain data and pure decisions: what
//! the CA Secret holds, what step comes next at a given time, and the serving
//! certificates it signs. No I/O: the controller reads and writes the Secret.
//!
//! The Secret (`--tls-ca-secret`) holds:
//! - `ca.crt`, `ca.key`: the CA that signs serving certificates now;
//! - `next.crt`, `next.key`, `next.since`: its successor, trusted but not yet
//!   signing, and when it was added (Unix seconds);
//! - `ca-bundle.crt`: every CA the webhooks trust (the caBundle): the signer,
//!   the successor, and retired CAs until they expire.
//!
//! A rotation never leaves a cliff: at two thirds of the signer's life a
//! successor joins the bundle; once every webhook configuration trusts it and
//! the overlap has passed, it starts signing; the old CA stays trusted until it
//! expires, so serving certificates it signed stay valid to the end.

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Keys of the CA Secret.
pub const CA_CERT: &str = "ca.crt";
/// The signer's private key.
pub const CA_KEY: &str = "ca.key";
/// The successor's certificate.
pub const NEXT_CERT: &str = "next.crt";
/// The successor's private key.
pub const NEXT_KEY: &str = "next.key";
/// When the successor was added (Unix seconds, decimal).
pub const NEXT_SINCE: &str = "next.since";
/// Every trusted CA, PEM.
pub const BUNDLE: &str = "ca-bundle.crt";

/// Why the authority cannot work. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// Generating or signing failed.
    #[error("could not generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// How long things live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// A CA's validity, seconds.
    pub ca: i64,
    /// A serving certificate's validity, seconds (capped by its CA's).
    pub leaf: i64,
    /// How long a successor is trusted before it signs, seconds.
    pub overlap: i64,
}

impl Lifetimes {
    /// Check the lifetimes fit together; the message names the flag.
    pub fn check(&self) -> Result<(), String> {
        if self.ca < 30 || self.leaf < 10 {
            return Err("--tls-ca-validity must be at least 30s and --tls-leaf-validity at least 10s".into());
        }
        if self.leaf > self.ca / 2 {
            return Err("--tls-leaf-validity must be at most half of --tls-ca-validity".into());
        }
        if self.overlap >= self.ca / 3 {
            return Err(
                "--tls-ca-overlap must be shorter than a third of --tls-ca-validity (when a successor is made)".into(),
            );
        }
        Ok(())
    }
}

/// One CA: its PEM certificate and key, and its validity.
#[derive(Clone, PartialEq, Eq)]
pub struct Ca {
    /// PEM certificate.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the key is never printed
        f.debug_struct("Ca").field("not_before", &self.not_before).field("not_after", &self.not_after).finish()
    }
}

/// A certificate of the bundle, with its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trusted {
    /// PEM certificate.
    pub cert: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// What the CA Secret holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The CA that signs now.
    pub signer: Option<Ca>,
    /// Its successor and when it was added.
    pub next: Option<(Ca, i64)>,
    /// Every CA the webhooks trust, oldest first.
    pub bundle: Vec<Trusted>,
}

/// What [`plan`] did to the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Keep,
    /// There was no usable CA: a new one signs (first start, or the old one expired).
    Created,
    /// A successor joined the bundle.
    Prepared,
    /// The successor signs now.
    Promoted,
    /// Expired CAs left the bundle.
    Pruned,
    /// The bundle lacked a CA in use, or held a damaged successor: set right.
    Repaired,
}

impl Step {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Keep => "keep",
            Step::Created => "created",
            Step::Prepared => "prepared",
            Step::Promoted => "promoted",
            Step::Pruned => "pruned",
            Step::Repaired => "repaired",
        }
    }
}

/// The validity of the first PEM certificate in `pem`.
fn validity(pem: &str) -> Option<(i64, i64)> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

fn ca(cert: Option<&[u8]>, key: Option<&[u8]>) -> Option<Ca> {
    let cert = std::str::from_utf8(cert?).ok()?.to_string();
    let key = std::str::from_utf8(key?).ok()?.to_string();
    // a key that does not parse makes the pair unusable
    KeyPair::from_pem(&key).ok()?;
    let (not_before, not_after) = validity(&cert)?;
    Some(Ca { cert, key, not_before, not_after })
}

impl State {
    /// Read the Secret's data. Anything unusable is treated as absent, so a
    /// damaged Secret heals into a new CA instead of stopping the server.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> State {
        let get = |k: &str| data.get(k).map(Vec::as_slice);
        let signer = ca(get(CA_CERT), get(CA_KEY));
        let next = ca(get(NEXT_CERT), get(NEXT_KEY)).and_then(|next| {
            let since = std::str::from_utf8(get(NEXT_SINCE)?).ok()?.trim().parse().ok()?;
            Some((next, since))
        });
        let bundle = get(BUNDLE)
            .map(|pem| {
                CertificateDer::pem_slice_iter(pem)
                    .filter_map(Result::ok)
                    .filter_map(|der| {
                        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
                        let not_after = cert.validity().not_after.timestamp();
                        let pem = pem_of(&der);
                        Some(Trusted { cert: pem, not_after })
                    })
                    .collect()
            })
            .unwrap_or_default();
        State { signer, next, bundle }
    }

    /// The Secret's data for this state.
    pub fn to_data(&self) -> BTreeMap<String, Vec<u8>> {
        let mut data = BTreeMap::new();
        if let Some(signer) = &self.signer {
            data.insert(CA_CERT.to_string(), signer.cert.clone().into_bytes());
            data.insert(CA_KEY.to_string(), signer.key.clone().into_bytes());
        }
        if let Some((next, since)) = &self.next {
            data.insert(NEXT_CERT.to_string(), next.cert.clone().into_bytes());
            data.insert(NEXT_KEY.to_string(), next.key.clone().into_bytes());
            data.insert(NEXT_SINCE.to_string(), since.to_string().into_bytes());
        }
        data.insert(BUNDLE.to_string(), self.bundle_pem().into_bytes());
        data
    }

    /// The caBundle: every trusted CA, PEM.
    pub fn bundle_pem(&self) -> String {
        self.bundle.iter().map(|t| t.cert.as_str()).collect()
    }

    fn trust(&mut self, ca: &Ca) {
        if !self.bundle.iter().any(|t| t.cert == ca.cert) {
            self.bundle.push(Trusted { cert: ca.cert.clone(), not_after: ca.not_after });
        }
    }
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Whether a CA is usable for signing at `now`, with room for one leaf.
fn usable(ca: &Ca, now: i64) -> bool {
    ca.not_before <= now + 60 && now < ca.not_after
}

/// What [`plan`] is told besides the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// Whether every webhook configuration already carries the successor in its
    /// caBundle: only then may it start signing.
    pub successor_trusted: bool,
    /// Prepare a successor now, whatever the signer's age (an operator asked).
    pub rotate_now: bool,
}

/// The next state at `now`.
pub fn plan(
    state: &State,
    now: i64,
    lifetimes: Lifetimes,
    inputs: Inputs,
    name: &str,
) -> Result<(State, Step), AuthorityError> {
    let Inputs { successor_trusted, rotate_now } = inputs;
    let mut next = state.clone();
    let before = next.bundle.len();
    next.bundle.retain(|t| t.not_after > now);
    let pruned = next.bundle.len() != before;
    let signer = match &state.signer {
        Some(signer) if usable(signer, now) => signer.clone(),
        _ => {
            // no CA, or it expired: nothing it signed is valid any more either
            let fresh = generate_ca(name, now, lifetimes.ca)?;
            next.signer = Some(fresh.clone());
            next.next = None;
            next.trust(&fresh);
            return Ok((next, Step::Created));
        }
    };
    next.trust(&signer);
    match &state.next {
        Some((successor, since)) if usable(successor, now) => {
            next.trust(successor);
            // a signer about to expire does not wait out the whole overlap
            let overlap = lifetimes.overlap.min((signer.not_after - since) / 2);
            if successor_trusted && now >= since + overlap {
                next.signer = Some(successor.clone());
                next.next = None;
                return Ok((next, Step::Promoted));
            }
        }
        _ => {
            let renew_at = signer.not_after - (signer.not_after - signer.not_before) / 3;
            if now >= renew_at || rotate_now {
                let fresh = generate_ca(name, now, lifetimes.ca)?;
                next.trust(&fresh);
                next.next = Some((fresh, now));
                return Ok((next, Step::Prepared));
            }
            next.next = None;
        }
    }
    let step = match (next == *state, pruned) {
        (true, _) => Step::Keep,
        (false, true) => Step::Pruned,
        (false, false) => Step::Repaired,
    };
    Ok((next, step))
}

/// A new self-signed CA valid from `now` (backdated a little for clock skew).
pub fn generate_ca(name: &str, now: i64, validity: i64) -> Result<Ca, AuthorityError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, format!("{name} CA {now}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    // backdated for clock skew, by little enough not to move its renewal point
    let not_before = now - (validity / 20).min(300);
    let not_after = now + validity;
    params.not_before = at(not_before);
    params.not_after = at(not_after);
    let cert = params.self_signed(&key)?;
    Ok(Ca { cert: cert.pem(), key: key.serialize_pem(), not_before, not_after })
}

fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A serving certificate and key, PEM, and when it should be replaced.
#[derive(Clone)]
pub struct Leaf {
    /// PEM certificate.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// When to issue the next one (two thirds through its life).
    pub renew_at: i64,
    /// The signer's certificate, to notice a promotion.
    pub signer: String,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf").field("not_after", &self.not_after).field("renew_at", &self.renew_at).finish()
    }
}

/// Sign a serving certificate for `hosts` (DNS names or IP addresses). It
/// never outlives its CA.
pub fn issue_leaf(signer: &Ca, hosts: &[String], now: i64, validity: i64) -> Result<Leaf, AuthorityError> {
    let ca_key = KeyPair::from_pem(&signer.key)?;
    let issuer = Issuer::from_ca_cert_pem(&signer.cert, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, hosts.first().map_or("secretgate", String::as_str));
    for host in hosts {
        params.subject_alt_names.push(match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into()?),
        });
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let not_before = (now - 300).max(signer.not_before);
    let not_after = (now + validity).min(signer.not_after);
    params.not_before = at(not_before);
    params.not_after = at(not_after);
    let cert = params.signed_by(&key, &issuer)?;
    let renew_at = now + (not_after - now) * 2 / 3;
    Ok(Leaf { cert: cert.pem(), key: key.serialize_pem(), not_after, renew_at, signer: signer.cert.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const LIFE: Lifetimes = Lifetimes { ca: 300 * DAY, leaf: 30 * DAY, overlap: 600 };
    const T0: i64 = 1_800_000_000;

    fn step(state: &State, now: i64, trusted: bool) -> (State, Step) {
        plan(state, now, LIFE, Inputs { successor_trusted: trusted, rotate_now: false }, "secretgate").unwrap()
    }

    #[test]
    fn an_operator_can_start_a_graceful_rotation_at_any_time() {
        let (s0, _) = step(&State::default(), T0, false);
        let asked = Inputs { successor_trusted: false, rotate_now: true };
        let (s1, s) = plan(&s0, T0 + 60, LIFE, asked, "secretgate").unwrap();
        assert_eq!(s, Step::Prepared);
        assert_eq!(s1.signer, s0.signer, "the old CA signs until the successor is trusted everywhere");
        // asking again while a successor waits changes nothing
        assert_eq!(plan(&s1, T0 + 61, LIFE, asked, "secretgate").unwrap().1, Step::Keep);
        assert_eq!(step(&s1, T0 + 60 + 601, true).1, Step::Promoted);
    }

    #[test]
    fn a_first_start_creates_a_ca_that_is_trusted_and_survives_a_round_trip() {
        let (state, s) = step(&State::default(), T0, false);
        assert_eq!(s, Step::Created);
        let signer = state.signer.clone().unwrap();
        assert_eq!(state.bundle.len(), 1);
        assert_eq!(State::from_data(&state.to_data()), state);
        assert!(signer.not_before <= T0 && signer.not_after == T0 + LIFE.ca);
        // nothing more to do until two thirds of its life
        assert_eq!(step(&state, T0 + 199 * DAY, false).1, Step::Keep);
    }

    #[test]
    fn a_rotation_overlaps_old_and_new_and_never_leaves_a_gap() {
        let (s0, _) = step(&State::default(), T0, false);
        let old = s0.signer.clone().unwrap();
        let t1 = T0 + 201 * DAY;
        let (s1, s) = step(&s0, t1, false);
        assert_eq!(s, Step::Prepared);
        assert_eq!(s1.signer.as_ref(), Some(&old), "the old CA still signs");
        assert_eq!(s1.bundle.len(), 2, "both are trusted");
        assert_eq!(State::from_data(&s1.to_data()), s1);
        // not promoted before every webhook trusts it, nor before the overlap
        assert_eq!(step(&s1, t1 + 3600, false).1, Step::Keep);
        assert_eq!(step(&s1, t1 + 10, true).1, Step::Keep);
        let (s2, s) = step(&s1, t1 + 601, true);
        assert_eq!(s, Step::Promoted);
        assert_ne!(s2.signer.as_ref(), Some(&old));
        assert_eq!(s2.bundle.len(), 2, "the old CA stays trusted until it expires");
        // a leaf of the old CA never outlives it; once it expired the old CA leaves the bundle
        let leaf = issue_leaf(&old, &["x.svc".into()], t1, LIFE.leaf).unwrap();
        assert!(leaf.not_after <= old.not_after);
        let (s3, s) = step(&s2, old.not_after + 1, true);
        assert_eq!(s, Step::Pruned);
        assert_eq!(s3.bundle.len(), 1);
        assert_eq!(s3.signer, s2.signer);
    }

    #[test]
    fn an_expired_or_damaged_ca_is_replaced() {
        let (s0, _) = step(&State::default(), T0, false);
        let (s1, s) = step(&s0, T0 + LIFE.ca + 1, false);
        assert_eq!(s, Step::Created);
        assert_eq!(s1.bundle.len(), 1, "the expired one is no longer trusted");
        let mut data = s0.to_data();
        data.insert(CA_KEY.into(), b"not a key".to_vec());
        assert_eq!(State::from_data(&data).signer, None);
        assert_eq!(step(&State::from_data(&data), T0, false).1, Step::Created);
    }

    #[test]
    fn leaves_carry_the_hosts_and_renew_at_two_thirds() {
        let (s0, _) = step(&State::default(), T0, false);
        let signer = s0.signer.unwrap();
        let hosts = ["secretgate.sg.svc".to_string(), "127.0.0.1".to_string()];
        let leaf = issue_leaf(&signer, &hosts, T0 + DAY, LIFE.leaf).unwrap();
        assert_eq!(leaf.not_after, T0 + DAY + LIFE.leaf);
        assert_eq!(leaf.renew_at, T0 + DAY + LIFE.leaf * 2 / 3);
        let der = CertificateDer::from_pem_slice(leaf.cert.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap().value.general_names.len();
        assert_eq!(sans, 2);
        assert!(!format!("{leaf:?} {signer:?}").contains("PRIVATE"), "Debug never prints keys");
    }

    #[test]
    fn lifetimes_that_cannot_work_are_refused() {
        assert!(LIFE.check().is_ok());
        assert!(Lifetimes { overlap: 200 * DAY, ..LIFE }.check().unwrap_err().contains("--tls-ca-overlap"));
        assert!(Lifetimes { leaf: 200 * DAY, ..LIFE }.check().unwrap_err().contains("--tls-leaf-validity"));
    }
}
