//! `secret-size`: the decoded data bytes must not exceed `maxBytes`.

use super::SecretData;
use crate::policy::{Finding, RuleId};

pub(super) fn check(secret: &SecretData<'_>, max_bytes: u64) -> Option<Finding> {
    let total: u64 = secret.data.values().map(|v| v.len() as u64).sum();
    (total > max_bytes).then(|| {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        Finding::violation(
            RuleId::SecretSize,
            "data",
            format!("Too long: may not be more than {max_bytes} {unit} (got {total})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;

    fn check_sizes(sizes: &[usize], max: u64) -> Option<String> {
        let values: Vec<Vec<u8>> = sizes.iter().map(|n| vec![b'x'; *n]).collect();
        let keys: Vec<String> = (0..sizes.len()).map(|i| format!("k{i}")).collect();
        let data: Vec<(&str, &[u8])> = keys.iter().map(String::as_str).zip(values.iter().map(Vec::as_slice)).collect();
        let s = secret("Opaque", &data);
        check(&SecretData::of(&s), max).map(|f| f.text())
    }

    #[test]
    fn exactly_one_mebibyte_is_allowed() {
        assert_eq!(check_sizes(&[1_048_576], 1_048_576), None);
        assert_eq!(check_sizes(&[524_288, 524_288], 1_048_576), None);
    }

    #[test]
    fn one_byte_more_is_denied_with_upstreams_message() {
        assert_eq!(
            check_sizes(&[1_048_576, 1], 1_048_576).as_deref(),
            Some("[secret-size] data: Too long: may not be more than 1048576 bytes (got 1048577)")
        );
    }

    #[test]
    fn keys_do_not_count_and_max_is_configurable() {
        let long_key = "k".repeat(200);
        let s = secret("Opaque", &[(&long_key, b"abc")]);
        assert!(check(&SecretData::of(&s), 3).is_none());
        assert!(check(&SecretData::of(&s), 2).is_some());
        assert!(check_sizes(&[2], 1).unwrap().contains("more than 1 byte (got 2)"));
    }

    #[test]
    fn string_data_counts_once_after_folding() {
        let mut s = secret("Opaque", &[("a", &[b'x'; 10])]);
        s.string_data = Some([("a".to_string(), "yy".to_string())].into());
        assert!(check(&SecretData::of(&s), 2).is_none());
    }
}
