//! Secret values as the rules read them: decoded bytes, or base64 text that
//! is decoded only when a rule needs the bytes. Size needs only the decoded
//! length, keys only names: a 1 MiB value is never decoded to validate it.
//!
//! On CREATE a large value that no rule reads is not even copied out of the
//! request body: it is checked as base64 where it lies and kept as its
//! decoded length ([`eliding_large_values`]).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

/// One value of `data` (or `stringData`).
#[derive(Clone, Copy, Debug)]
pub enum SecretValue<'a> {
    /// Already bytes (`stringData`, or a decoded k8s-openapi Secret).
    Bytes(&'a [u8]),
    /// Valid base64 text, as in the AdmissionReview's JSON.
    Base64(&'a str),
    /// Valid base64 of this decoded length, not kept: a large value of a
    /// CREATE that no rule reads (see [`eliding_large_values`]).
    Elided(usize),
}

impl<'a> SecretValue<'a> {
    /// The decoded length.
    pub fn len(&self) -> usize {
        match self {
            SecretValue::Bytes(b) => b.len(),
            SecretValue::Base64(s) => decoded_len(s),
            SecretValue::Elided(len) => *len,
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
            // never read: only keys no rule reads past their size are elided
            SecretValue::Elided(_) => Cow::Borrowed(&[]),
        }
    }
}

/// The decoded length of valid base64 text.
fn decoded_len(s: &str) -> usize {
    let padding = s.bytes().rev().take_while(|b| *b == b'=').count();
    s.len() / 4 * 3 - padding
}

impl PartialEq for SecretValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // unknown content is never the same (only CREATE elides: nothing compares it)
            (SecretValue::Elided(_), _) | (_, SecretValue::Elided(_)) => false,
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
    /// `data`, base64 (large values no rule reads elided on CREATE).
    #[serde(default, deserialize_with = "data_map")]
    pub data: Option<BTreeMap<String, DataValue>>,
    /// `stringData` (only in hand-written input: the API server folds it).
    #[serde(default)]
    pub string_data: Option<BTreeMap<String, String>>,
}

/// One value of a Secret's `data` as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataValue {
    /// The base64 text.
    Text(Base64),
    /// Valid base64 of this decoded length, not kept.
    Elided(usize),
}

impl DataValue {
    /// As the rules read it.
    pub fn value(&self) -> SecretValue<'_> {
        match self {
            DataValue::Text(text) => SecretValue::Base64(&text.0),
            DataValue::Elided(len) => SecretValue::Elided(*len),
        }
    }
}

/// Keys whose values rules read whatever their size: the TLS pair
/// (`secret-hygiene`) and the registry configurations (`secret-type`).
const READ_WHOLE: [&str; 4] = ["tls.crt", "tls.key", ".dockercfg", ".dockerconfigjson"];

/// Values up to this size are kept: `secret-hygiene` reads other keys' values
/// up to it (the `echo` newline check).
const KEEP_MAX_BYTES: usize = 64 * 1024;

thread_local! {
    static ELIDE: Cell<bool> = const { Cell::new(false) };
}

/// Run `parse` with the elision of large values on: a value over
/// [`KEEP_MAX_BYTES`] decoded, under a key not in [`READ_WHOLE`], is checked
/// as base64 and kept as its length. For the `object` of a CREATE only (no
/// rule compares its values with anything): a 1 MiB Secret is then never
/// copied out of the body.
pub(crate) fn eliding_large_values<T>(parse: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ELIDE.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(ELIDE.with(|e| e.replace(true)));
    parse()
}

/// `data`: a map of base64 values (or `null`).
fn data_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<BTreeMap<String, DataValue>>, D::Error> {
    struct DataMap;
    impl<'de> Visitor<'de> for DataMap {
        type Value = Option<BTreeMap<String, DataValue>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let elide = ELIDE.with(Cell::get);
            let mut data = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                let keep = !elide || READ_WHOLE.contains(&key.as_str());
                let value = map.next_value_seed(Value { keep })?;
                data.insert(key, value);
            }
            Ok(Some(data))
        }
    }
    deserializer.deserialize_option(DataMap)
}

/// One `data` value: base64 text, checked where it lies in the body.
struct Value {
    keep: bool,
}

impl Value {
    fn take<E: serde::de::Error>(&self, text: &str) -> Result<DataValue, E> {
        if !is_base64(text) {
            // never quote the value
            return Err(E::custom("Invalid base64: not valid base64"));
        }
        let len = decoded_len(text);
        Ok(match self.keep || len <= KEEP_MAX_BYTES {
            true => DataValue::Text(Base64(text.to_owned())),
            false => DataValue::Elided(len),
        })
    }
}

impl<'de> DeserializeSeed<'de> for Value {
    type Value = DataValue;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<DataValue, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Value {
    type Value = DataValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<DataValue, E> {
        Ok(DataValue::Text(Base64::default()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<DataValue, E> {
        Ok(DataValue::Text(Base64::default()))
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<DataValue, D::Error> {
        deserializer.deserialize_str(self)
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DataValue, E> {
        self.take(text)
    }
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
        assert_eq!(secret.data.unwrap()["n"], DataValue::Text(Base64(String::new())));
        let err = serde_json::from_str::<EncodedSecret>(r#"{"data": {"a": "hunter2!"}}"#).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn on_create_large_values_no_rule_reads_are_kept_as_their_length() {
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        let body = serde_json::json!({"data": {"blob": b64(KEEP_MAX_BYTES + 1), "small": b64(KEEP_MAX_BYTES),
            "tls.crt": b64(200_000), "n": null}})
        .to_string();
        let read = || serde_json::from_str::<EncodedSecret>(&body).unwrap().data.unwrap();
        let elided = eliding_large_values(read);
        assert_eq!(elided["blob"], DataValue::Elided(KEEP_MAX_BYTES + 1));
        assert_eq!(elided["blob"].value().len(), KEEP_MAX_BYTES + 1);
        assert!(matches!(elided["small"], DataValue::Text(_)) && matches!(elided["tls.crt"], DataValue::Text(_)));
        assert_eq!(elided["n"], DataValue::Text(Base64::default()));
        // outside a CREATE's object (and after one) everything is kept
        assert!(read().values().all(|v| matches!(v, DataValue::Text(_))));
        // an elided value is still checked as base64, without quoting it
        let bad = format!(r#"{{"data": {{"blob": "{}!"}}}}"#, "QUJD".repeat(KEEP_MAX_BYTES));
        let err = eliding_large_values(|| serde_json::from_str::<EncodedSecret>(&bad).unwrap_err().to_string());
        assert!(err.starts_with("Invalid base64: not valid base64"), "{err}");
        // and it equals nothing
        assert_ne!(elided["blob"].value(), elided["blob"].value());
    }

    #[test]
    fn values_compare_by_content() {
        assert_eq!(SecretValue::Base64("aGk="), SecretValue::Bytes(b"hi"));
        assert_ne!(SecretValue::Base64("aGk="), SecretValue::Base64("aGl="));
    }
}
