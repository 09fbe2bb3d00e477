//! A [`Decision`] into an `AdmissionResponse`: the answer rules of contract §3
//! and the API server's budgets for warnings (reference Part A §3.7).

use kube::core::Status;
use kube::core::admission::AdmissionResponse;

use crate::policy::Decision;
use crate::policy::decision::Texts;

/// The API server truncates each warning to this many characters.
pub const MAX_WARNING_CHARS: usize = 256;
/// The API server's budget for all warnings of one request, in characters.
pub const MAX_WARNINGS_CHARS: usize = 4096;
/// Longest audit annotation value we write.
pub const MAX_AUDIT_CHARS: usize = 2048;
/// Longest `status.message` of a denial, in bytes (contract §3): an answer
/// stays small whatever the input.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Violations of one rule shown before `[<rule>] ... and N more`.
pub const MAX_LINES_PER_RULE: usize = 20;
/// Longest single violation line, in characters.
const MAX_LINE_CHARS: usize = 1024;

/// Apply a decision to a response built from its request.
pub fn apply(mut response: AdmissionResponse, decision: &Decision, extra_warnings: &[String]) -> AdmissionResponse {
    if let Some(denial) = decision.denial {
        response.allowed = false;
        let omitted: Vec<(&str, usize)> = decision.denials_omitted.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        let message = denial_message(&decision.denials, &omitted);
        response.result = Status::failure(&message, denial.reason()).with_code(denial.code());
    }
    let warnings = budget(decision.warnings.iter().chain(extra_warnings));
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    for (rule, texts) in &decision.audit {
        response.audit_annotations.insert(rule.as_str().to_string(), audit_value(texts));
    }
    response
}

/// Fit warnings into the API server's budgets: each at most
/// [`MAX_WARNING_CHARS`], all together at most [`MAX_WARNINGS_CHARS`], with a
/// last line saying how many did not fit. Control characters, which make the
/// API server drop a warning silently, become spaces.
pub fn budget<'a>(warnings: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    const OMITTED_RESERVE: usize = 64;
    let warnings: Vec<&String> = warnings.into_iter().collect();
    let mut out = Vec::new();
    let mut used = 0;
    for (i, warning) in warnings.iter().enumerate() {
        let text = fit(warning, MAX_WARNING_CHARS);
        let len = text.chars().count();
        let remaining = warnings.len() - i - 1;
        let reserve = if remaining > 0 { OMITTED_RESERVE } else { 0 };
        if used + len + reserve > MAX_WARNINGS_CHARS {
            out.push(format!("[secretgate] {} more warnings not shown", warnings.len() - i));
            break;
        }
        used += len;
        out.push(text);
    }
    out
}

/// The denial lines, one per violation, bounded: at most
/// [`MAX_LINES_PER_RULE`] per rule, each at most `MAX_LINE_CHARS`, all
/// within [`MAX_MESSAGE_BYTES`]; a rule with more ends with
/// `[<rule>] ... and N more`, counting the violations whose lines were not
/// kept (`omitted`, per rule id). Rules keep the order of their first line.
pub fn denial_message(lines: &[String], omitted: &[(&str, usize)]) -> String {
    // room for the `... and N more` line of a rule
    const MORE_RESERVE: usize = 64;
    let mut groups: Vec<(&str, Vec<&String>)> = Vec::new();
    for line in lines {
        let rule = line.strip_prefix('[').and_then(|rest| rest.split_once("] ")).map_or("", |(rule, _)| rule);
        match groups.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, group)) => group.push(line),
            None => groups.push((rule, vec![line])),
        }
    }
    let mut out = String::new();
    for (i, (rule, group)) in groups.iter().enumerate() {
        let later = (groups.len() - i - 1) * MORE_RESERVE;
        let mut shown = 0;
        for line in group.iter().take(MAX_LINES_PER_RULE) {
            let line = cut(line, MAX_LINE_CHARS);
            let reserve = if shown + 1 < group.len() { MORE_RESERVE } else { 0 };
            if out.len() + line.len() + 1 + reserve + later > MAX_MESSAGE_BYTES {
                break;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line);
            shown += 1;
        }
        let total = group.len() + omitted.iter().find(|(r, _)| r == rule).map_or(0, |(_, n)| *n);
        if shown < total {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{rule}] ... and {} more", total - shown));
        }
    }
    out
}

/// `text` cut to `max` characters (`...` at the end when cut), unchanged otherwise.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max - 3) {
        Some((end, _)) if text.chars().count() > max => format!("{}...", &text[..end]).into(),
        _ => text.into(),
    }
}

/// `text` with control characters replaced and cut to `max` characters.
fn fit(text: &str, max: usize) -> String {
    let clean = |c: char| if c.is_control() { ' ' } else { c };
    if text.chars().count() <= max {
        return text.chars().map(clean).collect();
    }
    let mut out: String = text.chars().take(max - 3).map(clean).collect();
    out.push_str("...");
    out
}

