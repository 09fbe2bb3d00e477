//! JSON and YAML documents into `serde_json::Value`, with error messages that
//! name a location but never quote the input: the input may be a Secret.

use serde_json::Value;

/// Why a document could not be read. The text never contains input bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocumentError(String);

impl DocumentError {
    /// An error with a message that must already be free of input bytes.
    pub fn new(message: impl Into<String>) -> Self {
        DocumentError(message.into())
    }
}

/// Whether `text` looks like JSON (its first non-blank character opens an
/// object or array) rather than YAML.
fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// Parse every document of `text`: one JSON value, or a multi-document YAML
/// stream. Empty YAML documents are skipped.
pub fn parse_all(text: &str) -> Result<Vec<Value>, DocumentError> {
    if looks_like_json(text) {
        match serde_json::from_str(text) {
            // a key given twice reads differently in Go: refused, as the server refuses it
            Ok(value) => {
                crate::admission::duplicates::check(text.as_bytes()).map_err(|e| DocumentError::new(e.0))?;
                return Ok(vec![value]);
            }
            // JSON is YAML: `{...}\n---\n{...}` is a valid multi-document stream
            Err(json) => return parse_yaml(text).map_err(|_| json_error(&json)),
        }
    }
    parse_yaml(text)
}

fn parse_yaml(text: &str) -> Result<Vec<Value>, DocumentError> {
    // YAML 1.2 booleans: only `true` and `false`. YAML 1.1 would read the
    // policy file's `action: off` (and `on`, `yes`, `no`) as a boolean.
    let options = serde_saphyr::options! { strict_booleans: true };
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options).map_err(|e| yaml_error(&e))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parse exactly one document.
pub fn parse_one(text: &str) -> Result<Value, DocumentError> {
    let mut docs = parse_all(text)?;
    match docs.len() {
        0 => Err(DocumentError::new("the input is empty")),
        1 => Ok(docs.remove(0)),
        n => Err(DocumentError::new(format!("expected one document, found {n}"))),
    }
}

/// A JSON syntax or data error, located, with any quoted input removed.
pub fn json_error(error: &serde_json::Error) -> DocumentError {
    use serde_json::error::Category;
    let message = match error.classify() {
        Category::Eof => "unexpected end of input".to_string(),
        // serde_json's own limit on nesting, not a syntax error of the input
        Category::Syntax if error.to_string().starts_with("recursion limit exceeded") => {
            format!("nested deeper than 128 levels, the limit, at line {} column {}", error.line(), error.column())
        }
        Category::Syntax => format!("invalid JSON at line {} column {}", error.line(), error.column()),
        Category::Io => "could not read the input".to_string(),
        Category::Data => {
            format!("{} at line {} column {}", describe_serde_message(&error.to_string()), error.line(), error.column())
        }
    };
    DocumentError(message)
}

/// A YAML error, located, without the excerpt of the source.
pub fn yaml_error(error: &serde_saphyr::Error) -> DocumentError {
    // `without_snippet` drops the excerpt of the source that the default
    // rendering shows, which for a Secret would print its values.
    let plain = error.without_snippet().to_string();
    let plain = plain.strip_prefix("error: ").unwrap_or(&plain);
    DocumentError(format!("invalid YAML: {}", redact_quoted(plain)))
}

/// A serde data error message without the offending value. serde renders
/// `invalid type: string "hunter2", expected ...`: keep the kind, drop the value.
pub fn describe_serde_message(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let kind = found.split([' ', '`', '"']).next().unwrap_or("value");
            let kind = if kind.is_empty() { "value" } else { kind };
            return if expected.is_empty() {
                format!("{prefix}{kind}")
            } else {
                format!("{prefix}{kind}, expected {}", redact_quoted(expected))
            };
        }
    }
    redact_quoted(message)
}

