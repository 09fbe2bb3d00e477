//! `secret-type`: upstream's per-type structure (`ValidateSecret`).

use super::{SecretData, data_path};
use crate::policy::view::{SERVICE_ACCOUNT_NAME, SERVICE_ACCOUNT_TOKEN_TYPE};
use crate::policy::{Finding, RuleId};

fn required(field: String) -> Finding {
    Finding::violation(RuleId::SecretType, field, "Required value")
}

pub(super) fn check(secret: &SecretData<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    match secret.secret_type {
        SERVICE_ACCOUNT_TOKEN_TYPE => {
            let named = secret.annotations.and_then(|a| a.get(SERVICE_ACCOUNT_NAME)).is_some_and(|v| !v.is_empty());
            if !named {
                findings.push(required(format!("metadata.annotations[{SERVICE_ACCOUNT_NAME}]")));
            }
        }
        "kubernetes.io/dockercfg" => findings.extend(json_object(secret, ".dockercfg")),
        "kubernetes.io/dockerconfigjson" => findings.extend(json_object(secret, ".dockerconfigjson")),
        "kubernetes.io/basic-auth" if secret.get("username").is_none() && secret.get("password").is_none() => {
            findings.push(required(data_path("username")));
            findings.push(required(data_path("password")));
        }
        "kubernetes.io/ssh-auth" if secret.get("ssh-privatekey").is_none_or(|v| v.is_empty()) => {
            findings.push(required(data_path("ssh-privatekey")));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if secret.get(key).is_none() {
                    findings.push(required(data_path(key)));
                }
            }
        }
        _ => {}
    }
    findings
}

/// Upstream requires the value to unmarshal into a Go `map[string]interface{}`.
fn json_object(secret: &SecretData<'_>, key: &str) -> Option<Finding> {
    let Some(value) = secret.get(key) else {
        return Some(required(data_path(key)));
    };
    go_map_unmarshal_error(&value.bytes()).map(|error| {
        Finding::violation(RuleId::SecretType, data_path(key), format!("Invalid value: \"<redacted>\": {error}"))
    })
}

/// Why Go's `json.Unmarshal` into a map would fail, in Go's words: a syntax
/// error names the offending character, as Go's does, never more of the value.
/// `None` when it would succeed: any object, or `null`.
pub(crate) fn go_map_unmarshal_error(value: &[u8]) -> Option<String> {
    let trimmed = value.trim_ascii();
    if trimmed.is_empty() {
        return Some("unexpected end of JSON input".to_string());
    }
    if let Some(error) = super::go_json::syntax_error(trimmed) {
        return Some(error);
    }
    let found = match trimmed[0] {
        b'{' | b'n' => return None,
        b'[' => "array",
        b'"' => "string",
        b't' | b'f' => "bool",
        _ => "number",
    };
    Some(format!("json: cannot unmarshal {found} into Go value of type map[string]interface {{}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::secret::test_support::secret;

    fn texts(type_: &str, data: &[(&str, &[u8])]) -> Vec<String> {
        check(&SecretData::of(&secret(type_, data))).iter().map(Finding::text).collect()
    }

    #[test]
    fn dockerconfigjson_accepts_objects_and_null() {
        for ok in [&b"{}"[..], b"null", b" {\"auths\":{}} ", b"{\"a\":1,\"a\":2}"] {
            assert!(texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", ok)]).is_empty(), "{ok:?}");
        }
    }

    #[test]
    fn dockerconfigjson_rejects_everything_else_without_echoing() {
        let cases: &[(&[u8], &str)] = &[
            (b"[]", "json: cannot unmarshal array into Go value of type map[string]interface {}"),
            (b"\"hunter2\"", "json: cannot unmarshal string into Go value of type map[string]interface {}"),
            (b"42", "json: cannot unmarshal number into Go value of type map[string]interface {}"),
            (b"", "unexpected end of JSON input"),
            (b"{\"auths\":", "unexpected end of JSON input"),
            (b"hunter2", "invalid character 'h' looking for beginning of value"),
            (b"{\"auths\":{}} hunter2", "invalid character 'h' after top-level value"),
        ];
        for (value, error) in cases {
            let got = texts("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", value)]);
            assert_eq!(
                got,
                vec![format!("[secret-type] data[.dockerconfigjson]: Invalid value: \"<redacted>\": {error}")],
                "{value:?}"
            );
            assert!(!got[0].contains("hunter2"));
        }
    }

    #[test]
    fn docker_types_require_their_key() {
        assert_eq!(texts("kubernetes.io/dockercfg", &[]), vec!["[secret-type] data[.dockercfg]: Required value"]);
        assert_eq!(
            texts("kubernetes.io/dockerconfigjson", &[(".dockercfg", b"{}")]),
            vec!["[secret-type] data[.dockerconfigjson]: Required value"]
        );
    }

    #[test]
    fn basic_auth_needs_one_of_username_password() {
        assert_eq!(
            texts("kubernetes.io/basic-auth", &[]),
            vec!["[secret-type] data[username]: Required value", "[secret-type] data[password]: Required value"]
        );
        assert!(texts("kubernetes.io/basic-auth", &[("username", b"")]).is_empty());
        assert!(texts("kubernetes.io/basic-auth", &[("password", b"x")]).is_empty());
    }

    #[test]
    fn ssh_auth_needs_a_non_empty_key() {
        let want = vec!["[secret-type] data[ssh-privatekey]: Required value"];
        assert_eq!(texts("kubernetes.io/ssh-auth", &[]), want);
        assert_eq!(texts("kubernetes.io/ssh-auth", &[("ssh-privatekey", b"")]), want);
        assert!(texts("kubernetes.io/ssh-auth", &[("ssh-privatekey", b"k")]).is_empty());
    }

    #[test]
    fn tls_needs_both_keys_but_not_values() {
        assert_eq!(
            texts("kubernetes.io/tls", &[]),
            vec!["[secret-type] data[tls.crt]: Required value", "[secret-type] data[tls.key]: Required value"]
        );
        assert_eq!(
            texts("kubernetes.io/tls", &[("tls.crt", b"")]),
            vec!["[secret-type] data[tls.key]: Required value"]
        );
        assert!(texts("kubernetes.io/tls", &[("tls.crt", b""), ("tls.key", b"")]).is_empty());
    }

    #[test]
    fn service_account_tokens_need_the_annotation() {
        let want = vec!["[secret-type] metadata.annotations[kubernetes.io/service-account.name]: Required value"];
        assert_eq!(texts(SERVICE_ACCOUNT_TOKEN_TYPE, &[]), want);
        let mut s = secret(SERVICE_ACCOUNT_TOKEN_TYPE, &[]);
        s.metadata.annotations = Some([(SERVICE_ACCOUNT_NAME.to_string(), String::new())].into());
        assert_eq!(check(&SecretData::of(&s)).len(), 1);
        s.metadata.annotations = Some([(SERVICE_ACCOUNT_NAME.to_string(), "builder".into())].into());
        assert!(check(&SecretData::of(&s)).is_empty());
    }

    #[test]
    fn other_types_have_no_structure() {
        for t in ["Opaque", "bootstrap.kubernetes.io/token", "example.com/anything"] {
            assert!(texts(t, &[]).is_empty(), "{t}");
        }
    }
}
