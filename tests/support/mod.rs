//! Shared helpers for the integration tests: run the real binary, load
//! fixtures, compare golden files (`UPDATE_GOLDEN=1` rewrites them).
#![allow(dead_code)]

pub mod client;
pub mod leaks;
pub mod mock_api;
pub mod rfc6902;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Run `secretgate` with `args`, feeding `stdin`.
pub fn secretgate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretgate"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the secretgate binary runs");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Every `*.request.json` below `tests/fixtures/admission/<webhook>`, sorted.
pub fn requests(webhook: &str) -> Vec<PathBuf> {
    let dir = fixture(&format!("admission/{webhook}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".request.json"))
        .collect();
    files.sort();
    files
}

/// The sibling of a request fixture with another suffix.
pub fn sibling(request: &Path, suffix: &str) -> PathBuf {
    let name = request.file_name().unwrap().to_string_lossy().replace(".request.json", suffix);
    request.with_file_name(name)
}

/// An answer made reviewable: the base64 patch decoded to JSON.
pub fn readable(mut answer: Value) -> Value {
    if let Some(patch) = answer.pointer_mut("/response/patch") {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(patch.as_str().expect("patch is a string")).unwrap();
        *patch = serde_json::from_slice(&bytes).expect("the patch is JSON");
    }
    answer
}

/// Compare `actual` with the golden file, or rewrite it under `UPDATE_GOLDEN=1`.
pub fn golden(path: &Path, actual: &Value) {
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} is missing; run UPDATE_GOLDEN=1 cargo test to create it", path.display()));
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(
        actual,
        &expected,
        "{} differs; if the change is intended, run UPDATE_GOLDEN=1 cargo test and review the diff",
        path.display()
    );
}

/// Base64 of `bytes`, as Kubernetes writes Secret data.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
