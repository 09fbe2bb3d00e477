//! A static cluster view from files: multi-document YAML, JSON, `kind: List`,
//! holding Namespaces, ServiceAccounts and Secrets. Secret values are never
//! decoded or kept: only key names, type and the token annotation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::documents::{self, describe_serde_message};
use crate::policy::view::NamespaceSummary;
use crate::policy::{Inventory, SecretSummary, ServiceAccountSummary};

/// A loaded snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The objects the rules may look up.
    pub inventory: Inventory,
    /// How many Namespaces the files held.
    pub namespaces: usize,
    /// Things worth telling the user that are not errors (ignored kinds,
    /// duplicates), one line each.
    pub notes: Vec<String>,
}

/// Why a snapshot could not be loaded. Messages name the file and never
/// contain Secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A path could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory held no snapshot files, or a path is neither file nor directory.
    #[error("{path}: {reason}")]
    Unusable {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A document could not be parsed or is not a valid object.
    #[error("{path}: {reason}")]
    Document {
        /// The file.
        path: PathBuf,
        /// Which document and why.
        reason: String,
    },
}

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

impl Snapshot {
    /// Load every path: files, or directories of `*.yaml|*.yml|*.json`.
    pub fn load(paths: &[PathBuf]) -> Result<Snapshot, SnapshotError> {
        let mut snapshot = Snapshot::default();
        for path in paths {
            for file in files_of(path)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| SnapshotError::Read { path: file.clone(), source })?;
                snapshot.add_text(&file, &text)?;
            }
        }
        Ok(snapshot)
    }

    /// Add the documents of one file's text (`origin` names it in messages).
    pub fn add_text(&mut self, origin: &Path, text: &str) -> Result<(), SnapshotError> {
        let document_error = |reason: String| SnapshotError::Document { path: origin.to_path_buf(), reason };
        let docs = read_documents(text).map_err(|e| document_error(e.to_string()));
        READ_CACHE.take();
        let docs = docs?;
        for (index, doc) in docs.into_iter().enumerate() {
            for entry in doc.0 {
                self.apply(entry).map_err(|reason| document_error(format!("document {}: {reason}", index + 1)))?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, entry: Entry) -> Result<(), String> {
        let replaced = match entry {
            Entry::Namespace { name, summary } => {
                self.namespaces += 1;
                let replaced = self.inventory.namespaces.insert_owned("", name.clone(), summary);
                replaced.then(|| format!("Namespace {name}"))
            }
            Entry::Ignored(note) => {
                self.notes.push(note);
                return Ok(());
            }
            Entry::Invalid(reason) => return Err(reason),
            Entry::Secret { namespace, name, summary } => {
                let replaced = self.inventory.secrets.insert_owned(&namespace, name.clone(), summary);
                replaced.then(|| format!("Secret {namespace}/{name}"))
            }
            Entry::ServiceAccount { namespace, name, summary } => {
                let replaced = self.inventory.service_accounts.insert_owned(&namespace, name.clone(), summary);
                replaced.then(|| format!("ServiceAccount {namespace}/{name}"))
            }
        };
        if let Some(what) = replaced {
            self.notes.push(format!("{what} is defined more than once; the last definition wins"));
        }
        Ok(())
    }
}

/// Every document of a file, each already reduced to entries.
fn read_documents(text: &str) -> Result<Vec<Doc>, documents::DocumentError> {
    if text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<Doc>(text) {
            Ok(doc) => return Ok(vec![doc]),
            // JSON is YAML: `{...}\n---\n{...}` is a valid multi-document stream
            Err(json) => return read_yaml(text).map_err(|_| documents::json_error(&json)),
        }
    }
    read_yaml(text)
}

fn read_yaml(text: &str) -> Result<Vec<Doc>, documents::DocumentError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_multiple_with_options::<Doc, Vec<Doc>>(text, options).map_err(|e| documents::yaml_error(&e))
}

/// What one object of a snapshot becomes.
enum Entry {
    Namespace { name: Box<str>, summary: NamespaceSummary },
    Secret { namespace: Arc<str>, name: Box<str>, summary: SecretSummary },
    ServiceAccount { namespace: Arc<str>, name: Box<str>, summary: ServiceAccountSummary },
    Ignored(String),
    Invalid(String),
}

