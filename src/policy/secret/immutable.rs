//! `secret-immutable`: on UPDATE the type may not change, and an immutable
//! Secret keeps `immutable: true` and its data (`ValidateSecretUpdate`).

use super::SecretData;
use crate::policy::names::go_quote;
use crate::policy::{Finding, RuleId};

const FORBIDDEN: &str = "Forbidden: field is immutable when `immutable` is set";

pub(super) fn check(new: &SecretData<'_>, old: &SecretData<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    if new.secret_type != old.secret_type {
        findings.push(Finding::violation(
            RuleId::SecretImmutable,
            "type",
            format!("Invalid value: {}: field is immutable", go_quote(new.secret_type)),
        ));
    }
    if old.immutable {
        if !new.immutable {
            findings.push(Finding::violation(RuleId::SecretImmutable, "immutable", FORBIDDEN));
        }
        // An absent and an empty `data` are the same Secret on the wire.
        if new.data != old.data {
            findings.push(Finding::violation(RuleId::SecretImmutable, "data", FORBIDDEN));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;

    fn texts(new: &k8s_openapi::api::core::v1::Secret, old: &k8s_openapi::api::core::v1::Secret) -> Vec<String> {
        check(&SecretData::of(new), &SecretData::of(old)).iter().map(Finding::text).collect()
    }

    #[test]
    fn type_may_not_change() {
        let old = secret("Opaque", &[]);
        let new = secret("kubernetes.io/tls", &[]);
        assert_eq!(
            texts(&new, &old),
            vec![r#"[secret-immutable] type: Invalid value: "kubernetes.io/tls": field is immutable"#]
        );
        let mut defaulted = secret("", &[]);
        defaulted.type_ = None;
        assert!(texts(&defaulted, &old).is_empty(), "an unset type is Opaque");
    }

    #[test]
    fn immutable_secrets_keep_flag_and_data() {
        let mut old = secret("Opaque", &[("a", b"1")]);
        old.immutable = Some(true);
        let mut same = old.clone();
        same.metadata.labels = Some([("l".to_string(), "v".to_string())].into());
        assert!(texts(&same, &old).is_empty(), "metadata may change");

        let mut unset = old.clone();
        unset.immutable = None;
        assert_eq!(
            texts(&unset, &old),
            vec!["[secret-immutable] immutable: Forbidden: field is immutable when `immutable` is set"]
        );

        let mut changed = old.clone();
        changed.data = Some([("a".to_string(), k8s_openapi::ByteString(b"2".to_vec()))].into());
        assert_eq!(
            texts(&changed, &old),
            vec!["[secret-immutable] data: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    #[test]
    fn mutable_secrets_may_change_and_become_immutable() {
        let old = secret("Opaque", &[("a", b"1")]);
        let mut new = secret("Opaque", &[("a", b"2")]);
        new.immutable = Some(true);
        assert!(texts(&new, &old).is_empty());
        let mut was_false = old.clone();
        was_false.immutable = Some(false);
        assert!(texts(&old, &was_false).is_empty());
    }
}
