//! `secretgate test`: the example suites pass; a changed expectation fails
//! naming the case, the expected and the actual answer; `--run` filters;
//! suite errors name the key; `--junit` writes XML that a JUnit XML schema
//! validator (Python's xmlschema, installed by `.ci/chart-tools.sh`) accepts.
//! Without that validator the schema check is reported as ignored
//! ("skipped"), never as passed; under CI=true it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};
use support::{root, secretgate};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = secretgate(args, b"");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn examples() -> String {
    root().join("examples/tests").to_str().unwrap().to_string()
}

/// A copy of `examples/` (suites refer to ../../requests), to edit.
fn copy_examples() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap().path();
            let target = to.join(entry.file_name().unwrap());
            if entry.is_dir() { copy(&entry, &target) } else { std::fs::copy(&entry, &target).map(|_| ()).unwrap() }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&root().join("examples"), &dir.path().join("examples"));
    dir
}

fn check(ok: bool, message: String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(message.into()) }
}

fn the_example_suites_pass() -> Result<(), Failed> {
    let (code, out, err) = run(&["test", &examples()]);
    check(code == 0, format!("exit {code}:\n{out}\n{err}"))?;
    check(out.contains("secretgate test: 3 suites, 14 cases: 14 passed, 0 failed"), out)
}

fn a_changed_expectation_fails_naming_case_expected_and_actual() -> Result<(), Failed> {
    let dir = copy_examples();
    let suite = dir.path().join("examples/tests/basics/secretgate-test.yaml");
    let text = std::fs::read_to_string(&suite).unwrap();
    let changed = text.replacen("      allowed: false\n", "      allowed: true\n", 1);
    check(changed != text, "nothing to change".into())?;
    std::fs::write(&suite, changed).unwrap();
    let (code, out, _) = run(&["test", dir.path().join("examples/tests").to_str().unwrap()]);
    check(code == 1, format!("exit {code}:\n{out}"))?;
    check(out.contains("  FAIL  a Secret with invalid keys is denied\n"), out.clone())?;
    check(
        out.contains("expected allowed, got denied: [secret-keys] data[..hidden]: Invalid value: \"..hidden\""),
        out.clone(),
    )?;
    check(out.contains("14 cases: 13 passed, 1 failed"), out)
}

fn a_changed_patch_expectation_names_the_first_difference() -> Result<(), Failed> {
    let dir = copy_examples();
    let expected = dir.path().join("examples/tests/basics/expected/pod-inject-patched.yaml");
    let text = std::fs::read_to_string(&expected).unwrap();
    std::fs::write(&expected, text.replace("- name: other-reg", "- name: another-reg")).unwrap();
    let (code, out, _) = run(&["test", dir.path().join("examples/tests").to_str().unwrap()]);
    check(code == 1, format!("exit {code}:\n{out}"))?;
    check(out.contains("at /spec/imagePullSecrets/2/name: expected \"another-reg\", got \"other-reg\""), out)
}

fn run_filters_cases_by_name() -> Result<(), Failed> {
    let (code, out, _) = run(&["test", &examples(), "--run", "chart-values/"]);
    check(code == 0, out.clone())?;
    check(out.contains("2 cases: 2 passed, 0 failed, 12 filtered out by --run"), out.clone())?;
    check(!out.contains("ok    a Secret with invalid keys"), out)?;
    let (code, _, err) = run(&["test", &examples(), "--run", "no such case"]);
    check(code == 2 && err.contains("no case ran"), err)
}

fn flags_give_the_policy_and_cluster_of_suites_without_their_own() -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    let case = |name: &str, input: &str, expect: &str| {
        format!("  - name: {name}\n    input: {}\n    expect: {expect}\n", root().join(input).display())
    };
    let suite_text = format!(
        "cases:\n{}{}",
        case("hygiene is off", "examples/requests/secret-echo-newline.yaml", "{notRules: [secret-hygiene]}"),
        case(
            "a missing Secret is denied",
            "examples/requests/pod-missing-secret.yaml",
            "{rules: [{id: pod-secret-exists, action: deny}]}"
        ),
    );
    std::fs::write(dir.path().join("secretgate-test.yaml"), suite_text).unwrap();
    std::fs::write(dir.path().join("values.yaml"), "policy:\n  rules:\n    secret-hygiene: {action: \"off\"}\n")
        .unwrap();
    let suite = dir.path().to_str().unwrap();
    let cluster = root().join("examples/cluster");
    let values = dir.path().join("values.yaml");
    let (code, out, _) =
        run(&["test", suite, "--cluster", cluster.to_str().unwrap(), "--values", values.to_str().unwrap()]);
    check(code == 0, out.clone())?;
    // without the values the default policy warns; without the cluster the Secret is unknown, not missing
    let (code, out, _) = run(&["test", suite]);
    check(code == 1, out.clone())?;
    check(out.contains("expected [secret-hygiene] not to fire; rules that fired: secret-hygiene (warn)"), out.clone())?;
    check(out.contains("expected [pod-secret-exists] to deny"), out)
}

