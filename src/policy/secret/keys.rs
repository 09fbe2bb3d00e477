//! `secret-keys`: every data key is a valid config key (upstream `IsConfigMapKey`).

use super::{SecretData, data_path};
use crate::policy::names::{config_map_key_errors, go_quote, shown};
use crate::policy::{Finding, RuleId};

/// Past this many, a bad key is counted but not described: no answer shows
/// more (see `decide`), and a Secret of 100,000 bad keys would otherwise hold
/// 100,000 messages while it is reviewed.
const DESCRIBED: usize = crate::policy::decision::MAX_DENIAL_TEXTS;

pub(super) fn check(secret: &SecretData<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for key in secret.data.keys() {
        for reason in config_map_key_errors(key) {
            if findings.len() >= DESCRIBED {
                findings.push(Finding::violation(RuleId::SecretKeys, String::new(), String::new()));
                continue;
            }
            findings.push(Finding::violation(
                RuleId::SecretKeys,
                data_path(key),
                format!("Invalid value: {}: {reason}", go_quote(&shown(key))),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;

    fn texts(keys: &[&str]) -> Vec<String> {
        let data: Vec<(&str, &[u8])> = keys.iter().map(|k| (*k, &b"v"[..])).collect();
        check(&SecretData::of(&secret("Opaque", &data))).iter().map(Finding::text).collect()
    }

    #[test]
    fn valid_keys_pass() {
        assert!(texts(&[".key", "a..b", "key..", "tls.crt", "KEY_NAME", "key-name"]).is_empty());
        assert!(texts(&[&"a".repeat(253)]).is_empty());
    }

    #[test]
    fn invalid_keys_are_reported_with_upstream_wording() {
        assert_eq!(texts(&["."]), vec![r#"[secret-keys] data[.]: Invalid value: ".": must not be '.'"#]);
        assert_eq!(texts(&[".."]), vec![r#"[secret-keys] data[..]: Invalid value: "..": must not be '..'"#]);
        assert_eq!(texts(&["..x"]), vec![r#"[secret-keys] data[..x]: Invalid value: "..x": must not start with '..'"#]);
        let star = texts(&["a*b"]);
        assert_eq!(star.len(), 1);
        assert!(
            star[0].starts_with(r#"[secret-keys] data[a*b]: Invalid value: "a*b": a valid config key must consist"#)
        );
        let long = "a".repeat(254);
        assert_eq!(
            texts(&[&long]),
            vec![format!("[secret-keys] data[{long}]: Invalid value: \"{long}\": must be no more than 253 characters")]
        );
    }

    #[test]
    fn every_bad_key_is_reported() {
        assert_eq!(texts(&["a*b", ".", "good", "c d"]).len(), 3);
    }

    #[test]
    fn past_the_described_ones_bad_keys_are_counted() {
        let keys: Vec<String> = (0..200).map(|i| format!("bad*{i:03}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let texts = texts(&keys);
        assert_eq!(texts.len(), 200, "every bad key is a finding");
        assert!(texts[..DESCRIBED].iter().all(|t| t.contains("Invalid value")));
        assert!(texts[DESCRIBED..].iter().all(|t| t == "[secret-keys] "));
    }

    #[test]
    fn a_huge_key_does_not_make_a_huge_message() {
        let huge = "k".repeat(1_000_000);
        let all = texts(&[&huge]);
        assert_eq!(all.len(), 1);
        assert!(all[0].len() < 400, "{}", all[0].len());
    }
}
