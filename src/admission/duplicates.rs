//! One pass over a review body before it is decoded: refuse duplicate keys
//! in any JSON object, and `object`/`oldObject` that are not objects.
//!
//! The API server never sends either, but a direct caller can, and decoders
//! disagree on them (Go's merges a `spec` given twice, serde takes the last;
//! Go refuses `"object": []`). Refusing them with a 400 means no input reads
//! one way here and another way in the API server. The messages name the key
//! path, never a value.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::decode::Unusable;

/// Check `body`; `Ok` for anything that is not valid JSON too (the decoder
/// explains those).
pub fn check(body: &[u8]) -> Result<(), Unusable> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match (Node { path: &Path::Root }).deserialize(&mut deserializer) {
        Ok(()) => Ok(()),
        Err(error) => match error.to_string().strip_prefix(MARK) {
            Some(found) => Err(Unusable(found.split(" at line ").next().unwrap_or(found).to_string())),
            None => Ok(()),
        },
    }
}

/// Prefix of the errors this pass raises, to tell them from syntax errors.
const MARK: &str = "secretgate-duplicates: ";

/// Where a value is, for messages (`request.object.spec`).
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => write!(f, "{key}"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent) => write!(f, "{parent}[]"),
        }
    }
}

impl Path<'_> {
    /// `request.object` or `request.oldObject`: must be an object (or null).
    fn is_request_object(&self) -> bool {
        matches!(self, Path::Key(Path::Key(Path::Root, "request"), "object" | "oldObject"))
    }
}

/// One value at `path`.
struct Node<'p> {
    path: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Node<'_> {
    fn not_an_object<E: de::Error>(&self, what: &str) -> Result<(), E> {
        if self.path.is_request_object() {
            return Err(E::custom(format_args!("{MARK}{} must be a JSON object, not {what}", self.path)));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(()) // null: an absent object
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.not_an_object("an array")?;
        let path = Path::Index(self.path);
        while seq.next_element_seed(Node { path: &path })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(Key(key)) = map.next_key()? {
            if seen.contains(&key) {
                let path = Path::Key(self.path, key.as_ref());
                return Err(de::Error::custom(format_args!("{MARK}duplicate key {path}: each key may appear once")));
            }
            map.next_value_seed(Node { path: &Path::Key(self.path, key.as_ref()) })?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// The keys of one object: a short list, a set once it grows. Keys are
/// borrowed from the body (copied only when they hold escapes).
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    fn contains(&self, key: &str) -> bool {
        if self.many.is_empty() { self.few.iter().any(|k| k == key) } else { self.many.contains(key) }
    }

    fn insert(&mut self, key: Cow<'de, str>) {
        if self.many.is_empty() && self.few.len() < 16 {
            self.few.push(key);
            return;
        }
        if self.many.is_empty() {
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(key);
    }
}

/// A key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Option<String> {
        check(body.as_bytes()).err().map(|e| e.0)
    }

    #[test]
    fn a_duplicate_key_anywhere_is_named_by_its_path() {
        let spec_twice = r#"{"request": {"object": {"kind": "Pod", "spec": {"a": 1}, "spec": {"b": 2}}}}"#;
        assert_eq!(message(spec_twice).unwrap(), "duplicate key request.object.spec: each key may appear once");
        let in_list = r#"{"request": {"object": {"spec": {"volumes": [{"name": "a", "name": "b"}]}}}}"#;
        assert_eq!(
            message(in_list).unwrap(),
            "duplicate key request.object.spec.volumes[].name: each key may appear once"
        );
        assert!(message(r#"{"request": {}, "request": {}}"#).unwrap().contains("duplicate key request:"));
        // an escaped spelling of the same key is the same key
        assert!(message(r#"{"a": 1, "\u0061": 2}"#).is_some());
        // many keys: the set path
        let wide: String = (0..40).map(|i| format!("\"k{i}\": 1,")).collect();
        assert!(message(&format!("{{{wide} \"k7\": 2}}")).unwrap().contains("duplicate key k7"));
        assert_eq!(message(&format!("{{{wide} \"z\": 2}}")), None);
    }

    #[test]
    fn request_objects_must_be_objects() {
        for (object, what) in [("[]", "an array"), ("\"x\"", "a string"), ("1", "a number"), ("true", "a boolean")] {
            let body = format!(r#"{{"request": {{"uid": "u", "object": {object}}}}}"#);
            assert_eq!(message(&body).unwrap(), format!("request.object must be a JSON object, not {what}"));
        }
        assert!(message(r#"{"request": {"oldObject": []}}"#).unwrap().starts_with("request.oldObject must"));
        assert_eq!(message(r#"{"request": {"object": null, "oldObject": {}}}"#), None);
        // elsewhere arrays and scalars are fine
        assert_eq!(message(r#"{"request": {"options": [], "dryRun": true}, "object": []}"#), None);
    }

    #[test]
    fn invalid_json_is_left_to_the_decoder() {
        assert_eq!(message("{"), None);
        assert_eq!(message("not json"), None);
    }
}
