//! The layering rules of the codebase, checked on the source text:
//! - `src/policy` is pure: no I/O, no async, no logging, no clock, and it
//!   reaches no other module of the crate;
//! - `src/admission` knows no HTTP;
//! - the audit's pass, objects and reports (`src/audit/{scan,object,reports,output}`)
//!   do no I/O: its sources and publisher do.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn module_files(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = rust_files(&src.join(module));
    files.push(src.join(format!("{module}.rs")));
    files
}

/// Every occurrence of a forbidden path in code (comments skipped).
fn violations(module: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in module_files(module) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for needle in forbidden {
                if code.contains(needle) {
                    found.push(format!("{}:{}: {needle}", file.display(), n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn policy_core_is_pure() {
    let forbidden = [
        "tokio",
        "kube::",
        "kube_",
        "axum",
        "hyper",
        "tracing::",
        "prometheus",
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "std::thread",
        "SystemTime",
        "Instant",
        "async ",
        ".await",
        "println!",
        "eprintln!",
        "crate::admission",
        "crate::cluster",
        "crate::server",
        "crate::app",
        "crate::config",
        "crate::metrics",
    ];
    let found = violations("policy", &forbidden);
    assert!(found.is_empty(), "the policy core must stay pure:\n{}", found.join("\n"));
}

#[test]
fn admission_knows_no_http() {
    let found = violations("admission", &["axum", "hyper", "http::", "crate::server", "StatusCode"]);
    assert!(found.is_empty(), "the admission adapter must not know HTTP:\n{}", found.join("\n"));
}

#[test]
fn the_audit_pass_and_its_reports_are_pure() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audit");
    let forbidden =
        ["tokio", "kube::", "std::fs", "std::net", "SystemTime", "Instant", "async ", ".await", "tracing::"];
    let mut found = Vec::new();
    for file in ["scan.rs", "scan/tests.rs", "object.rs", "reports.rs", "output.rs"] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            found.extend(forbidden.iter().filter(|f| code.contains(*f)).map(|f| format!("{file}:{}: {f}", n + 1)));
        }
    }
    assert!(
        found.is_empty(),
        "the audit pass must stay pure (I/O lives in files, live, publish, runner):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_itself_finds_things() {
    // guard against a vacuous pass: the admission module does use kube
    assert!(!violations("admission", &["kube::"]).is_empty());
}