/// One document, reduced to entries as it is read: a list's items are
/// deserialized and summarised one at a time, so a 40 MB list never exists
/// in memory as one tree.
struct Doc(Vec<Entry>);

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object or list")
    }

    fn visit_unit<E>(self) -> Result<Doc, E> {
        Ok(Doc(Vec::new()))
    }

    fn visit_none<E>(self) -> Result<Doc, E> {
        Ok(Doc(Vec::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut fields = serde_json::Map::new();
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                items = Some(map.next_value::<Items>()?.0);
            } else {
                fields.insert(key, map.next_value::<Value>()?);
            }
        }
        Ok(Doc(match items {
            Some(entries) => entries,
            None => vec![summarise(&Value::Object(fields))],
        }))
    }
}

/// The `items` of a list, each summarised as soon as it is read.
struct Items(Vec<Entry>);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = Items;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an items array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Items, S::Error> {
                let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                let mut index = 0;
                while let Some(item) = seq.next_element::<Value>()? {
                    entries.push(match summarise(&item) {
                        Entry::Invalid(reason) => Entry::Invalid(format!("items[{index}]: {reason}")),
                        entry => entry,
                    });
                    index += 1;
                }
                Ok(Items(entries))
            }
        }
        deserializer.deserialize_seq(ItemsVisitor)
    }
}

/// Reduce one object to what the inventory keeps.
fn summarise(object: &Value) -> Entry {
    match try_summarise(object) {
        Ok(entry) => entry,
        Err(reason) => Entry::Invalid(reason),
    }
}

/// Values repeated across a snapshot's objects, shared while reading so that
/// 100k Secrets do not each allocate (and free) their own copies.
#[derive(Default)]
struct ReadCache {
    namespaces: HashMap<String, Arc<str>>,
    key_sets: HashMap<String, Arc<[Box<str>]>>,
    joined: String,
}

thread_local! {
    static READ_CACHE: RefCell<ReadCache> = RefCell::default();
}

fn shared_namespace(namespace: &str) -> Arc<str> {
    READ_CACHE.with_borrow_mut(|cache| {
        if let Some(shared) = cache.namespaces.get(namespace) {
            return shared.clone();
        }
        let shared: Arc<str> = namespace.into();
        cache.namespaces.insert(namespace.to_string(), shared.clone());
        shared
    })
}

/// The sorted, deduplicated key set, shared with every Secret that has it.
fn shared_keys(keys: &mut Vec<&str>) -> Arc<[Box<str>]> {
    keys.sort_unstable();
    keys.dedup();
    READ_CACHE.with_borrow_mut(|cache| {
        let ReadCache { key_sets, joined, .. } = cache;
        joined.clear();
        for key in keys.iter() {
            joined.push_str(key);
            joined.push('\0');
        }
        if let Some(shared) = key_sets.get(joined.as_str()) {
            return shared.clone();
        }
        let shared: Arc<[Box<str>]> = keys.iter().map(|k| Box::<str>::from(*k)).collect();
        key_sets.insert(joined.clone(), shared.clone());
        shared
    })
}

fn try_summarise(object: &Value) -> Result<Entry, String> {
    let kind = object.get("kind").and_then(Value::as_str).ok_or("missing kind")?;
    let api_version = object.get("apiVersion").and_then(Value::as_str).ok_or("missing apiVersion")?;
    let metadata: ObjectMeta = match object.get("metadata") {
        Some(m) => {
            ObjectMeta::deserialize(m).map_err(|e| format!("metadata: {}", describe_serde_message(&e.to_string())))?
        }
        None => ObjectMeta::default(),
    };
    let Some(name) = metadata.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(format!("{kind} without metadata.name"));
    };
    let namespace = metadata.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default");
    Ok(match (api_version, kind) {
        ("v1", "Namespace") => {
            Entry::Namespace { name: name.into(), summary: NamespaceSummary::from_metadata(&metadata) }
        }
        ("v1", "ServiceAccount") => {
            let sa = ServiceAccount::deserialize(object).map_err(|e| {
                format!("ServiceAccount {namespace}/{name}: {}", describe_serde_message(&e.to_string()))
            })?;
            let summary = ServiceAccountSummary::from_service_account(&sa);
            Entry::ServiceAccount { namespace: shared_namespace(namespace), name: name.into(), summary }
        }
        ("v1", "Secret") => {
            let summary = secret_summary(object, &metadata).map_err(|e| format!("Secret {namespace}/{name}: {e}"))?;
            Entry::Secret { namespace: shared_namespace(namespace), name: name.into(), summary }
        }
        _ => Entry::Ignored(format!(
            "ignored {api_version} {kind} {namespace}/{name}: not a Namespace, ServiceAccount or Secret"
        )),
    })
}

