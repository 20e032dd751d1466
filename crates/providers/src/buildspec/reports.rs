//! Test and coverage reports, read into counts as CodeBuild's report groups show them
//! (docs/codebuild.md "Reports"): JUnit, NUnit 2 and 3, TestNG, Visual Studio TRX and
//! Cucumber JSON test results; Cobertura, Clover, JaCoCo and SimpleCov line coverage. A
//! report that cannot be read is a warning, never a failed build. Parsing is pure.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::model::ReportFormat;

/// Test case counts, or line coverage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub covered_lines: u64,
    pub total_lines: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }

    pub fn add(&mut self, other: &Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.covered_lines += other.covered_lines;
        self.total_lines += other.total_lines;
    }
}

fn attribute(element: &BytesStart, name: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().into_inner() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

fn number(element: &BytesStart, name: &str) -> u64 {
    attribute(element, name).and_then(|v| v.trim().parse::<f64>().ok()).map_or(0, |v| v.max(0.0) as u64)
}

/// Every element start (and empty element) with its depth, in document order.
fn elements(text: &str, mut visit: impl FnMut(&BytesStart, usize, bool)) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                visit(&e, depth, false);
                depth += 1;
            }
            Ok(Event::Empty(e)) => visit(&e, depth, true),
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("not well-formed XML at byte {}: {e}", reader.error_position())),
        }
    }
}

fn name_of(element: &BytesStart) -> String {
    element.local_name().into_inner().to_string()
}

/// JUnit: each `<testcase>` is one test; a `<failure>` or `<error>` inside fails it, a
/// `<skipped>` skips it.
fn junit(text: &str) -> Result<Counts, String> {
    #[derive(PartialEq)]
    enum Case {
        Passed,
        Failed,
        Skipped,
    }
    let mut counts = Counts::default();
    let mut open: Option<(usize, Case)> = None;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let close = |counts: &mut Counts, case: Case| match case {
        Case::Passed => counts.passed += 1,
        Case::Failed => counts.failed += 1,
        Case::Skipped => counts.skipped += 1,
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                match name_of(&e).as_str() {
                    "testcase" => open = Some((depth, Case::Passed)),
                    "failure" | "error" => {
                        if let Some((_, case)) = open.as_mut() {
                            *case = Case::Failed;
                        }
                    }
                    "skipped" => {
                        if let Some((_, case)) = open.as_mut().filter(|(_, c)| *c == Case::Passed) {
                            *case = Case::Skipped;
                        }
                    }
                    _ => {}
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => match name_of(&e).as_str() {
                "testcase" => counts.passed += 1,
                "failure" | "error" => {
                    if let Some((_, case)) = open.as_mut() {
                        *case = Case::Failed;
                    }
                }
                "skipped" => {
                    if let Some((_, case)) = open.as_mut().filter(|(_, c)| *c == Case::Passed) {
                        *case = Case::Skipped;
                    }
                }
                _ => {}
            },
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                if open.as_ref().is_some_and(|(d, _)| *d == depth)
                    && let Some((_, case)) = open.take()
                {
                    close(&mut counts, case);
                }
            }
            Ok(Event::Eof) => return Ok(counts),
            Ok(_) => {}
            Err(e) => return Err(format!("not well-formed XML at byte {}: {e}", reader.error_position())),
        }
    }
}

fn by_result(text: &str, element: &str, classify: impl Fn(&BytesStart) -> Option<Outcome>) -> Result<Counts, String> {
    let mut counts = Counts::default();
    elements(text, |e, _, _| {
        if name_of(e) == element {
            match classify(e) {
                Some(Outcome::Passed) => counts.passed += 1,
                Some(Outcome::Failed) => counts.failed += 1,
                Some(Outcome::Skipped) => counts.skipped += 1,
                None => {}
            }
        }
    })?;
    Ok(counts)
}

enum Outcome {
    Passed,
    Failed,
    Skipped,
}

fn nunit2(e: &BytesStart) -> Option<Outcome> {
    let result = attribute(e, "result").unwrap_or_default().to_ascii_lowercase();
    let executed = attribute(e, "executed").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    Some(match result.as_str() {
        "success" => Outcome::Passed,
        "failure" | "error" | "notrunnable" | "cancelled" => Outcome::Failed,
        _ if !executed => Outcome::Skipped,
        _ => Outcome::Skipped,
    })
}

fn nunit3(e: &BytesStart) -> Option<Outcome> {
    Some(match attribute(e, "result").unwrap_or_default().to_ascii_lowercase().as_str() {
        "passed" => Outcome::Passed,
        "failed" => Outcome::Failed,
        _ => Outcome::Skipped,
    })
}

