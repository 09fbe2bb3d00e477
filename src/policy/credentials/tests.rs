//! Positive and negative cases per kind. Token-shaped strings are assembled
//! at run time, so the repository holds none that a secret scanner would flag.

use super::*;

fn kinds(text: &str) -> Vec<CredentialKind> {
    scan(text.as_bytes())
}

fn one(text: &str, kind: CredentialKind) {
    assert_eq!(kinds(text), vec![kind], "{text:?}");
}

fn none(text: &str) {
    assert_eq!(kinds(text), vec![], "{text:?}");
}

/// `n` characters cycling through `alphabet`.
fn chars(alphabet: &str, n: usize) -> String {
    alphabet.chars().cycle().take(n).collect()
}

const MIXED: &str = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY";

#[test]
fn pem_private_keys_but_not_certificates_or_public_keys() {
    for label in [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ] {
        one(&format!("key: |\n  -----BEGIN {label}-----\n  MIIEv...\n"), CredentialKind::PrivateKey);
    }
    none("-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n");
    none("-----BEGIN PUBLIC KEY-----\nMFkw...\n");
    none("-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQIN...\n");
    none(&format!("-----BEGIN {} KEY", "PRIVATE")); // no closing dashes
    none("the -----BEGIN marker");
}

#[test]
fn aws_access_key_ids_as_whole_words() {
    let id = format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE");
    one(&format!("aws_access_key_id={id}\n"), CredentialKind::AwsAccessKeyId);
    one(&format!("{}{}", "ASIA", "Y34FZKBOKMUTVV7A"), CredentialKind::AwsAccessKeyId);
    none(&format!("X{id}")); // inside a longer word
    none(&format!("{id}X")); // longer than a key id
    none(&format!("{}{}", "AKIA", "IOSFODNN7EXAMPL")); // 15 characters
    none(&format!("{}{}", "ASIA", "PACIFICREGIONABC")); // no digit: a word, not a key id
    none("ASIAN food, AKIA is a name");
}

#[test]
fn github_gitlab_slack_google_and_stripe_tokens() {
    one(&format!("token: {}{}", "ghp_", chars(MIXED, 36)), CredentialKind::GitHubToken);
    one(&format!("{}{}", "gho_", chars(MIXED, 36)), CredentialKind::GitHubToken);
    one(&format!("{}{}", "github_pat_", chars("11ABCDEFG0_abcdefghij", 82)), CredentialKind::GitHubToken);
    none(&format!("{}{}", "ghp_", chars(MIXED, 20))); // too short
    none(&format!("x{}{}", "ghp_", chars(MIXED, 36))); // inside a word
    one(&format!("{}{}", "glpat-", chars("xYz-12_AbC", 20)), CredentialKind::GitLabToken);
    none(&format!("{}{}", "glpat-", "short"));
    one(&format!("{}{}", "xoxb-", "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"), CredentialKind::SlackToken);
    none("xoxb-not-a-token-at-all");
    one(&format!("key={}{}", "AIza", chars("SyA1b2C3d4E5f6G7h8-_", 35)), CredentialKind::GoogleApiKey);
    none(&format!("{}{}", "AIza", chars("SyA1b2C3", 20)));
    one(&format!("{}{}", "sk_live_", chars(MIXED, 24)), CredentialKind::StripeLiveKey);
    one(&format!("{}{}", "rk_live_", chars(MIXED, 30)), CredentialKind::StripeLiveKey);
    none(&format!("{}{}", "sk_test_", chars(MIXED, 24))); // test keys are not live
}

#[test]
fn json_web_tokens_need_three_segments() {
    let jwt = format!(
        "{}.{}.{}",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        chars("dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk", 43)
    );
    one(&format!("Authorization: Bearer {jwt}"), CredentialKind::JsonWebToken);
    none("eyJhbGciOiJIUzI1NiJ9"); // a header alone
    none("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"); // no signature
    none("keyJsonFile.json.backup"); // eyJ inside a word
}

#[test]
fn urls_with_passwords_but_not_placeholders() {
    let url = format!("postgres://app:{}@db.internal:5432/app", "s3cr3t-Pa55");
    one(&url, CredentialKind::UrlWithPassword);
    one(&format!("amqp://guest:{}@[::1]/", "guest"), CredentialKind::UrlWithPassword);
    one(&format!("redis://:{}@cache:6379", "s3cr3t"), CredentialKind::UrlWithPassword); // Redis: no user
    // a URL's userinfo is never read across into the next value of JSON, YAML or a list
    for quoted in [
        r#"{"a": "http://host", "b": "u:pw@example.com"}"#,
        "urls: ['http://host', 'u:pw@example.com']",
        "http://host,u:pw@example.com",
        "http://host;u:pw@example.com",
        "<http://host>u:pw@example.com",
        "[http://host]u:pw@example.com",
    ] {
        none(quoted);
    }
    // and a URL that follows one without a password is still found
    one(
        &format!(r#"{{"a": "http://host", "b": "postgres://app:{}@db/app"}}"#, "s3cr3t"),
        CredentialKind::UrlWithPassword,
    );
    for clean in [
        "https://example.com/path?a=b@c",
        "https://user@example.com/",
        "postgres://app:${DB_PASSWORD}@db:5432/app",
        "postgres://app:{{ .Values.password }}@db/app",
        "redis://:****@cache:6379",
        "mailto:someone@example.com",
        "://user:pw@host", // no scheme
        "http://host:8080/a@b",
    ] {
        none(clean);
    }
}

#[test]
fn each_kind_once_in_order_of_first_occurrence() {
    let text = format!("url=postgres://u:p4ss@db/x\nkey={}{}\nagain=mysql://a:b1@h/\n", "AKIA", "IOSFODNN7EXAMPLE");
    assert_eq!(kinds(&text), vec![CredentialKind::UrlWithPassword, CredentialKind::AwsAccessKeyId]);
}

#[test]
fn a_value_made_of_prefixes_is_measured_in_linear_work() {
    // every position a hit: without the per-shape skip the work is quadratic
    for unit in ["eyJ", "AKIA", "ghp_", "://", "glpat-", "-----BEGIN ", "a://b", "eyJa.eyJb."] {
        let value = unit.repeat(100_000 / unit.len());
        let (found, work) = scan_measuring(value.as_bytes());
        assert!(found.len() <= 1, "{unit}: {found:?}");
        assert!(work <= 4 * value.len() + 4096, "{unit}: {work} bytes measured for {}", value.len());
    }
}

#[test]
fn binary_and_non_utf8_bytes_are_fine() {
    let mut bytes = vec![0xffu8, 0xfe, 0x00];
    bytes.extend_from_slice(format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE").as_bytes());
    bytes.push(0x80);
    assert_eq!(scan(&bytes), vec![CredentialKind::AwsAccessKeyId]);
    assert!(scan(&[]).is_empty());
}
