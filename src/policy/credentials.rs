//! The credential detector of `configmap-credentials` (policy.md §4): which
//! kinds of credential a value holds, never where or what. One pass of an
//! Aho-Corasick automaton over the fixed prefixes, then a bounded check of
//! the shape at each hit; no regular expression, no backtracking. A run that
//! was measured once is not measured again, so the work stays linear even
//! for a 1 MiB value made of prefixes.
//!
//! Precision over recall: a shape must match exactly (a PEM *certificate* is
//! not a private key, `AKIA` inside a longer word is not a key id, a URL
//! whose password is a `${PLACEHOLDER}` holds no password).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// A kind of credential the detector recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CredentialKind {
    /// A PEM block whose label ends in `PRIVATE KEY`.
    PrivateKey,
    /// `AKIA`/`ASIA` and 16 more characters.
    AwsAccessKeyId,
    /// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`.
    GitHubToken,
    /// `glpat-`.
    GitLabToken,
    /// `xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxs-`, `xoxr-`.
    SlackToken,
    /// `AIza` and 35 more characters.
    GoogleApiKey,
    /// `sk_live_`, `rk_live_`.
    StripeLiveKey,
    /// Three base64url segments, the first starting `eyJ`.
    JsonWebToken,
    /// `scheme://user:password@host` (the user may be empty).
    UrlWithPassword,
}

impl CredentialKind {
    /// How a finding names it.
    pub const fn describe(self) -> &'static str {
        match self {
            CredentialKind::PrivateKey => "a PEM private key",
            CredentialKind::AwsAccessKeyId => "an AWS access key id",
            CredentialKind::GitHubToken => "a GitHub token",
            CredentialKind::GitLabToken => "a GitLab access token",
            CredentialKind::SlackToken => "a Slack token",
            CredentialKind::GoogleApiKey => "a Google API key",
            CredentialKind::StripeLiveKey => "a Stripe live key",
            CredentialKind::JsonWebToken => "a JSON Web Token",
            CredentialKind::UrlWithPassword => "a URL with a password",
        }
    }
}

/// The prefixes, each with the check of what follows.
const PREFIXES: [(&str, Shape); 21] = [
    ("-----BEGIN ", Shape::Pem),
    ("AKIA", Shape::Aws),
    ("ASIA", Shape::Aws),
    ("ghp_", Shape::GitHub),
    ("gho_", Shape::GitHub),
    ("ghu_", Shape::GitHub),
    ("ghs_", Shape::GitHub),
    ("ghr_", Shape::GitHub),
    ("github_pat_", Shape::GitHubPat),
    ("glpat-", Shape::GitLab),
    ("xoxa-", Shape::Slack),
    ("xoxb-", Shape::Slack),
    ("xoxp-", Shape::Slack),
    ("xoxo-", Shape::Slack),
    ("xoxs-", Shape::Slack),
    ("xoxr-", Shape::Slack),
    ("AIza", Shape::Google),
    ("sk_live_", Shape::Stripe),
    ("rk_live_", Shape::Stripe),
    ("eyJ", Shape::Jwt),
    ("://", Shape::Url),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Pem,
    Aws,
    GitHub,
    GitHubPat,
    GitLab,
    Slack,
    Google,
    Stripe,
    Jwt,
    Url,
}

impl Shape {
    const COUNT: usize = 10;

    fn kind(self) -> CredentialKind {
        match self {
            Shape::Pem => CredentialKind::PrivateKey,
            Shape::Aws => CredentialKind::AwsAccessKeyId,
            Shape::GitHub | Shape::GitHubPat => CredentialKind::GitHubToken,
            Shape::GitLab => CredentialKind::GitLabToken,
            Shape::Slack => CredentialKind::SlackToken,
            Shape::Google => CredentialKind::GoogleApiKey,
            Shape::Stripe => CredentialKind::StripeLiveKey,
            Shape::Jwt => CredentialKind::JsonWebToken,
            Shape::Url => CredentialKind::UrlWithPassword,
        }
    }
}

/// Leftmost-first, non-overlapping: no prefix starts inside another, and a
/// DFA with its prefilter runs far faster than an overlapping search.
static AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .build(PREFIXES.map(|(p, _)| p))
        .expect("fixed, valid patterns")
});

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The length of the run of `class` bytes from `at` (at most `max`).
fn run(bytes: &[u8], at: usize, class: fn(u8) -> bool, max: usize) -> usize {
    bytes.get(at..).unwrap_or_default().iter().take(max).take_while(|b| class(**b)).count()
}

/// Whether the byte before `at` ends a word (start of value, or not a letter or digit).
fn starts_word(bytes: &[u8], at: usize) -> bool {
    at == 0 || !alnum(bytes[at - 1])
}

/// Whether `at` is the end of the value or a byte outside `class`.
fn ends(bytes: &[u8], at: usize, class: fn(u8) -> bool) -> bool {
    bytes.get(at).is_none_or(|b| !class(*b))
}

/// The kinds of credential in `bytes`, each once, in order of first occurrence.
pub fn scan(bytes: &[u8]) -> Vec<CredentialKind> {
    scan_measuring(bytes).0
}

/// [`scan`], and how many bytes the shape checks measured in all (linear in
/// the length: each run is measured once per shape).
fn scan_measuring(bytes: &[u8]) -> (Vec<CredentialKind>, usize) {
    let mut work = 0;
    let mut found: Vec<CredentialKind> = Vec::new();
    // per shape: the end of the last run measured, so no byte is measured twice
    let mut measured = [0usize; Shape::COUNT];
    for hit in AUTOMATON.find_iter(bytes) {
        let (prefix, shape) = PREFIXES[hit.pattern().as_usize()];
        let kind = shape.kind();
        if found.contains(&kind) || hit.start() < measured[shape as usize] {
            continue;
        }
        let (start, end) = (hit.start(), hit.end());
        let (matched, reach) = check(bytes, shape, start, end);
        work += reach.max(end) - start;
        measured[shape as usize] = reach.max(end);
        if matched {
            found.push(kind);
        }
        debug_assert!(prefix.len() == end - start);
    }
    (found, work)
}