fn suite_errors_exit_2_naming_the_key() -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("secretgate-test.yaml");
    std::fs::write(&suite, "cases:\n  - name: c\n    input: x.yaml\n    expect: {alowed: true}\n").unwrap();
    let (code, _, err) = run(&["test", dir.path().to_str().unwrap()]);
    check(code == 2, err.clone())?;
    check(err.contains("cases[0].expect.alowed: unknown key (expected one of: allowed,"), err)?;
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["test", empty.path().to_str().unwrap()]);
    check(code == 2 && err.contains("no secretgate-test.yaml"), err)
}

fn validator() -> Option<PathBuf> {
    Some(root().join(".tools/venv/bin/python"))
        .filter(|p| Command::new(p).args(["-c", "import xmlschema"]).output().is_ok_and(|o| o.status.success()))
}

fn junit_reports_validate_against_a_junit_schema() -> Result<(), Failed> {
    let python = validator().ok_or("xmlschema is required under CI: run bash .ci/chart-tools.sh")?;
    let dir = copy_examples();
    let suite = dir.path().join("examples/tests/basics/secretgate-test.yaml");
    let text = std::fs::read_to_string(&suite).unwrap();
    std::fs::write(&suite, text.replacen("      allowed: false\n", "      allowed: true\n", 1)).unwrap();
    for (suites, want_failures) in
        [(examples(), 0), (dir.path().join("examples/tests").to_str().unwrap().to_string(), 1)]
    {
        let report = dir.path().join("junit.xml");
        let (code, out, _) = run(&["test", &suites, "--junit", report.to_str().unwrap()]);
        check(code == i32::from(want_failures > 0), out)?;
        let schema = root().join("tests/fixtures/junit.xsd");
        let validate = Command::new(&python)
            .args(["-c", "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])"])
            .arg(&schema)
            .arg(&report)
            .output()
            .unwrap();
        check(validate.status.success(), String::from_utf8_lossy(&validate.stderr).into_owned())?;
        let xml = std::fs::read_to_string(&report).unwrap();
        check(xml.contains(&format!("tests=\"14\" failures=\"{want_failures}\"")), xml.clone())?;
        if want_failures > 0 {
            check(xml.contains("<failure message=\"expected allowed, got denied: [secret-keys]"), xml)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let no_validator = validator().is_none();
    if no_validator && !ci {
        eprintln!(
            "skipped: the JUnit schema check needs xmlschema (bash .ci/chart-tools.sh installs it into .tools/venv)"
        );
    }
    type Test = fn() -> Result<(), Failed>;
    let plain: Vec<(&str, Test)> = vec![
        ("the_example_suites_pass", the_example_suites_pass),
        (
            "a_changed_expectation_fails_naming_case_expected_and_actual",
            a_changed_expectation_fails_naming_case_expected_and_actual,
        ),
        (
            "a_changed_patch_expectation_names_the_first_difference",
            a_changed_patch_expectation_names_the_first_difference,
        ),
        ("run_filters_cases_by_name", run_filters_cases_by_name),
        ("suite_errors_exit_2_naming_the_key", suite_errors_exit_2_naming_the_key),
        (
            "flags_give_the_policy_and_cluster_of_suites_without_their_own",
            flags_give_the_policy_and_cluster_of_suites_without_their_own,
        ),
    ];
    let mut trials: Vec<Trial> = plain.into_iter().map(|(name, f)| Trial::test(name, f)).collect();
    trials.push(
        Trial::test("junit_reports_validate_against_a_junit_schema", junit_reports_validate_against_a_junit_schema)
            .with_ignored_flag(no_validator && !ci),
    );
    libtest_mimic::run(&args, trials).exit_code()
}
