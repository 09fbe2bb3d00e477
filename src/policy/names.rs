//! Name and value validators ported from upstream Kubernetes
//! (`k8s.io/apimachinery/pkg/util/validation`), with upstream's exact messages.
//!
//! Everything here is pure string work; no regex engine is needed for these
//! character classes.

/// Upstream `DNS1123SubdomainMaxLength`, the longest valid Secret key.
pub const MAX_KEY_LEN: usize = 253;

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
     (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// Upstream's message for a name that fails [`is_env_var_name`].
pub const ENV_VAR_NAME_MSG: &str = "a valid environment variable name must consist of alphabetic characters, \
     digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  \
     or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// Upstream `hasChDirPrefix`: the message for `.`, `..` and `..x`, if any.
fn chdir_prefix_message(value: &str) -> Option<&'static str> {
    match value {
        "." => Some("must not be '.'"),
        ".." => Some("must not be '..'"),
        v if v.starts_with("..") => Some("must not start with '..'"),
        _ => None,
    }
}

/// Upstream `IsConfigMapKey`: every reason `key` is not a valid Secret/ConfigMap
/// data key, in upstream's order. Empty when the key is valid.
pub fn config_map_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if key.len() > MAX_KEY_LEN {
        errors.push(format!("must be no more than {MAX_KEY_LEN} characters"));
    }
    if key.is_empty() || !key.chars().all(is_key_char) {
        errors.push(CONFIG_KEY_MSG.to_string());
    }
    if let Some(msg) = chdir_prefix_message(key) {
        errors.push(msg.to_string());
    }
    errors
}

/// Upstream `IsEnvVarName` (the strict rule): `[-._a-zA-Z][-._a-zA-Z0-9]*`,
/// and not `.`, `..` or starting with `..`.
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || matches!(first, '-' | '.' | '_'))
        && chars.all(is_key_char)
        && chdir_prefix_message(name).is_none()
}

/// Upstream `IsRelaxedEnvVarName` (Kubernetes 1.30+): non-empty, printable
/// ASCII (space included) except `=`.
pub fn is_relaxed_env_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'=')
}

/// A valid RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Go's `strconv.ParseBool`, which upstream uses for
/// `kubernetes.io/enforce-mountable-secrets`. `None` when the value does not parse.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Quote a string the way Go's `%q` does for the characters that matter here,
/// so `Invalid value: "a*b"` reads exactly as upstream prints it.
pub fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Shorten a user-supplied name for display in a message: names over
/// `MAX_SHOWN` characters (hostile or absurd input) are cut, with their
/// length stated, so one key cannot blow up an answer.
pub fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    const MAX_SHOWN: usize = 300;
    if value.len() <= MAX_SHOWN {
        return value.into();
    }
    let mut end = 64;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...({} bytes)", &value[..end], value.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_map_keys_follow_upstream_table() {
        // (key, valid) from reference/kubernetes.md Part A §1.3
        let cases: &[(&str, bool)] = &[
            ("key", true),
            (".key", true),
            ("a..b", true),
            ("key..", true),
            (".so.is.this", true),
            ("KEY_NAME", true),
            ("key-name", true),
            (".", false),
            ("..", false),
            ("..x", false),
            ("", false),
            ("a*b", false),
            ("key\n", false),
            ("with space", false),
            ("ünïcode", false),
        ];
        for (key, valid) in cases {
            assert_eq!(config_map_key_errors(key).is_empty(), *valid, "key {key:?}");
        }
    }

    #[test]
    fn key_length_limit_is_253() {
        assert!(config_map_key_errors(&"a".repeat(253)).is_empty());
        assert_eq!(config_map_key_errors(&"a".repeat(254)), vec!["must be no more than 253 characters".to_string()]);
    }

    #[test]
    fn config_key_messages_are_upstreams() {
        assert_eq!(config_map_key_errors("."), vec!["must not be '.'"]);
        assert_eq!(config_map_key_errors(".."), vec!["must not be '..'"]);
        assert_eq!(config_map_key_errors("..x"), vec!["must not start with '..'"]);
        assert_eq!(
            config_map_key_errors("a*b"),
            vec![
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  \
                 or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        // one key can fail several checks at once, as upstream reports them all
        assert_eq!(config_map_key_errors(&format!("..{}", "*".repeat(260))).len(), 3);
    }

    #[test]
    fn strict_env_names() {
        for ok in ["GOOD", "_x", "my.env-name", "MY_ENV.NAME", "MyEnvName1", "-dash", ".dot", "P_1badkey"] {
            assert!(is_env_var_name(ok), "{ok:?} should be valid");
        }
        for bad in ["1badkey", "2alsobad", "", ".", "..", "..x", "a b", "a=b", "é"] {
            assert!(!is_env_var_name(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn relaxed_env_names() {
        for ok in ["1badkey", "a b", " ", "..", "~!@#$%^&*()"] {
            assert!(is_relaxed_env_var_name(ok), "{ok:?} should be valid");
        }
        for bad in ["", "a=b", "tab\there", "é", "nul\0"] {
            assert!(!is_relaxed_env_var_name(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for other in ["yes", "enabled", "tRUE", "", " true"] {
            assert_ne!(parse_go_bool(other), Some(true), "{other:?}");
        }
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns1123_label("a"));
        assert!(is_dns1123_label(&"a".repeat(63)));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label("A"));
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a*b"), "\"a*b\"");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    }

    #[test]
    fn long_names_are_shortened_for_display() {
        let long = "k".repeat(1_000_000);
        let s = shown(&long);
        assert!(s.len() < 100, "{}", s.len());
        assert!(s.ends_with("(1000000 bytes)"));
        assert_eq!(shown("short"), "short");
    }
}
