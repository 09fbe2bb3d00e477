//! The syntax errors of Go's `encoding/json`, which upstream's Secret
//! validation quotes (`invalid character 'b' looking for beginning of value`):
//! a scanner with the same states and messages as Go's `scanner.go`. Go names
//! the offending character, never more of the value; so does this.

/// Go's limit on nesting (`maxNestingDepth`).
const MAX_DEPTH: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// Go's `quoteChar`: the character as Go quotes it in its messages.
fn quote(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            // strconv.Quote, then single quotes for double ones
            let quoted = match c {
                '\\' => "\\\\".to_string(),
                '\n' => "\\n".into(),
                '\r' => "\\r".into(),
                '\t' => "\\t".into(),
                '\u{7}' => "\\a".into(),
                '\u{8}' => "\\b".into(),
                '\u{c}' => "\\f".into(),
                '\u{b}' => "\\v".into(),
                c if (c as u32) < 0x20 || c == '\u{7f}' => format!("\\x{:02x}", c as u32),
                c => c.to_string(),
            };
            format!("'{quoted}'")
        }
    }
}

/// The first syntax error of `input` as Go reports it, or `None` when it is
/// one valid JSON value (surrounded by white space at most).
pub fn syntax_error(input: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(input);
    let mut chars = text.chars().peekable();
    let mut stack: Vec<Container> = Vec::new();
    let invalid = |c: char, context: &str| Some(format!("invalid character {} {context}", quote(c)));
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    // states between values
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Want {
        Value,
        ValueOrArrayEnd,
        KeyOrObjectEnd,
        Key,
        Colon,
        CommaOrEnd,
        Done,
    }
    let mut want = Want::Value;
    loop {
        let Some(c) = chars.next() else {
            return (want != Want::Done).then(|| "unexpected end of JSON input".to_string());
        };
        if space(c) {
            continue;
        }
        match want {
            Want::Done => return invalid(c, "after top-level value"),
            Want::Colon => {
                if c != ':' {
                    return invalid(c, "after object key");
                }
                want = Want::Value;
                continue;
            }
            Want::CommaOrEnd => {
                let top = *stack.last().expect("inside a container");
                match (top, c) {
                    (Container::Object, ',') => want = Want::Key,
                    (Container::Array, ',') => want = Want::Value,
                    (Container::Object, '}') | (Container::Array, ']') => {
                        stack.pop();
                        want = if stack.is_empty() { Want::Done } else { Want::CommaOrEnd };
                    }
                    (Container::Object, _) => return invalid(c, "after object key:value pair"),
                    (Container::Array, _) => return invalid(c, "after array element"),
                }
                continue;
            }
            Want::Key | Want::KeyOrObjectEnd => {
                if c == '}' && want == Want::KeyOrObjectEnd {
                    stack.pop();
                    want = if stack.is_empty() { Want::Done } else { Want::CommaOrEnd };
                    continue;
                }
                if c != '"' {
                    return invalid(c, "looking for beginning of object key string");
                }
                if let Some(error) = string(&mut chars) {
                    return Some(error);
                }
                want = Want::Colon;
                continue;
            }
            Want::ValueOrArrayEnd if c == ']' => {
                stack.pop();
                want = if stack.is_empty() { Want::Done } else { Want::CommaOrEnd };
                continue;
            }
            Want::Value | Want::ValueOrArrayEnd => {}
        }
        // the beginning of a value
        match c {
            '{' | '[' => {
                if stack.len() >= MAX_DEPTH {
                    return invalid(c, "exceeded max depth");
                }
                stack.push(if c == '{' { Container::Object } else { Container::Array });
                want = if c == '{' { Want::KeyOrObjectEnd } else { Want::ValueOrArrayEnd };
                continue;
            }
            '"' => {
                if let Some(error) = string(&mut chars) {
                    return Some(error);
                }
            }
            '-' | '0'..='9' => {
                if let Err(error) = number(c, &mut chars) {
                    return Some(error);
                }
            }
            't' | 'f' | 'n' => {
                let (rest, name) = match c {
                    't' => ("rue", "true"),
                    'f' => ("alse", "false"),
                    _ => ("ull", "null"),
                };
                if let Some(error) = literal_error(&mut chars, rest, name) {
                    return Some(error);
                }
            }
            _ => return invalid(c, "looking for beginning of value"),
        }
        want = if stack.is_empty() { Want::Done } else { Want::CommaOrEnd };
    }
}

