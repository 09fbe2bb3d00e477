//! A small, independent RFC 6902 (JSON Patch) implementation for tests, so
//! that patches are not checked by the same crate that produced them.

use serde_json::Value;

/// Parse an RFC 6901 pointer into its unescaped tokens.
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| format!("pointer {pointer:?} does not start with /"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut node = doc;
    for token in tokens {
        node = match node {
            Value::Object(map) => map.get_mut(token).ok_or_else(|| format!("no member {token:?}"))?,
            Value::Array(items) => {
                let i: usize = token.parse().map_err(|_| format!("bad index {token:?}"))?;
                items.get_mut(i).ok_or_else(|| format!("index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(node)
}

fn get(doc: &Value, pointer: &str) -> Result<Value, String> {
    let mut node = doc;
    for token in tokens(pointer)? {
        node = match node {
            Value::Object(map) => map.get(&token).ok_or_else(|| format!("no member {token:?}"))?,
            Value::Array(items) => {
                items.get(token.parse::<usize>().map_err(|e| e.to_string())?).ok_or("out of range")?
            }
            _ => return Err("scalar".into()),
        };
    }
    Ok(node.clone())
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let mut toks = tokens(pointer)?;
    let Some(last) = toks.pop() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, &toks)? {
        Value::Object(map) => {
            map.insert(last, value);
        }
        Value::Array(items) => {
            let i = if last == "-" { items.len() } else { last.parse().map_err(|_| format!("bad index {last:?}"))? };
            if i > items.len() {
                return Err(format!("index {i} beyond the end"));
            }
            items.insert(i, value);
        }
        _ => return Err("add into a scalar".into()),
    }
    Ok(())
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let mut toks = tokens(pointer)?;
    let last = toks.pop().ok_or("cannot remove the root")?;
    match parent(doc, &toks)? {
        Value::Object(map) => map.remove(&last).ok_or_else(|| format!("no member {last:?} to remove")),
        Value::Array(items) => {
            let i: usize = last.parse().map_err(|_| format!("bad index {last:?}"))?;
            if i >= items.len() {
                return Err(format!("index {i} out of range"));
            }
            Ok(items.remove(i))
        }
        _ => Err("remove from a scalar".into()),
    }
}

/// Apply `patch` (a JSON array of operations) to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    for op in patch.as_array().ok_or("a patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        match op["op"].as_str().ok_or("op without op")? {
            "add" => add(doc, path, op["value"].clone())?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                remove(doc, path)?;
                add(doc, path, op["value"].clone())?;
            }
            "move" => {
                let value = remove(doc, op["from"].as_str().ok_or("move without from")?)?;
                add(doc, path, value)?;
            }
            "copy" => {
                let value = get(doc, op["from"].as_str().ok_or("copy without from")?)?;
                add(doc, path, value)?;
            }
            "test" => {
                if get(doc, path)? != op["value"] {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown op {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn applies_the_rfc_examples() {
    use serde_json::json;
    let mut doc = json!({"foo": ["bar", "baz"], "a/b": 1});
    apply(&mut doc, &json!([{"op": "add", "path": "/foo/1", "value": "qux"}])).unwrap();
    assert_eq!(doc["foo"], json!(["bar", "qux", "baz"]));
    apply(&mut doc, &json!([{"op": "replace", "path": "/a~1b", "value": 2}])).unwrap();
    assert_eq!(doc["a/b"], 2);
    apply(&mut doc, &json!([{"op": "add", "path": "/foo/-", "value": "end"}, {"op": "remove", "path": "/foo/0"}]))
        .unwrap();
    assert_eq!(doc["foo"], json!(["qux", "baz", "end"]));
    assert!(apply(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    assert!(apply(&mut doc, &json!([{"op": "test", "path": "/a~1b", "value": 3}])).is_err());
}
