//! One pass over a review body before it is decoded: refuse duplicate keys
//! in any JSON object, and `object`/`oldObject` that are not objects.
//!
//! The API server never sends either, but a direct caller can, and decoders
//! disagree on them (Go's merges a `spec` given twice, serde takes the last;
//! Go refuses `"object": []`). Refusing them with a 400 means no input reads
//! one way here and another way in the API server. The messages name the key
//! path, never a value.
//!
//! The pass is a structural scan, not a parse: it follows objects, arrays
//! and keys, and jumps over string values with `memchr` (a 1 MiB Secret is
//! one long string; a serde pass over it cost as much as decoding it). It
//! judges nothing else: whatever is not well-formed JSON is left to the
//! decoder, which explains it, and a finding is reported only for a body
//! serde_json also reads as JSON.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use super::decode::Unusable;

/// Check `body`; `Ok` for anything that is not valid JSON too (the decoder
/// explains those).
pub fn check(body: &[u8]) -> Result<(), Unusable> {
    let mut scan = Scan { b: body, i: 0 };
    let found = match scan.value(&Path::Root, 0) {
        Ok(()) => return Ok(()),
        Err(Stop::Found(found)) => found,
        Err(Stop::Leave) => return Ok(()),
    };
    // the scan is lenient: what it found counts only in well-formed JSON
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => Err(Unusable(found)),
        Err(_) => Ok(()),
    }
}

/// Nesting deeper than serde_json's own limit is the decoder's to refuse.
const MAX_DEPTH: usize = 128;

/// Why the scan stopped.
enum Stop {
    /// A duplicate key or a request object that is not an object: the message.
    Found(String),
    /// Not well-formed (or too deep): left to the decoder.
    Leave,
}

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

struct Scan<'b> {
    b: &'b [u8],
    i: usize,
}

impl<'b> Scan<'b> {
    fn skip_whitespace(&mut self) {
        while self.b.get(self.i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Result<u8, Stop> {
        self.skip_whitespace();
        self.b.get(self.i).copied().ok_or(Stop::Leave)
    }

    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek()? != byte {
            return Err(Stop::Leave);
        }
        self.i += 1;
        Ok(())
    }

    /// One value at `path`, whitespace before it included.
    fn value(&mut self, path: &Path<'_>, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Leave);
        }
        let first = self.peek()?;
        if path.is_request_object() && first != b'{' && first != b'n' {
            let what = match first {
                b'[' => "an array",
                b'"' => "a string",
                b't' | b'f' => "a boolean",
                _ => "a number",
            };
            return Err(Stop::Found(format!("{path} must be a JSON object, not {what}")));
        }
        match first {
            b'{' => self.object(path, depth),
            b'[' => self.array(path, depth),
            b'"' => self.string().map(|_| ()),
            _ => self.scalar(),
        }
    }

    /// A number, `true`, `false` or `null`: its characters (the decoder checks them).
    fn scalar(&mut self) -> Result<(), Stop> {
        let start = self.i;
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')) {
            self.i += 1;
        }
        if self.i == start { Err(Stop::Leave) } else { Ok(()) }
    }

    /// A string from its opening quote; its raw text (between the quotes)
    /// and whether it holds escapes.
    fn string(&mut self) -> Result<(&'b [u8], bool), Stop> {
        let start = self.i + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            let rest = self.b.get(at..).ok_or(Stop::Leave)?;
            let n = memchr::memchr2(b'"', b'\\', rest).ok_or(Stop::Leave)?;
            if rest[n] == b'"' {
                self.i = at + n + 1;
                return Ok((&self.b[start..at + n], escaped));
            }
            // a backslash and the character it escapes (\uXXXX: the hex digits hold no quote)
            escaped = true;
            at += n + 2;
        }
    }

    /// A key: its text, unescaped when it holds escapes.
    fn key(&mut self) -> Result<Cow<'b, str>, Stop> {
        let open = self.i;
        let (raw, escaped) = self.string()?;
        if escaped {
            let quoted = &self.b[open..self.i];
            return serde_json::from_slice::<String>(quoted).map(Cow::Owned).map_err(|_| Stop::Leave);
        }
        std::str::from_utf8(raw).map(Cow::Borrowed).map_err(|_| Stop::Leave)
    }

    fn object(&mut self, path: &Path<'_>, depth: usize) -> Result<(), Stop> {
        self.i += 1; // {
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        let mut seen = Seen::default();
        loop {
            if self.peek()? != b'"' {
                return Err(Stop::Leave);
            }
            let key = self.key()?;
            self.expect(b':')?;
            let here = Path::Key(path, key.as_ref());
            if seen.contains(&key) {
                return Err(Stop::Found(format!("duplicate key {here}: each key may appear once")));
            }
            self.value(&here, depth + 1)?;
            seen.insert(key);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Leave),
            }
        }
    }

    fn array(&mut self, path: &Path<'_>, depth: usize) -> Result<(), Stop> {
        self.i += 1; // [
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        let element = Path::Index(path);
        loop {
            self.value(&element, depth + 1)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Leave),
            }
        }
    }
}

