//! Builds of one execution that end together (the parallel actions of a stage, looked at by
//! their CodeBuild events at the same moment) are recorded in one commit. The look at the
//! ended build first in job-id order records its own result with every other ended build it
//! finds; the look at a later one waits a moment for it instead of racing it for the
//! execution item, then finds its own result recorded. Each look that raced would put an
//! outbox batch, lose the conditional write and remove the batch, and the results would
//! still take one commit each (docs/providers.md, "CodeBuild on AWS").

use std::collections::BTreeSet;
use std::time::Duration;

use crate::backoff::Policy;

/// How long the look at a later build waits for the look at an earlier one: checked again
/// after 20, 40, 80, 160 and 160 ms (460 ms in all, where a commit takes a few requests).
/// Past that the earlier look is late (its event delayed, its function slow), and the later
/// one records both.
pub const WAIT_FOR_EARLIER: Policy =
    Policy { first: Duration::from_millis(20), cap: Duration::from_millis(160), retries: 5 };

/// What the look at a build that has ended does about the other builds of its execution that
/// have ended too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Together {
    /// Record its own result, with the results of these (job ids, in order).
    Record(Vec<String>),
    /// The look at this earlier build records the results: wait, then read the execution.
    WaitFor(String),
}

/// The choice of the look at `own` (a job id), given the job ids of its execution's other
/// build looks whose builds have ended and are still unrecorded (`ended`), and the earlier
/// ones whose looks it has waited for in vain ([`WAIT_FOR_EARLIER`]). Of several later looks
/// that gave up on the same earlier one, the first records, and the others wait for it.
pub fn together(own: &str, ended: &[String], given_up: &BTreeSet<String>) -> Together {
    let mut ended: Vec<String> = ended.iter().filter(|job| job.as_str() != own).cloned().collect();
    ended.sort();
    ended.dedup();
    match ended.iter().find(|job| job.as_str() < own && !given_up.contains(*job)) {
        Some(earlier) => Together::WaitFor(earlier.clone()),
        None => Together::Record(ended),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn the_first_ended_build_records_the_others_with_its_own() {
        assert_eq!(together("a", &ids(&["c", "b"]), &none()), Together::Record(ids(&["b", "c"])));
        assert_eq!(together("a", &[], &none()), Together::Record(Vec::new()), "alone when none other ended");
    }

    #[test]
    fn a_later_build_waits_for_the_first_then_records_all_once_it_gave_up_on_it() {
        assert_eq!(together("c", &ids(&["b", "a"]), &none()), Together::WaitFor("a".into()));
        let gave_up_on_a = BTreeSet::from(["a".to_string()]);
        assert_eq!(together("b", &ids(&["a", "c"]), &gave_up_on_a), Together::Record(ids(&["a", "c"])));
        // The third waits for the second, which records all three, instead of racing it.
        assert_eq!(together("c", &ids(&["a", "b"]), &gave_up_on_a), Together::WaitFor("b".into()));
    }

    #[test]
    fn its_own_id_among_the_ended_is_not_counted_twice() {
        assert_eq!(together("b", &ids(&["b", "c", "c"]), &none()), Together::Record(ids(&["c"])));
    }

    #[test]
    fn the_waits_come_to_under_half_a_second() {
        let total: Duration = (0..WAIT_FOR_EARLIER.retries).map(|retry| WAIT_FOR_EARLIER.ceiling(retry)).sum();
        assert_eq!(total, Duration::from_millis(460));
    }
}
