//! `secret-legacy-token` (policy.md §4): CREATE of a Secret of type
//! `kubernetes.io/service-account-token`, a long-lived, non-expiring token
//! kept in a readable API object. Upstream's advice: create one only where
//! the TokenRequest API cannot be used.

use super::SecretData;
use crate::policy::view::SERVICE_ACCOUNT_TOKEN_TYPE;
use crate::policy::{Finding, RuleId};

pub(super) fn check(secret: &SecretData<'_>) -> Option<Finding> {
    (secret.secret_type == SERVICE_ACCOUNT_TOKEN_TYPE).then(|| {
        Finding::violation(
            RuleId::SecretLegacyToken,
            "type",
            "a service-account-token Secret holds a token that never expires; \
             prefer the TokenRequest API (kubectl create token, projected serviceAccountToken volumes)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;

    #[test]
    fn only_token_secrets() {
        let token = secret(SERVICE_ACCOUNT_TOKEN_TYPE, &[]);
        let finding = check(&SecretData::of(&token)).expect("a finding");
        assert_eq!(finding.field, "type");
        assert!(finding.text().starts_with("[secret-legacy-token] type: a service-account-token Secret"));
        assert!(finding.text().chars().count() <= 256, "fits one warning: {}", finding.text());
        for other in ["Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"] {
            assert!(check(&SecretData::of(&secret(other, &[]))).is_none(), "{other}");
        }
    }
}
