//! An audit over snapshot files (`--cluster`): a first pass loads the
//! lookups (Namespaces, ServiceAccounts, Secret summaries) as `review` does,
//! a second streams every object through the scan, one at a time: a list's
//! items are checked as they are read, so a 40 MB `kubectl get -o yaml`
//! export never exists in memory as one tree.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::object::Object;
use super::scan::Scan;
use crate::cluster::Snapshot;

/// What a file pass reports as it goes.
pub trait Progress {
    /// One line for stderr.
    fn note(&mut self, line: &str);
}

/// Scan every object of `paths` into `scan` (whose inventory must already
/// hold the snapshot's lookups: see [`load_lookups`]). Objects of
/// namespaces that `wanted` refuses are left out.
pub fn scan_files(
    paths: &[PathBuf],
    scan: Scan,
    wanted: Box<dyn Fn(&str) -> bool>,
    progress: &mut dyn Progress,
) -> Result<Scan, String> {
    let shared = Rc::new(RefCell::new(scan));
    let wanted: Rc<dyn Fn(&str) -> bool> = Rc::from(wanted);
    for file in snapshot_files(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let sink = shared.clone();
        let wanted = wanted.clone();
        let mut index = 0usize;
        SINK.set(Some(Box::new(move |value: Value| {
            index += 1;
            let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
            if !wanted(namespace) {
                return Ok(());
            }
            match Object::from_value(value) {
                Ok(Some(object)) => {
                    sink.borrow_mut().scan(&object);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(reason) => Err(format!("object {index}: {reason}")),
            }
        })));
        let result = stream(&text);
        SINK.set(None);
        result.map_err(|e| format!("{}: {e}", file.display()))?;
        progress.note(&format!("{}: {} objects checked so far", file.display(), shared.borrow().scanned()));
    }
    Ok(Rc::try_unwrap(shared).map_err(|_| "the scan is still shared".to_string())?.into_inner())
}

/// The snapshot's lookups; notes about kinds the audit reads are dropped
/// (they are not ignored here).
pub fn load_lookups(paths: &[PathBuf]) -> Result<(Snapshot, Vec<String>), String> {
    let mut snapshot = Snapshot::load(paths).map_err(|e| format!("--cluster {e}"))?;
    let notes = std::mem::take(&mut snapshot.notes)
        .into_iter()
        .filter(|n| !n.starts_with("ignored ") || !audited_note(n))
        .collect();
    Ok((snapshot, notes))
}

fn audited_note(note: &str) -> bool {
    let mut words = note.split(' ').skip(1);
    let (Some(api_version), Some(kind)) = (words.next(), words.next()) else { return false };
    (api_version == "v1" && (kind == "Pod" || kind == "ConfigMap"))
        || super::object::WORKLOADS.iter().any(|(v, k, _)| *v == api_version && *k == kind)
}

fn snapshot_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(crate::cluster::snapshot::files_of(path).map_err(|e| format!("--cluster {e}"))?);
    }
    Ok(files)
}

type Sink = Box<dyn FnMut(Value) -> Result<(), String>>;

thread_local! {
    /// Where the streaming reader hands each object (set per file).
    static SINK: RefCell<Option<Sink>> = RefCell::new(None);
}

thread_local! {
    /// Objects handed on so far in this file, and how many of them a retry
    /// skips: a JSON parse that fails after some objects (a `{...}\n---\n{...}`
    /// stream) is read again as YAML, which must not check them twice.
    static EMITTED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

fn emit(value: Value) -> Result<(), String> {
    let (emitted, skip) = EMITTED.get();
    EMITTED.set((emitted + 1, skip));
    if emitted < skip {
        return Ok(());
    }
    SINK.with_borrow_mut(|sink| match sink {
        Some(sink) => sink(value),
        None => Ok(()),
    })
}

/// Read every document of `text`, handing each object to the sink.
fn stream(text: &str) -> Result<(), String> {
    EMITTED.set((0, 0));
    if text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<Streamed>(text) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_data() => return Err(crate::documents::redact_quoted(&e.to_string())),
            // JSON is YAML: `{...}\n---\n{...}` is a valid multi-document stream;
            // what the JSON pass already checked is skipped
            Err(json) => {
                EMITTED.set((0, EMITTED.get().0));
                return read_yaml(text).map_err(|_| crate::documents::json_error(&json).to_string());
            }
        }
    }
    read_yaml(text).map_err(|e| e.to_string())
}

fn read_yaml(text: &str) -> Result<(), crate::documents::DocumentError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_multiple_with_options::<Streamed, Discard>(text, options)
        .map(|_| ())
        .map_err(|e| crate::documents::yaml_error(&e))
}

/// Documents are handed on as they are read; nothing is collected.
#[derive(Default)]
struct Discard;

impl Extend<Streamed> for Discard {
    fn extend<I: IntoIterator<Item = Streamed>>(&mut self, iter: I) {
        iter.into_iter().for_each(drop);
    }
}

/// One document: an object, or a list whose items are handed on one by one.
struct Streamed;

impl<'de> Deserialize<'de> for Streamed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Streamed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object or list")
    }

    fn visit_unit<E>(self) -> Result<Streamed, E> {
        Ok(Streamed)
    }

    fn visit_none<E>(self) -> Result<Streamed, E> {
        Ok(Streamed)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Streamed, A::Error> {
        let mut fields = serde_json::Map::new();
        let mut list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value::<Items>()?;
                list = true;
            } else {
                fields.insert(key, map.next_value::<Value>()?);
            }
        }
        if !list {
            emit(Value::Object(fields)).map_err(serde::de::Error::custom)?;
        }
        Ok(Streamed)
    }
}

/// The `items` of a list, each handed on as soon as it is read.
struct Items;

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = Items;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an items array")
            }
            fn visit_unit<E>(self) -> Result<Items, E> {
                Ok(Items)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Items, S::Error> {
                while let Some(item) = seq.next_element::<Value>()? {
                    emit(item).map_err(serde::de::Error::custom)?;
                }
                Ok(Items)
            }
        }
        deserializer.deserialize_any(ItemsVisitor)
    }
}
