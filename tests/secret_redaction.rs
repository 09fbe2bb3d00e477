//! No Secret value, raw or base64, may appear in an answer or on stderr —
//! whatever the rule, the action, or the way the input is broken.

mod support;

use support::leaks::corpus;
use support::{b64, secretgate};

#[test]
fn no_secret_value_reaches_answers_or_stderr() {
    let mut denied_or_warned = 0;
    for (what, input, extra, secrets) in corpus() {
        for webhook in ["validate", "mutate"] {
            let mut args = vec!["--log-level", "trace", "review", "--webhook", webhook];
            args.extend(extra.iter().map(String::as_str));
            args.push("-");
            let out = secretgate(&args, input.as_bytes());
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            for secret in &secrets {
                for needle in [secret.clone(), b64(secret.as_bytes())] {
                    assert!(!stdout.contains(&needle), "{what} ({webhook}): answer leaks {needle}:\n{stdout}");
                    assert!(!stderr.contains(&needle), "{what} ({webhook}): stderr leaks {needle}:\n{stderr}");
                }
            }
            if webhook == "validate" && (out.status.code() != Some(0) || stdout.contains("warnings")) {
                denied_or_warned += 1;
            }
        }
    }
    // the corpus must actually exercise rejections and warnings
    assert!(denied_or_warned >= 12, "only {denied_or_warned} cases were rejected or warned");
}
