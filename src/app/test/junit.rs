//! JUnit XML, the report format CI systems read (Jenkins, GitLab, GitHub
//! Actions reporters): `testsuites` > `testsuite` per suite > `testcase` per
//! case, with a `failure` element for each failed case.

/// One case's outcome.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// Seconds it took.
    pub seconds: f64,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// One suite's outcomes.
#[derive(Clone, Debug)]
pub struct SuiteResult {
    /// The suite name.
    pub name: String,
    /// Its file, for the report.
    pub file: String,
    /// Its cases.
    pub cases: Vec<CaseResult>,
}

/// Text for an XML attribute or element: escaped, and without the characters
/// XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The whole report.
pub fn render(suites: &[SuiteResult]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().flat_map(|s| &s.cases).filter(|c| c.failure.is_some()).count();
    let seconds: f64 = suites.iter().flat_map(|s| &s.cases).map(|c| c.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"secretgate test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\">\n"
    ));
    for suite in suites {
        let failed = suite.cases.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = suite.cases.iter().map(|c| c.seconds).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\" file=\"{}\">\n",
            escape(&suite.name),
            suite.cases.len(),
            escape(&suite.file)
        ));
        for case in &suite.cases {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(&suite.name),
                case.seconds
            );
            match &case.failure {
                None => out.push_str(&format!("{open}/>\n")),
                Some(why) => {
                    let first = why.lines().next().unwrap_or_default();
                    out.push_str(&format!(
                        "{open}>\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>\n",
                        escape(first),
                        escape(why)
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_text_is_escaped() {
        let xml = render(&[SuiteResult {
            name: "a<b".into(),
            file: "s.yaml".into(),
            cases: vec![
                CaseResult { name: "ok".into(), seconds: 0.01, failure: None },
                CaseResult { name: "\"bad\" & co".into(), seconds: 0.02, failure: Some("expected <x>\u{1}".into()) },
            ],
        }]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"a&lt;b\"") && xml.contains("&quot;bad&quot; &amp; co"), "{xml}");
        assert!(xml.contains("expected &lt;x&gt;\u{FFFD}"), "{xml}");
    }
}