/// The audit annotation of a rule whose violations `exemption` lifted.
pub fn exempt_value(exemption: &str, texts: &Texts) -> String {
    let noun = if texts.total == 1 { "violation" } else { "violations" };
    fit(&format!("exempt by {exemption}: {} {noun}: {}", texts.total, texts.kept.join("; ")), MAX_AUDIT_CHARS)
}

fn audit_value(texts: &Texts) -> String {
    let noun = if texts.total == 1 { "violation" } else { "violations" };
    fit(&format!("{} {noun}: {}", texts.total, texts.kept.join("; ")), MAX_AUDIT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Finding, RuleId, decide};

    fn response() -> AdmissionResponse {
        AdmissionResponse::invalid("x")
    }

    #[test]
    fn denials_carry_code_reason_and_every_message() {
        let findings = [
            Finding::violation(RuleId::SecretKeys, "data[a*b]", "Invalid value"),
            Finding::violation(RuleId::SecretSize, "data", "Too long"),
        ];
        let resp = apply(AdmissionResponse::invalid(""), &decide(&findings, |_| crate::policy::Action::Deny), &[]);
        assert!(!resp.allowed);
        assert_eq!(resp.result.code, 422);
        assert_eq!(resp.result.reason, "Invalid");
        assert_eq!(resp.result.message, "[secret-keys] data[a*b]: Invalid value\n[secret-size] data: Too long");
    }

    #[test]
    fn a_denial_message_is_bounded_whatever_the_input() {
        let mut lines: Vec<String> =
            (0..100_000).map(|i| format!("[secret-keys] data[k{i}*]: Invalid value")).collect();
        lines.extend((0..3).map(|i| format!("[secret-size] data: too long {i}")));
        lines.push(format!("[secret-type] data[{}]: Required value", "x".repeat(100_000)));
        let message = denial_message(&lines, &[]);
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
        let out: Vec<&str> = message.lines().collect();
        assert_eq!(out[0], "[secret-keys] data[k0*]: Invalid value");
        assert_eq!(out[MAX_LINES_PER_RULE], format!("[secret-keys] ... and {} more", 100_000 - MAX_LINES_PER_RULE));
        assert_eq!(
            &out[MAX_LINES_PER_RULE + 1..MAX_LINES_PER_RULE + 4],
            ["[secret-size] data: too long 0", "[secret-size] data: too long 1", "[secret-size] data: too long 2"]
        );
        let last = out.last().unwrap();
        assert!(
            last.starts_with("[secret-type] data[xxx")
                && last.ends_with("...")
                && last.chars().count() == MAX_LINE_CHARS,
            "{last}"
        );
    }

    #[test]
    fn many_rules_with_long_lines_each_still_say_how_many() {
        let rules = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"];
        let lines: Vec<String> =
            rules.iter().flat_map(|r| (0..50).map(move |i| format!("[{r}] {i} {}", "z".repeat(2000)))).collect();
        let message = denial_message(&lines, &[]);
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
        for rule in rules {
            let shown =
                message.lines().filter(|l| l.starts_with(&format!("[{rule}] ")) && !l.contains("... and")).count();
            assert!(message.contains(&format!("[{rule}] ... and {} more", 50 - shown)), "{rule}: {shown} shown");
        }
    }

    #[test]
    fn a_short_denial_is_unchanged() {
        let lines = vec!["[a] data[\tx]: bad".to_string(), "[b] two".to_string()];
        assert_eq!(denial_message(&lines, &[]), "[a] data[\tx]: bad\n[b] two");
        assert_eq!(denial_message(&lines, &[("b", 5)]), "[a] data[\tx]: bad\n[b] two\n[b] ... and 5 more");
    }

    #[test]
    fn audit_annotations_are_keyed_by_rule() {
        let findings = [Finding::violation(RuleId::SecretHygiene, "data[p]", "newline")];
        let mut resp = response();
        resp.allowed = true;
        let resp = apply(resp, &decide(&findings, |_| crate::policy::Action::Audit), &[]);
        assert_eq!(resp.audit_annotations["secret-hygiene"], "1 violation: [secret-hygiene] data[p]: newline");
        assert!(resp.warnings.is_none());
    }

    #[test]
    fn warnings_fit_the_api_servers_budget() {
        let many: Vec<String> = (0..100).map(|i| format!("[secret-keys] warning {i} {}", "x".repeat(300))).collect();
        let out = budget(&many);
        assert!(out.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS));
        assert!(out.iter().map(|w| w.chars().count()).sum::<usize>() <= MAX_WARNINGS_CHARS);
        let last = out.last().unwrap();
        assert_eq!(last, &format!("[secretgate] {} more warnings not shown", 100 - (out.len() - 1)));
    }

    #[test]
    fn a_few_short_warnings_pass_unchanged_and_control_characters_go() {
        let w = vec!["[a] one".to_string(), "[b] two\nlines".to_string()];
        assert_eq!(budget(&w), vec!["[a] one", "[b] two lines"]);
    }

    #[test]
    fn sixteen_full_warnings_fit_without_a_notice_when_they_are_all() {
        let w: Vec<String> = (0..16).map(|_| "y".repeat(256)).collect();
        assert_eq!(budget(&w).len(), 16);
    }
}