/// Summarise a Secret document from its key names, without decoding a value.
fn secret_summary(object: &Value, metadata: &ObjectMeta) -> Result<SecretSummary, String> {
    let mut keys: Vec<&str> = Vec::new();
    for field in ["data", "stringData"] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => keys.extend(map.keys().map(String::as_str)),
            Some(_) => return Err(format!("{field} must be a map of keys to values")),
        }
    }
    let secret_type = match object.get("type") {
        None | Some(Value::Null) => "Opaque",
        Some(Value::String(t)) if t.is_empty() => "Opaque",
        Some(Value::String(t)) => t,
        Some(_) => return Err("type must be a string".to_string()),
    };
    Ok(SecretSummary {
        secret_type: Some(secret_type.into()),
        keys: Some(shared_keys(&mut keys)),
        names_service_account: SecretSummary::from_metadata(metadata).names_service_account,
    })
}

/// The snapshot files a path stands for, sorted for a stable load order.
pub fn files_of(path: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let meta = std::fs::metadata(path).map_err(|source| SnapshotError::Read { path: path.to_path_buf(), source })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !meta.is_dir() {
        return Err(SnapshotError::Unusable { path: path.to_path_buf(), reason: "not a file or directory".into() });
    }
    let entries = std::fs::read_dir(path).map_err(|source| SnapshotError::Read { path: path.to_path_buf(), source })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SnapshotError::Read { path: path.to_path_buf(), source })?;
        let file = entry.path();
        let wanted = file.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e));
        if wanted && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(SnapshotError::Unusable {
            path: path.to_path_buf(),
            reason: "the directory holds no *.yaml, *.yml or *.json files".into(),
        });
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ClusterView;

    fn load(text: &str) -> Snapshot {
        let mut s = Snapshot::default();
        s.add_text(Path::new("test.yaml"), text).unwrap();
        s
    }

    #[test]
    fn loads_multi_document_yaml() {
        let s = load(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: apps}\ntype: kubernetes.io/basic-auth\n\
             data: {username: YWRtaW4=}\nstringData: {password: hunter2}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: builder}\nsecrets: [{name: db}]\n",
        );
        assert_eq!(s.namespaces, 1);
        let db = s.inventory.secret("apps", "db").unwrap();
        assert_eq!(db.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(db.has_key("password"), Some(true));
        assert!(!format!("{db:?}").contains("hunter2"));
        assert!(s.inventory.service_account("default", "builder").unwrap().lists_secret("db"));
        assert!(s.inventory.secret("default", "db").is_none(), "namespaces are separate");
    }

    #[test]
    fn loads_lists_in_json() {
        let s = load(
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}]}"#,
        );
        assert!(s.inventory.secret("default", "a").is_some());
        let s = load(
            "apiVersion: v1\nkind: SecretList\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b, namespace: x}}\n",
        );
        assert!(s.inventory.secret("x", "b").is_some());
    }

    #[test]
    fn other_kinds_and_duplicates_are_noted() {
        let s = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
        );
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
        assert!(s.notes[0].contains("ignored v1 ConfigMap default/c"));
        assert!(s.notes[1].contains("Secret default/a is defined more than once"));
    }

    #[test]
    fn errors_name_the_document_without_values() {
        let mut s = Snapshot::default();
        let err = s
            .add_text(
                Path::new("c.yaml"),
                "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\nkind: Secret\nstringData: {p: hunter2}\n",
            )
            .unwrap_err()
            .to_string();
        assert_eq!(err, "c.yaml: document 2: missing apiVersion");
        let err = s
            .add_text(Path::new("d.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: [hunter2]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data must be a map") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn directories_need_snapshot_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = Snapshot::load(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(err.contains("holds no *.yaml"), "{err}");
        std::fs::write(dir.path().join("a.yml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not yaml: [").unwrap();
        let s = Snapshot::load(&[dir.path().to_path_buf()]).unwrap();
        assert!(s.inventory.secret("default", "a").is_some());
    }
}
