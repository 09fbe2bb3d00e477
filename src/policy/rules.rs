//! Rule identities and actions: the stable ids of contract §3 and §4.

use std::fmt;

/// A policy rule. The id (`as_str`) is part of the contract: it prefixes
/// every message, keys audit annotations and labels metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// `secret-size`: decoded data bytes within `maxBytes`.
    SecretSize,
    /// `secret-keys`: data keys are valid config keys.
    SecretKeys,
    /// `secret-type`: upstream's per-type structure.
    SecretType,
    /// `secret-immutable`: type and immutable Secrets do not change on UPDATE.
    SecretImmutable,
    /// `secret-hygiene`: valid but almost surely mistaken values.
    SecretHygiene,
    /// `pod-secret-exists`: every reference resolves in the Pod's namespace.
    PodSecretExists,
    /// `pod-secret-keys`: every referenced key exists.
    PodSecretKeys,
    /// `pod-mountable-secrets`: `kubernetes.io/enforce-mountable-secrets`.
    PodMountableSecrets,
    /// `pod-envfrom-names`: envFrom keys are valid environment variable names.
    PodEnvfromNames,
    /// `pod-secret-env`: a Secret consumed as environment variables (CIS 5.4.1).
    PodSecretEnv,
    /// `configmap-credentials`: a credential in a ConfigMap value or a literal env value.
    ConfigmapCredentials,
    /// `secret-legacy-token`: a new long-lived ServiceAccount token Secret.
    SecretLegacyToken,
}

impl RuleId {
    /// Every rule, in contract order.
    pub const ALL: [RuleId; 12] = [
        RuleId::SecretSize,
        RuleId::SecretKeys,
        RuleId::SecretType,
        RuleId::SecretImmutable,
        RuleId::SecretHygiene,
        RuleId::PodSecretExists,
        RuleId::PodSecretKeys,
        RuleId::PodMountableSecrets,
        RuleId::PodEnvfromNames,
        RuleId::PodSecretEnv,
        RuleId::ConfigmapCredentials,
        RuleId::SecretLegacyToken,
    ];

    /// The stable id, e.g. `secret-size`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleId::SecretSize => "secret-size",
            RuleId::SecretKeys => "secret-keys",
            RuleId::SecretType => "secret-type",
            RuleId::SecretImmutable => "secret-immutable",
            RuleId::SecretHygiene => "secret-hygiene",
            RuleId::PodSecretExists => "pod-secret-exists",
            RuleId::PodSecretKeys => "pod-secret-keys",
            RuleId::PodMountableSecrets => "pod-mountable-secrets",
            RuleId::PodEnvfromNames => "pod-envfrom-names",
            RuleId::PodSecretEnv => "pod-secret-env",
            RuleId::ConfigmapCredentials => "configmap-credentials",
            RuleId::SecretLegacyToken => "secret-legacy-token",
        }
    }

    /// Parse a rule id as written in the policy file.
    pub fn parse(id: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == id)
    }

    /// The action a rule takes when the policy file does not name it.
    pub const fn default_action(self) -> Action {
        match self {
            RuleId::SecretHygiene
            | RuleId::PodEnvfromNames
            | RuleId::ConfigmapCredentials
            | RuleId::SecretLegacyToken => Action::Warn,
            RuleId::PodSecretEnv => Action::Audit,
            _ => Action::Deny,
        }
    }

    /// Whether a denial by this rule means an invalid object (HTTP 422) or a
    /// forbidden reference (HTTP 403).
    pub const fn denial(self) -> Denial {
        match self {
            RuleId::SecretSize
            | RuleId::SecretKeys
            | RuleId::SecretType
            | RuleId::SecretImmutable
            | RuleId::SecretHygiene
            | RuleId::SecretLegacyToken
            | RuleId::ConfigmapCredentials => Denial::Invalid,
            RuleId::PodSecretExists
            | RuleId::PodSecretKeys
            | RuleId::PodMountableSecrets
            | RuleId::PodEnvfromNames
            | RuleId::PodSecretEnv => Denial::Forbidden,
        }
    }

    /// Whether this is one of the Pod reference rules (exists, keys,
    /// mountable, envFrom names), whose violations are also Events.
    pub const fn is_reference_rule(self) -> bool {
        matches!(
            self,
            RuleId::PodSecretExists | RuleId::PodSecretKeys | RuleId::PodMountableSecrets | RuleId::PodEnvfromNames
        )
    }

    /// Position in [`RuleId::ALL`], for per-rule tables.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule does with its violations (contract §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Deny the request.
    Deny,
    /// Allow, with one warning per violation.
    Warn,
    /// Allow, with an audit annotation keyed by the rule id.
    Audit,
    /// Do not evaluate the rule.
    Off,
    /// Allow: the requester is exempt from the rule (contract §4.1). Never
    /// configured as a rule's action; the violation is still counted and
    /// named in an audit annotation.
    Exempt,
}

impl Action {
    /// Every action a policy file may set, in the order it documents them.
    pub const ALL: [Action; 4] = [Action::Deny, Action::Warn, Action::Audit, Action::Off];

    /// The name used in the policy file and in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Audit => "audit",
            Action::Off => "off",
            Action::Exempt => "exempt",
        }
    }

    /// Parse an action as written in the policy file.
    pub fn parse(value: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.as_str() == value)
    }
}

/// The class of a denial, which picks `status.code` and `status.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The object itself is invalid: 422 `Invalid`.
    Invalid,
    /// The object references something it may not: 403 `Forbidden`.
    Forbidden,
}

impl Denial {
    /// The HTTP status code for `status.code`.
    pub const fn code(self) -> u16 {
        match self {
            Denial::Invalid => 422,
            Denial::Forbidden => 403,
        }
    }

    /// The machine-readable `status.reason`.
    pub const fn reason(self) -> &'static str {
        match self {
            Denial::Invalid => "Invalid",
            Denial::Forbidden => "Forbidden",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_index_matches_order() {
        for (i, rule) in RuleId::ALL.into_iter().enumerate() {
            assert_eq!(RuleId::parse(rule.as_str()), Some(rule));
            assert_eq!(rule.index(), i);
        }
        assert_eq!(RuleId::parse("secret-sizes"), None);
    }

    #[test]
    fn ids_are_valid_audit_annotation_keys() {
        // the apiserver drops audit annotation keys that are not a qualified-name part
        for rule in RuleId::ALL {
            let id = rule.as_str();
            assert!(id.len() <= 63 && id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }
}