/// The keys of one object: a short list, a set once it grows. Keys are
/// borrowed from the body (copied only when they hold escapes).
#[derive(Default)]
struct Seen<'b> {
    few: Vec<Cow<'b, str>>,
    many: HashSet<Cow<'b, str>>,
}

impl<'b> Seen<'b> {
    fn contains(&self, key: &str) -> bool {
        if self.many.is_empty() { self.few.iter().any(|k| k == key) } else { self.many.contains(key) }
    }

    fn insert(&mut self, key: Cow<'b, str>) {
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
        // a duplicate in a body that is not JSON after all: the decoder's to explain
        assert_eq!(message(r#"{"a": 1, "a": 2"#), None);
        assert_eq!(message(r#"{"a": tru, "a": 2}"#), None);
        assert_eq!(message(r#"{"a": 1 "a": 2}"#), None);
        assert_eq!(message(r#"{"request": {"object": [1,}}"#), None);
        for bad in ["", "{\"a\"", "{\"a\":", "[", "\"", "{\"a\\", "{]", "[1 2]", "{\"a\" 1}", "{1: 2}"] {
            assert_eq!(message(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn strings_are_skipped_whole_and_keys_read_exactly() {
        // quotes and backslashes inside values and keys do not end them early
        let tricky = r#"{"a": "x\"y\\", "b\"c": 1, "b\"c": 2}"#;
        assert_eq!(message(tricky).unwrap(), r#"duplicate key b"c: each key may appear once"#);
        assert_eq!(message(r#"{"a": "\"a\": 1, \"a\": 2"}"#), None);
        assert_eq!(message(r#"{"ü": 1, "\u00fc": 2}"#).unwrap(), "duplicate key ü: each key may appear once");
        // a 1 MiB value, then the duplicate
        let long = "QUJD".repeat(256 * 1024);
        let body = format!(r#"{{"request": {{"object": {{"data": {{"k": "{long}", "k": ""}}}}}}}}"#);
        assert_eq!(message(&body).unwrap(), "duplicate key request.object.data.k: each key may appear once");
    }

    #[test]
    fn deep_nesting_is_left_to_the_decoder_without_exhausting_the_stack() {
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(message(&deep), None);
        let deep_objects = "{\"a\":".repeat(100_000);
        assert_eq!(message(&deep_objects), None);
        // within serde_json's limit a duplicate is found at any depth
        let nested = format!("{}{{\"k\": 1, \"k\": 2}}{}", "[".repeat(100), "]".repeat(100));
        assert!(message(&nested).unwrap().starts_with("duplicate key "));
    }

    /// The reference: serde_json reads the body, a visitor notes whether any
    /// object holds a key twice (keys compared unescaped).
    fn serde_finds_a_duplicate(body: &str) -> Option<bool> {
        use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
        struct Any;
        impl<'de> DeserializeSeed<'de> for Any {
            type Value = bool;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
                d.deserialize_any(self)
            }
        }
        impl<'de> Visitor<'de> for Any {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
                let mut found = false;
                while let Some(f) = seq.next_element_seed(Any)? {
                    found |= f;
                }
                Ok(found)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
                let (mut keys, mut found) = (HashSet::new(), false);
                while let Some(key) = map.next_key::<String>()? {
                    found |= !keys.insert(key);
                    found |= map.next_value_seed(Any)?;
                }
                Ok(found)
            }
        }
        let mut de = serde_json::Deserializer::from_str(body);
        let found = Any.deserialize(&mut de).ok()?;
        de.end().ok().map(|_| found)
    }

    #[test]
    fn the_scan_agrees_with_serde_json_on_generated_documents() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        const KEYS: [&str; 6] = [r#""a""#, r#""\u0061""#, r#""b""#, r#""a\"b""#, r#""\\""#, r#""é""#];
        const SCALARS: [&str; 7] = ["1", "-2.5e3", "true", "null", r#""x\"y""#, r#""{\"a\": 1, \"a\": 2}""#, r#""""#];
        fn document(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
            match if depth > 3 { 3 } else { next(4) } {
                0 => {
                    out.push('{');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(KEYS[next(KEYS.len() as u64) as usize]);
                        out.push_str(": ");
                        document(next, depth + 1, out);
                    }
                    out.push('}');
                }
                1 => {
                    out.push('[');
                    for i in 0..next(3) {
                        if i > 0 {
                            out.push(',');
                        }
                        document(next, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => out.push_str(SCALARS[next(SCALARS.len() as u64) as usize]),
            }
        }
        let (mut duplicates, mut clean) = (0, 0);
        for _ in 0..5000 {
            let mut body = String::new();
            document(&mut next, 0, &mut body);
            let want = serde_finds_a_duplicate(&body).expect("generated documents are JSON");
            let got = check(body.as_bytes()).is_err();
            assert_eq!(got, want, "{body}");
            if want {
                duplicates += 1
            } else {
                clean += 1
            }
            // cut short, the document is not JSON: never a finding
            let cut = &body[..body.floor_char_boundary(body.len() / 2)];
            if serde_finds_a_duplicate(cut).is_none() {
                assert!(check(cut.as_bytes()).is_ok(), "{cut}");
            }
        }
        assert!(duplicates > 200 && clean > 200, "{duplicates} with duplicates, {clean} without");
    }
}
