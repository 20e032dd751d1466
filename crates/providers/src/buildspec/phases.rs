//! Which phase runs next, as CodeBuild decides it (docs/codebuild.md "Phases after a
//! failure"): a failed INSTALL or PRE_BUILD skips everything up to FINALIZING; a failed
//! BUILD still runs POST_BUILD and UPLOAD_ARTIFACTS; a failed POST_BUILD still uploads;
//! `on-failure: CONTINUE` goes on as if the phase had succeeded (the build still fails) and
//! `ABORT` ends the build at once. Pure functions.

use super::model::{OnFailure, PhaseName};

/// A step of the build after DOWNLOAD_SOURCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Phase(PhaseName),
    UploadArtifacts,
    Finalizing,
}

impl Step {
    pub const FIRST: Step = Step::Phase(PhaseName::Install);

    pub fn phase_type(self) -> &'static str {
        match self {
            Step::Phase(name) => name.phase_type(),
            Step::UploadArtifacts => "UPLOAD_ARTIFACTS",
            Step::Finalizing => "FINALIZING",
        }
    }
}

fn after(phase: PhaseName) -> Step {
    phase.next().map_or(Step::UploadArtifacts, Step::Phase)
}

/// The step after `phase` ended, `failed` or not, with the phase's `on-failure`.
pub fn next_step(phase: PhaseName, failed: bool, on_failure: Option<&OnFailure>) -> Step {
    if !failed {
        return after(phase);
    }
    match on_failure {
        Some(OnFailure::Continue) => after(phase),
        Some(OnFailure::Abort) => Step::Finalizing,
        // Retries are spent inside the phase; what follows is the default rule.
        None | Some(OnFailure::Retry { .. }) => match phase {
            PhaseName::Install | PhaseName::PreBuild => Step::Finalizing,
            PhaseName::Build => Step::Phase(PhaseName::PostBuild),
            PhaseName::PostBuild => Step::UploadArtifacts,
        },
    }
}

/// Whether a failed phase runs again: `on-failure: RETRY…` with attempts left whose pattern
/// (if any) matches the failure's message. `retried` is how many retries already ran.
pub fn retries(on_failure: Option<&OnFailure>, retried: u32, message: &str) -> bool {
    match on_failure {
        Some(OnFailure::Retry { count, pattern }) if retried < *count => match pattern {
            None => true,
            Some(pattern) => regex::Regex::new(pattern).is_ok_and(|re| re.is_match(message)),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PhaseName::*;

    #[test]
    fn the_phases_follow_each_other_when_they_succeed() {
        assert_eq!(next_step(Install, false, None), Step::Phase(PreBuild));
        assert_eq!(next_step(PreBuild, false, None), Step::Phase(Build));
        assert_eq!(next_step(Build, false, None), Step::Phase(PostBuild));
        assert_eq!(next_step(PostBuild, false, None), Step::UploadArtifacts);
    }

    #[test]
    fn after_a_failure_only_a_failed_build_goes_on_to_post_build() {
        assert_eq!(next_step(Install, true, None), Step::Finalizing);
        assert_eq!(next_step(PreBuild, true, None), Step::Finalizing);
        assert_eq!(next_step(Build, true, None), Step::Phase(PostBuild));
        assert_eq!(next_step(PostBuild, true, None), Step::UploadArtifacts);
    }

    #[test]
    fn on_failure_continue_and_abort() {
        assert_eq!(next_step(Install, true, Some(&OnFailure::Continue)), Step::Phase(PreBuild));
        assert_eq!(next_step(PreBuild, true, Some(&OnFailure::Continue)), Step::Phase(Build));
        assert_eq!(next_step(Build, true, Some(&OnFailure::Abort)), Step::Finalizing);
        assert_eq!(next_step(PostBuild, true, Some(&OnFailure::Abort)), Step::Finalizing);
        let retry = OnFailure::Retry { count: 1, pattern: None };
        assert_eq!(next_step(PreBuild, true, Some(&retry)), Step::Finalizing);
    }

    #[test]
    fn retries_count_and_match_the_message() {
        let any = OnFailure::Retry { count: 2, pattern: None };
        assert!(retries(Some(&any), 0, "x") && retries(Some(&any), 1, "x"));
        assert!(!retries(Some(&any), 2, "x"));
        let matching = OnFailure::Retry { count: 3, pattern: Some("exit status 7".into()) };
        assert!(retries(Some(&matching), 0, "Error while executing command: flaky. Reason: exit status 7"));
        assert!(!retries(Some(&matching), 0, "Error while executing command: flaky. Reason: exit status 1"));
        assert!(!retries(None, 0, "x"));
        assert!(!retries(Some(&OnFailure::Continue), 0, "x"));
    }
}
