//! What a build-like action reports beyond its summary: each phase with its status and
//! duration (CodeBuild's `Build.phases`) and the counts of its test and coverage reports.
//! Providers that run a buildspec (CodeBuild, Commands) fill it; the views render it.

use serde::{Deserialize, Serialize};

/// One phase of a build, as CodeBuild's `BuildPhase` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseDetail {
    /// `DOWNLOAD_SOURCE`, `INSTALL`, `PRE_BUILD`, `BUILD`, `POST_BUILD`, `UPLOAD_ARTIFACTS`, `FINALIZING`.
    pub phase_type: String,
    /// `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `STOPPED`, `CLIENT_ERROR`.
    pub phase_status: String,
    pub duration_millis: u64,
    /// `statusCode: message` of a phase that did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The counts of one report group (a test report, or a coverage report's line coverage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDetail {
    pub name: String,
    /// `TEST` or `CODE_COVERAGE`.
    pub kind: String,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub passed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub skipped: u64,
    /// Line coverage in percent (coverage reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_coverage: Option<f64>,
}

/// One target of a deploy action (an ECS service's task set, a CodeDeploy instance or
/// Lambda function): what ListDeployActionExecutionTargets answers, `DeployActionExecutionTarget`
/// of botocore's model. Deploy providers fill it; the API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTarget {
    pub target_id: String,
    pub target_type: String,
    /// The provider's own status of the target (`Succeeded`, `InProgress`, `Failed`, …).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<crate::time::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<crate::time::Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DeployTargetEvent>,
}

/// One lifecycle event of a deploy target (`DeployTargetEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTargetEvent {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<crate::time::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<crate::time::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_command_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The details of one action execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActionDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseDetail>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportDetail>,
    /// The targets of a deploy action (ECS, CodeDeploy), as its provider reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<DeployTarget>,
}

fn seconds(millis: u64) -> String {
    format!("{:.1}s", millis as f64 / 1000.0)
}

impl ReportDetail {
    /// `unit: 41 passed, 1 failed, 2 skipped` or `coverage: 83.4% lines`.
    pub fn describe(&self) -> String {
        match self.line_coverage {
            Some(percent) if self.kind == "CODE_COVERAGE" => format!("{}: {percent:.1}% lines", self.name),
            _ => {
                let mut text = format!("{}: {} passed, {} failed", self.name, self.passed, self.failed);
                if self.skipped > 0 {
                    text.push_str(&format!(", {} skipped", self.skipped));
                }
                text
            }
        }
    }
}

impl ActionDetails {
    /// The reports, one clause each: `unit: 41 passed, 1 failed; coverage: 83.4% lines`.
    pub fn reports_line(&self) -> Option<String> {
        (!self.reports.is_empty())
            .then(|| self.reports.iter().map(ReportDetail::describe).collect::<Vec<_>>().join("; "))
    }

    /// The phases, one clause each: `INSTALL SUCCEEDED 0.1s, BUILD FAILED 2.0s`.
    pub fn phases_line(&self) -> Option<String> {
        (!self.phases.is_empty()).then(|| {
            self.phases
                .iter()
                .map(|p| format!("{} {} {}", p.phase_type, p.phase_status, seconds(p.duration_millis)))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Reports first (they are what a reader looks for), then the phases.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(reports) = self.reports_line() {
            parts.push(format!("Reports {reports}"));
        }
        if let Some(phases) = self.phases_line() {
            parts.push(format!("Phases {phases}"));
        }
        parts.join(". ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_reports_first_then_phases() {
        let details = ActionDetails {
            phases: vec![
                PhaseDetail {
                    phase_type: "BUILD".into(),
                    phase_status: "FAILED".into(),
                    duration_millis: 2049,
                    context: Some("COMMAND_EXECUTION_ERROR: exit status 1".into()),
                },
                PhaseDetail {
                    phase_type: "POST_BUILD".into(),
                    phase_status: "SUCCEEDED".into(),
                    duration_millis: 10,
                    context: None,
                },
            ],
            reports: vec![
                ReportDetail {
                    name: "unit".into(),
                    kind: "TEST".into(),
                    total: 44,
                    passed: 41,
                    failed: 1,
                    skipped: 2,
                    line_coverage: None,
                },
                ReportDetail {
                    name: "coverage".into(),
                    kind: "CODE_COVERAGE".into(),
                    total: 0,
                    passed: 0,
                    failed: 0,
                    skipped: 0,
                    line_coverage: Some(83.42),
                },
            ],
            targets: Vec::new(),
        };
        assert_eq!(
            details.describe(),
            "Reports unit: 41 passed, 1 failed, 2 skipped; coverage: 83.4% lines. Phases BUILD FAILED 2.0s, POST_BUILD SUCCEEDED 0.0s"
        );
        let json = serde_json::to_value(&details).unwrap();
        assert_eq!(json["phases"][0]["phaseType"], "BUILD");
        assert_eq!(serde_json::from_value::<ActionDetails>(json).unwrap(), details);
        assert_eq!(ActionDetails::default().describe(), "");
    }
}