/// Whether the shape holds at the hit `[start, end)`, and how far it looked.
fn check(bytes: &[u8], shape: Shape, start: usize, end: usize) -> (bool, usize) {
    match shape {
        Shape::Pem => {
            // the label up to the closing dashes, e.g. "RSA PRIVATE KEY"
            let label = run(bytes, end, |b| b.is_ascii_uppercase() || b == b' ', 48);
            let closes = bytes.get(end + label..end + label + 5) == Some(b"-----");
            let text = &bytes[end..end + label];
            // PGP's armour names its block: PGP PRIVATE KEY BLOCK
            (closes && (text.ends_with(b"PRIVATE KEY") || text.ends_with(b"PRIVATE KEY BLOCK")), end + label)
        }
        Shape::Aws => {
            // AKIA + 16 of [A-Z2-7] (base32), at least one digit, whole word
            let n = run(bytes, end, |b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b), 17);
            let digit = bytes[end..end + n.min(16)].iter().any(u8::is_ascii_digit);
            (starts_word(bytes, start) && n == 16 && digit && ends(bytes, end + n, alnum), end + n)
        }
        Shape::GitHub => {
            let n = run(bytes, end, alnum, 37);
            (starts_word(bytes, start) && n == 36 && ends(bytes, end + n, alnum), end + n)
        }
        Shape::GitHubPat => {
            let n = run(bytes, end, |b| alnum(b) || b == b'_', 256);
            (starts_word(bytes, start) && (60..256).contains(&n) && ends(bytes, end + n, alnum), end + n)
        }
        Shape::GitLab => {
            let n = run(bytes, end, base64url, 256);
            (starts_word(bytes, start) && (20..256).contains(&n), end + n)
        }
        Shape::Slack => {
            let n = run(bytes, end, |b| alnum(b) || b == b'-', 256);
            let digits = bytes[end..end + n].iter().filter(|b| b.is_ascii_digit()).count();
            (starts_word(bytes, start) && (10..256).contains(&n) && digits >= 6, end + n)
        }
        Shape::Google => {
            let n = run(bytes, end, base64url, 36);
            (starts_word(bytes, start) && n == 35 && ends(bytes, end + n, base64url), end + n)
        }
        Shape::Stripe => {
            let n = run(bytes, end, alnum, 256);
            (starts_word(bytes, start) && (24..256).contains(&n), end + n)
        }
        Shape::Jwt => jwt(bytes, start),
        Shape::Url => url_with_password(bytes, start, end),
    }
}

/// `eyJ...` `.` `...` `.` `...`: header, payload and signature of a JWS.
fn jwt(bytes: &[u8], start: usize) -> (bool, usize) {
    let header = run(bytes, start, base64url, usize::MAX);
    let reach = start + header;
    if !starts_word(bytes, start) || header < 10 || bytes.get(reach) != Some(&b'.') {
        return (false, reach);
    }
    let payload = run(bytes, reach + 1, base64url, 64 * 1024);
    let second_dot = reach + 1 + payload;
    if payload < 10 || bytes.get(second_dot) != Some(&b'.') {
        return (false, reach);
    }
    let signature = run(bytes, second_dot + 1, base64url, 1024);
    (signature >= 16 && ends(bytes, second_dot + 1 + signature, |b| base64url(b) || b == b'.'), reach)
}

/// `scheme://user:password@host`, the password not a placeholder; and how
/// far it looked.
fn url_with_password(bytes: &[u8], start: usize, end: usize) -> (bool, usize) {
    // a scheme right before "://": a letter, then letters, digits, + - .
    let scheme = bytes[..start].iter().rev().take(32).take_while(|b| alnum(**b) || b"+-.".contains(b)).count();
    if scheme == 0 || !bytes[start - scheme].is_ascii_alphabetic() {
        return (false, end);
    }
    // the authority's userinfo: up to '@', without '/', '?', '#', whitespace, or
    // what ends a URL quoted in JSON, YAML or a shell line (so a URL's userinfo
    // is never read across into the next value)
    let userinfo_len = bytes[end..].iter().take(256).position(|b| {
        matches!(b, b'@' | b'/' | b'?' | b'#' | b'"' | b'\'' | b'\\' | b'<' | b'>' | b'{' | b'}' | b'|' | b'^' | b'`')
            || matches!(b, b'[' | b']' | b',' | b';')
            || b.is_ascii_whitespace()
            || b.is_ascii_control()
    });
    let Some(len) = userinfo_len.filter(|n| bytes.get(end + n) == Some(&b'@')) else {
        return (false, end + userinfo_len.unwrap_or(256.min(bytes.len() - end)));
    };
    let userinfo = &bytes[end..end + len];
    let Some(colon) = userinfo.iter().position(|b| *b == b':') else { return (false, end + len) };
    // the user may be empty: `redis://:password@host` is how Redis takes one
    let password = &userinfo[colon + 1..];
    let host = bytes.get(end + len + 1).is_some_and(|b| alnum(*b) || *b == b'[');
    (!password.is_empty() && host && !placeholder(password), end + len)
}

/// A template or a mask, not a password: `${X}`, `$(X)`, `{{ x }}`, `<x>`,
/// `%s`, `****`.
fn placeholder(password: &[u8]) -> bool {
    matches!(password.first(), Some(b'$' | b'{' | b'<' | b'%')) || password.iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests;