/// Go's message when the rest of a literal is not there.
fn literal_error(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, rest: &str, name: &str) -> Option<String> {
    for expected in rest.chars() {
        match chars.next() {
            Some(c) if c == expected => {}
            Some(c) => {
                return Some(format!(
                    "invalid character {} in literal {name} (expecting {})",
                    quote(c),
                    quote(expected)
                ));
            }
            None => return Some("unexpected end of JSON input".into()),
        }
    }
    None
}

fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    loop {
        let Some(c) = chars.next() else { return Some("unexpected end of JSON input".into()) };
        match c {
            '"' => return None,
            '\\' => match chars.next() {
                None => return Some("unexpected end of JSON input".into()),
                Some('b' | 'f' | 'n' | 'r' | 't' | '\\' | '/' | '"') => {}
                Some('u') => {
                    for _ in 0..4 {
                        match chars.next() {
                            None => return Some("unexpected end of JSON input".into()),
                            Some(c) if c.is_ascii_hexdigit() => {}
                            Some(c) => {
                                return Some(format!(
                                    "invalid character {} in \\u hexadecimal character escape",
                                    quote(c)
                                ));
                            }
                        }
                    }
                }
                Some(c) => return Some(format!("invalid character {} in string escape code", quote(c))),
            },
            c if (c as u32) < 0x20 => return Some(format!("invalid character {} in string literal", quote(c))),
            _ => {}
        }
    }
}

fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(char::is_ascii_digit) {
        chars.next();
    }
}

/// One digit or more; `Err` is the message for what stands there instead.
fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, context: &str) -> Result<(), String> {
    match chars.next() {
        None => return Err("unexpected end of JSON input".into()),
        Some(d) if d.is_ascii_digit() => {}
        Some(d) => return Err(format!("invalid character {} {context}", quote(d))),
    }
    skip_digits(chars);
    Ok(())
}

fn number(first: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<(), String> {
    let mut c = first;
    if c == '-' {
        match chars.next() {
            None => return Err("unexpected end of JSON input".into()),
            Some(d) if d.is_ascii_digit() => c = d,
            Some(d) => return Err(format!("invalid character {} in numeric literal", quote(d))),
        }
    }
    if c != '0' {
        skip_digits(chars);
    }
    if chars.peek() == Some(&'.') {
        chars.next();
        digits(chars, "after decimal point in numeric literal")?;
    }
    if matches!(chars.peek(), Some('e' | 'E')) {
        chars.next();
        if matches!(chars.peek(), Some('+' | '-')) {
            chars.next();
        }
        digits(chars, "in exponent of numeric literal")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::syntax_error;

    #[test]
    fn go_words_for_go_errors() {
        // messages as Go 1.x's encoding/json prints them for json.Unmarshal
        let cases: &[(&str, Option<&str>)] = &[
            ("{}", None),
            (" [1, 2.5e-3, \"a\\u00e9\", true, null] ", None),
            ("bad", Some("invalid character 'b' looking for beginning of value")),
            ("{\"a\":1}x", Some("invalid character 'x' after top-level value")),
            ("{\"a\" 1}", Some("invalid character '1' after object key")),
            ("{\"a\":1 \"b\"}", Some("invalid character '\"' after object key:value pair")),
            ("[1 2]", Some("invalid character '2' after array element")),
            ("{a:1}", Some("invalid character 'a' looking for beginning of object key string")),
            ("{\"a\":tru}", Some("invalid character '}' in literal true (expecting 'e')")),
            ("nul", Some("unexpected end of JSON input")),
            ("", Some("unexpected end of JSON input")),
            ("{\"a\":", Some("unexpected end of JSON input")),
            ("\"a\\x\"", Some("invalid character 'x' in string escape code")),
            ("\"a\nb\"", Some("invalid character '\\n' in string literal")),
            ("-x", Some("invalid character 'x' in numeric literal")),
            ("1.x", Some("invalid character 'x' after decimal point in numeric literal")),
            ("1ex", Some("invalid character 'x' in exponent of numeric literal")),
            ("01", Some("invalid character '1' after top-level value")),
            ("{'a':1}", Some("invalid character '\\'' looking for beginning of object key string")),
        ];
        for (input, want) in cases {
            assert_eq!(syntax_error(input.as_bytes()).as_deref(), *want, "{input:?}");
        }
        let deep = "[".repeat(10_001);
        assert_eq!(syntax_error(deep.as_bytes()).as_deref(), Some("invalid character '[' exceeded max depth"));
        assert_eq!(syntax_error(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).as_bytes()), None);
    }
}
