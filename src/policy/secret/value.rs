//! Secret values as the rules read them: decoded bytes, or base64 text that
//! is decoded only when a rule needs the bytes. Size needs only the decoded
//! length, keys only names: a 1 MiB value is never decoded to validate it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// One value of `data` (or `stringData`).
#[derive(Clone, Copy, Debug)]
pub enum SecretValue<'a> {
    /// Already bytes (`stringData`, or a decoded k8s-openapi Secret).
    Bytes(&'a [u8]),
    /// Valid base64 text, as in the AdmissionReview's JSON.
    Base64(&'a str),
}

impl<'a> SecretValue<'a> {
    /// The decoded length.
    pub fn len(&self) -> usize {
        match self {
            SecretValue::Bytes(b) => b.len(),
            SecretValue::Base64(s) => {
                let padding = s.bytes().rev().take_while(|b| *b == b'=').count();
                s.len() / 4 * 3 - padding
            }
        }
    }

    /// Whether the decoded value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoded bytes (decoding now, for base64).
    pub fn bytes(self) -> Cow<'a, [u8]> {
        match self {
            SecretValue::Bytes(b) => Cow::Borrowed(b),
            // validated when it was read, so this cannot fail
            SecretValue::Base64(s) => {
                Cow::Owned(base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default())
            }
        }
    }
}

impl PartialEq for SecretValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SecretValue::Base64(a), SecretValue::Base64(b)) => a == b,
            _ => self.bytes() == other.bytes(),
        }
    }
}

/// Base64 text, checked when read: the alphabet of RFC 4648 §4 with
/// padding, as Kubernetes writes `[]byte` fields. A JSON `null` is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Base64(pub String);

/// Whether `s` is standard, padded base64. A loop of range checks (no
/// table) so the compiler vectorises it: cheap even for 1.4 MB.
pub fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let padding = b.iter().rev().take_while(|c| **c == b'=').count();
    if padding > 2 {
        return false;
    }
    // no early exit and no branches: LLVM turns this into SIMD compares
    let invalid = b[..b.len() - padding].iter().fold(0u8, |acc, &c| {
        let upper = c.wrapping_sub(b'A') < 26;
        let lower = c.wrapping_sub(b'a') < 26;
        let digit = c.wrapping_sub(b'0') < 10;
        acc | u8::from(!(upper | lower | digit | (c == b'+') | (c == b'/')))
    });
    invalid == 0
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        if is_base64(&text) {
            Ok(Base64(text))
        } else {
            // never quote the value
            Err(serde::de::Error::custom("Invalid base64: not valid base64"))
        }
    }
}

/// A Secret as it arrives in an AdmissionReview, values still base64.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedSecret {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `type`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `immutable`.
    #[serde(default)]
    pub immutable: Option<bool>,
    /// `data`, base64.
    #[serde(default)]
    pub data: Option<BTreeMap<String, Base64>>,
    /// `stringData` (only in hand-written input: the API server folds it).
    #[serde(default)]
    pub string_data: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_lengths_without_decoding() {
        for raw in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0u8; 1000]] {
            let text = base64::engine::general_purpose::STANDARD.encode(raw);
            let value = SecretValue::Base64(&text);
            assert_eq!(value.len(), raw.len());
            assert_eq!(&*value.bytes(), raw);
        }
    }

    #[test]
    fn base64_is_checked_when_read() {
        for ok in ["", "aGk=", "aA==", "YWJj", "+/+/"] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["a", "aGk", "aG=k", "a===", "hunter2!", "aGk=\n", "a b="] {
            assert!(!is_base64(bad), "{bad}");
        }
        let secret: EncodedSecret = serde_json::from_str(r#"{"data": {"a": "aGk=", "n": null}}"#).unwrap();
        assert_eq!(secret.data.unwrap()["n"], Base64(String::new()));
        let err = serde_json::from_str::<EncodedSecret>(r#"{"data": {"a": "hunter2!"}}"#).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn values_compare_by_content() {
        assert_eq!(SecretValue::Base64("aGk="), SecretValue::Bytes(b"hi"));
        assert_ne!(SecretValue::Base64("aGk="), SecretValue::Base64("aGl="));
    }
}