/// Replace the content of every quoted run longer than one character with
/// `<redacted>`. Single characters (`'['`) and backquoted identifiers from
/// our own types (`` `apiVersion` ``) stay readable.
pub fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '\'']) {
        let quote = rest.as_bytes()[start] as char;
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        match after.find(quote) {
            Some(end) if after[..end].chars().count() > 1 => {
                out.push_str("<redacted>");
                out.push(quote);
                rest = &after[end + 1..];
            }
            Some(end) => {
                out.push_str(&after[..=end]);
                rest = &after[end + 1..];
            }
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_key_given_twice_is_refused_like_a_yaml_one() {
        let json = r#"{"kind": "Secret", "data": {"k": "YQ==", "k": "Yg=="}}"#;
        let error = parse_all(json).unwrap_err().to_string();
        assert!(error.contains("duplicate key data.k") && !error.contains("YQ=="), "{error}");
        assert!(parse_all("kind: Secret\ndata: {k: YQ==}\ndata: {k: Yg==}\n").is_err());
    }

    #[test]
    fn json_and_yaml_both_parse() {
        assert_eq!(parse_one(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert_eq!(parse_one("a: 1\n").unwrap()["a"], 1);
        assert_eq!(parse_all("a: 1\n---\n---\nb: 2\n").unwrap().len(), 2);
    }

    #[test]
    fn off_and_yes_are_strings() {
        let v = parse_one("action: off\nenabled: true\nother: yes\n").unwrap();
        assert_eq!(v["action"], "off");
        assert_eq!(v["enabled"], true);
        assert_eq!(v["other"], "yes");
    }

    #[test]
    fn json_documents_in_a_yaml_stream() {
        assert_eq!(parse_all("{\"a\": 1}\n---\n{\"b\": 2}\n").unwrap().len(), 2);
        // a broken JSON document is reported as JSON
        assert_eq!(parse_all("{\"a\": ").unwrap_err().to_string(), "unexpected end of input");
    }

    #[test]
    fn counts_documents() {
        assert_eq!(parse_one("").unwrap_err().to_string(), "the input is empty");
        assert_eq!(parse_one("a: 1\n---\nb: 2\n").unwrap_err().to_string(), "expected one document, found 2");
    }

    #[test]
    fn a_nesting_refusal_says_the_limit_was_hit() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(300), "]".repeat(300));
        let err = parse_all(&deep).unwrap_err().to_string();
        assert!(err.starts_with("nested deeper than 128 levels, the limit, at line 1 column"), "{err}");
        let err = parse_all(&format!("a: {}\n", "[".repeat(300))).unwrap_err().to_string();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }

    #[test]
    fn yaml_errors_do_not_show_the_source() {
        let err = parse_all("kind: Secret\nstringData:\n  password: hunter2\n  x: [unclosed\n").unwrap_err();
        let text = err.to_string();
        assert_eq!(text, "invalid YAML: unclosed bracket '[' at line 4, column 6");
        assert!(!text.contains("hunter2"), "{text}");
        let err = parse_all("stringData:\n  password: hunter2\n bad: indent\n").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn json_errors_are_located_without_values() {
        let err = parse_one(r#"{"data": {"password": "hunter2""#).unwrap_err().to_string();
        assert_eq!(err, "unexpected end of input");
        let err = parse_one(r#"{"data": [hunter2}"#).unwrap_err().to_string();
        assert_eq!(err, "invalid JSON at line 1 column 11");
    }

    #[test]
    fn serde_data_messages_lose_their_values() {
        assert_eq!(
            describe_serde_message(r#"invalid type: string "hunter2", expected a sequence"#),
            "invalid type: string, expected a sequence"
        );
        assert_eq!(
            describe_serde_message("invalid type: integer `12345`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(describe_serde_message("missing field `request`"), "missing field `request`");
        assert_eq!(describe_serde_message("Invalid symbol 33, offset 3."), "Invalid symbol 33, offset 3.");
        assert_eq!(
            redact_quoted(r#"unknown variant "hunter2" and '[' and 'ab'"#),
            r#"unknown variant "<redacted>" and '[' and '<redacted>'"#
        );
    }
}