fn testng(e: &BytesStart) -> Option<Outcome> {
    if attribute(e, "is-config").is_some_and(|v| v == "true") {
        return None;
    }
    Some(match attribute(e, "status").unwrap_or_default().to_ascii_uppercase().as_str() {
        "PASS" => Outcome::Passed,
        "FAIL" => Outcome::Failed,
        _ => Outcome::Skipped,
    })
}

fn trx(e: &BytesStart) -> Option<Outcome> {
    Some(match attribute(e, "outcome").unwrap_or_default().to_ascii_lowercase().as_str() {
        "passed" | "passedbutrunaborted" | "warning" => Outcome::Passed,
        "failed" | "error" | "timeout" | "aborted" => Outcome::Failed,
        _ => Outcome::Skipped,
    })
}

/// Cucumber JSON: each scenario is a test; a failed step fails it, a step that did not
/// pass (skipped, pending, undefined) otherwise skips it.
fn cucumber(text: &str) -> Result<Counts, String> {
    let features: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut counts = Counts::default();
    for feature in features.as_array().ok_or("expected a JSON array of features")? {
        for element in feature["elements"].as_array().into_iter().flatten() {
            if element["type"] == "background" {
                continue;
            }
            let statuses: Vec<&str> = element["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(element["before"].as_array().into_iter().flatten())
                .chain(element["after"].as_array().into_iter().flatten())
                .filter_map(|step| step["result"]["status"].as_str())
                .collect();
            if statuses.contains(&"failed") {
                counts.failed += 1;
            } else if statuses.iter().all(|s| *s == "passed") {
                counts.passed += 1;
            } else {
                counts.skipped += 1;
            }
        }
    }
    Ok(counts)
}

fn cobertura(text: &str) -> Result<Counts, String> {
    let mut counts = None;
    elements(text, |e, depth, _| {
        if depth == 0 && name_of(e) == "coverage" {
            let covered = number(e, "lines-covered");
            let valid = number(e, "lines-valid");
            counts = Some(if valid > 0 {
                Counts { covered_lines: covered, total_lines: valid, ..Counts::default() }
            } else {
                // Older files give only the rate.
                let rate = attribute(e, "line-rate").and_then(|r| r.parse::<f64>().ok()).unwrap_or(0.0);
                Counts { covered_lines: (rate * 10_000.0).round() as u64, total_lines: 10_000, ..Counts::default() }
            });
        }
    })?;
    counts.ok_or_else(|| "no <coverage> element".to_string())
}

fn clover(text: &str) -> Result<Counts, String> {
    let mut counts = None;
    let mut in_project = false;
    elements(text, |e, depth, _| match name_of(e).as_str() {
        "project" if depth == 1 => in_project = true,
        "metrics" if in_project && counts.is_none() => {
            counts = Some(Counts {
                covered_lines: number(e, "coveredstatements"),
                total_lines: number(e, "statements"),
                ..Counts::default()
            });
        }
        _ => {}
    })?;
    counts.ok_or_else(|| "no project <metrics> element".to_string())
}

fn jacoco(text: &str) -> Result<Counts, String> {
    let mut counts = None;
    elements(text, |e, depth, _| {
        if depth == 1 && name_of(e) == "counter" && attribute(e, "type").as_deref() == Some("LINE") {
            let (missed, covered) = (number(e, "missed"), number(e, "covered"));
            counts = Some(Counts { covered_lines: covered, total_lines: missed + covered, ..Counts::default() });
        }
    })?;
    counts.ok_or_else(|| "no report-level LINE <counter>".to_string())
}

/// SimpleCov's `.resultset.json`: `{suite: {coverage: {file: {lines: [..]} | [..]}}}`.
fn simplecov(text: &str) -> Result<Counts, String> {
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut counts = Counts::default();
    let suites = document.as_object().ok_or("expected a JSON object of test suites")?;
    for suite in suites.values() {
        for file in suite["coverage"].as_object().into_iter().flat_map(|m| m.values()) {
            let lines = if file.is_array() { file } else { &file["lines"] };
            for line in lines.as_array().into_iter().flatten() {
                if let Some(hits) = line.as_u64() {
                    counts.total_lines += 1;
                    if hits > 0 {
                        counts.covered_lines += 1;
                    }
                }
            }
        }
    }
    Ok(counts)
}

/// The counts of one report file.
pub fn count(format: ReportFormat, text: &str) -> Result<Counts, String> {
    match format {
        ReportFormat::JunitXml => junit(text),
        ReportFormat::NunitXml => by_result(text, "test-case", nunit2),
        ReportFormat::Nunit3Xml => by_result(text, "test-case", nunit3),
        ReportFormat::TestngXml => by_result(text, "test-method", testng),
        ReportFormat::VisualStudioTrx => by_result(text, "UnitTestResult", trx),
        ReportFormat::CucumberJson => cucumber(text),
        ReportFormat::CoberturaXml => cobertura(text),
        ReportFormat::CloverXml => clover(text),
        ReportFormat::JacocoXml => jacoco(text),
        ReportFormat::SimpleCov => simplecov(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests(passed: u64, failed: u64, skipped: u64) -> Counts {
        Counts { passed, failed, skipped, ..Counts::default() }
    }

    #[test]
    fn junit_counts_test_cases_with_failures_errors_and_skips() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="s" tests="5">
  <testcase name="a"/>
  <testcase name="b"><failure message="boom">trace</failure></testcase>
  <testcase name="c"><error/></testcase>
  <testcase name="d"><skipped/></testcase>
  <testcase name="e"><system-out>ok</system-out></testcase>
</testsuite></testsuites>"#;
        assert_eq!(count(ReportFormat::JunitXml, xml).unwrap(), tests(2, 2, 1));
        assert!(count(ReportFormat::JunitXml, "<testsuite><testcase>").is_ok_and(|c| c.total() == 0));
        assert!(count(ReportFormat::JunitXml, "<a></b>").is_err());
    }

    #[test]
    fn nunit_testng_and_trx() {
        let nunit2 = r#"<test-results><test-suite><results>
<test-case name="a" executed="True" result="Success"/><test-case name="b" executed="True" result="Failure"/>
<test-case name="c" executed="False" result="Ignored"/></results></test-suite></test-results>"#;
        assert_eq!(count(ReportFormat::NunitXml, nunit2).unwrap(), tests(1, 1, 1));
        let nunit3 = r#"<test-run><test-suite><test-case result="Passed"/><test-case result="Failed"/><test-case result="Skipped"/><test-case result="Passed"/></test-suite></test-run>"#;
        assert_eq!(count(ReportFormat::Nunit3Xml, nunit3).unwrap(), tests(2, 1, 1));
        let testng = r#"<testng-results><suite><test><class>
<test-method status="PASS" is-config="true" name="setUp"/><test-method status="PASS" name="a"/>
<test-method status="FAIL" name="b"/><test-method status="SKIP" name="c"/></class></test></suite></testng-results>"#;
        assert_eq!(count(ReportFormat::TestngXml, testng).unwrap(), tests(1, 1, 1));
        let trx = r#"<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>
<UnitTestResult outcome="Passed"/><UnitTestResult outcome="Failed"/><UnitTestResult outcome="NotExecuted"/></Results></TestRun>"#;
        assert_eq!(count(ReportFormat::VisualStudioTrx, trx).unwrap(), tests(1, 1, 1));
    }

    #[test]
    fn cucumber_scenarios() {
        let json = r#"[{"elements":[
 {"type":"background","steps":[{"result":{"status":"passed"}}]},
 {"type":"scenario","steps":[{"result":{"status":"passed"}},{"result":{"status":"passed"}}]},
 {"type":"scenario","steps":[{"result":{"status":"passed"}},{"result":{"status":"failed"}}]},
 {"type":"scenario","steps":[{"result":{"status":"undefined"}}]}]}]"#;
        assert_eq!(count(ReportFormat::CucumberJson, json).unwrap(), tests(1, 1, 1));
        assert!(count(ReportFormat::CucumberJson, "{}").is_err());
    }

    #[test]
    fn coverage_formats_give_lines() {
        let lines = |covered, total| Counts { covered_lines: covered, total_lines: total, ..Counts::default() };
        let cobertura = r#"<coverage line-rate="0.8" lines-covered="80" lines-valid="100"><packages/></coverage>"#;
        assert_eq!(count(ReportFormat::CoberturaXml, cobertura).unwrap(), lines(80, 100));
        assert_eq!(count(ReportFormat::CoberturaXml, r#"<coverage line-rate="0.5"/>"#).unwrap(), lines(5000, 10000));
        let clover = r#"<coverage><project><metrics statements="40" coveredstatements="30"/><file><metrics statements="1" coveredstatements="0"/></file></project></coverage>"#;
        assert_eq!(count(ReportFormat::CloverXml, clover).unwrap(), lines(30, 40));
        let jacoco = r#"<report name="r"><package><counter type="LINE" missed="1" covered="1"/></package><counter type="INSTRUCTION" missed="5" covered="5"/><counter type="LINE" missed="10" covered="90"/></report>"#;
        assert_eq!(count(ReportFormat::JacocoXml, jacoco).unwrap(), lines(90, 100));
        let simplecov = r#"{"RSpec":{"coverage":{"a.rb":{"lines":[null,1,0,3]},"b.rb":[1,null]}}}"#;
        assert_eq!(count(ReportFormat::SimpleCov, simplecov).unwrap(), lines(3, 4));
    }
}
