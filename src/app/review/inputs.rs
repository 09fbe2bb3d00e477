//! What `review` and `test` read: files, directories (recursively, `*.yaml`,
//! `*.yml`, `*.json`), `-` for a stream such as `helm template`, each holding
//! one or more documents; a `kind: List` (or `SecretList`, ...) counts as its
//! items. Every object keeps where it came from, for the report.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::documents;

/// One object or AdmissionReview to answer.
#[derive(Clone, Debug)]
pub struct Input {
    /// `file`, `file#2` (the second document), `file#2[3]` (a List's fourth item).
    pub source: String,
    /// The document.
    pub document: Value,
    /// Found by walking a directory (not named on the command line).
    pub walked: bool,
}

impl Input {
    /// Whether the document looks like a Kubernetes object (apiVersion and kind).
    pub fn is_object(&self) -> bool {
        ["apiVersion", "kind"].iter().all(|k| self.document.get(*k).is_some_and(Value::is_string))
    }
}

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];
/// Directory levels followed at most (a symlink loop must not hang the run).
const MAX_DEPTH: usize = 32;

/// Every input of `paths`, in order (directory entries sorted by name).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path == Path::new("-") {
            if stdin_read {
                return Err("- (stdin) is given twice".into());
            }
            stdin_read = true;
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
            add_text("stdin", &text, &mut out)?;
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let yaml = |p: &Path| p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e));
            let files = walk_files(path, &yaml)?;
            if files.is_empty() {
                return Err(format!("{}: no *.yaml, *.yml or *.json file in this directory", path.display()));
            }
            for file in files {
                let before = out.len();
                add_file(&file, &mut out)?;
                out[before..].iter_mut().for_each(|i| i.walked = true);
            }
        } else {
            add_file(path, &mut out)?;
        }
    }
    Ok(out)
}

/// The files below `dir` (sorted, hidden entries skipped) that `accept` takes.
pub fn walk_files(dir: &Path, accept: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    walk(dir, 0, accept, &mut files)?;
    Ok(files)
}

fn walk(dir: &Path, depth: usize, accept: &dyn Fn(&Path) -> bool, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: directories nested deeper than {MAX_DEPTH} levels", dir.display()));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, depth + 1, accept, files)?;
        } else if accept(&entry) {
            files.push(entry);
        }
    }
    Ok(())
}

fn add_file(path: &Path, out: &mut Vec<Input>) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    add_text(&path.display().to_string(), &text, out)
}

/// Add the documents of `text`, read from `origin`.
pub fn add_text(origin: &str, text: &str, out: &mut Vec<Input>) -> Result<(), String> {
    let docs = documents::parse_all(text).map_err(|e| format!("{origin}: {e}"))?;
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let source = if many { format!("{origin}#{}", i + 1) } else { origin.to_string() };
        expand(source, doc, out)?;
    }
    Ok(())
}

/// A List becomes its items; anything else is one input.
fn expand(source: String, doc: Value, out: &mut Vec<Input>) -> Result<(), String> {
    let is_list = doc.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
        && doc.get("items").is_some_and(Value::is_array);
    if !is_list {
        if !doc.is_object() {
            return Err(format!("{source}: a document must be an object (a manifest or an AdmissionReview)"));
        }
        out.push(Input { source, document: doc, walked: false });
        return Ok(());
    }
    let Value::Object(mut list) = doc else { unreachable!("checked above") };
    let Some(Value::Array(items)) = list.remove("items") else { unreachable!("checked above") };
    for (i, item) in items.into_iter().enumerate() {
        let source = format!("{source}[{i}]");
        if !item.is_object() {
            return Err(format!("{source}: a List item must be an object"));
        }
        out.push(Input { source, document: item, walked: false });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(text: &str) -> Vec<Input> {
        let mut out = Vec::new();
        add_text("f.yaml", text, &mut out).unwrap();
        out
    }

    #[test]
    fn documents_and_list_items_are_inputs_that_say_where_they_came_from() {
        let got = inputs("kind: Secret\n---\nkind: List\nitems: [{kind: Secret}, {kind: Pod}]\n---\n");
        let sources: Vec<&str> = got.iter().map(|i| i.source.as_str()).collect();
        assert_eq!(sources, ["f.yaml#1", "f.yaml#2[0]", "f.yaml#2[1]"]);
        assert_eq!(inputs("kind: Pod\n")[0].source, "f.yaml");
        // what kubectl get -o yaml prints
        assert_eq!(inputs("apiVersion: v1\nkind: SecretList\nitems: []\n").len(), 0);
        let mut out = Vec::new();
        let error = add_text("f.yaml", "- 1\n- 2\n", &mut out).unwrap_err();
        assert!(error.contains("must be an object"), "{error}");
    }

    #[test]
    fn directories_are_walked_in_order_and_other_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: Pod\n").unwrap();
        std::fs::write(dir.path().join("a.json"), "{\"kind\": \"Secret\"}").unwrap();
        std::fs::write(dir.path().join("sub/c.yml"), "kind: Secret\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let got = collect(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<String> =
            got.iter().map(|i| Path::new(&i.source).file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["a.json", "b.yaml", "c.yml"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(collect(&[empty.path().to_path_buf()]).unwrap_err().contains("no *.yaml"));
    }
}
