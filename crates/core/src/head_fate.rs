//! Whether a change of the pipeline head written before its execution's commit was committed.
//! The DynamoDB store writes a change of the head and of one execution as two conditional
//! writes, the head first, instead of one transaction that bills both items twice
//! (docs/ARCHITECTURE.md, "A head change before its commit"). The head then says which
//! execution's commit it waits for (a marker: that execution and the `rev` its commit makes)
//! and keeps the state it replaced; the execution's write records the head's `rev` it belongs
//! with (`headed`). Whoever reads the head asks [`fate`] which of the two states holds.

/// A head change whose execution's commit may not have happened yet: the marker on the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadChange {
    /// The head's `rev` this change made.
    pub head_rev: u64,
    /// The execution's `rev` its commit makes (one more than the writer read).
    pub makes_rev: u64,
}

/// Which state of the head holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadFate {
    /// The execution's commit happened: the head's state holds.
    Committed,
    /// It may still happen: neither state can be taken yet. A reader that must decide waits,
    /// or fences the writer off by moving the execution's `rev` itself (then it is
    /// [`HeadFate::Orphaned`]); a reader that only shows the state shows the one replaced.
    Pending,
    /// It did not and never will (a lost race, a writer fenced off, an execution deleted):
    /// the state the change replaced holds.
    Orphaned,
}

/// An execution item as a reader found it, for [`fate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub rev: u64,
    /// The head `rev` of the last head change its commit went with.
    pub headed: Option<u64>,
    /// On an item a reader put in the place of an execution whose start it fenced off: the
    /// head `rev` of the latest start it fenced off. A start decided on a later head replaces
    /// the item when its put lands.
    pub fenced: Option<u64>,
}

/// `change`'s fate, given its execution's item as stored (`None` when there is none).
///
/// Every head write replaces the marker, and every writer of the head reads its fate first,
/// so the execution has made no later head change while the marker is there: `headed` equal
/// to the change's `rev` means the commit happened. Past the `rev` the commit makes without
/// it, the execution's `rev` moved otherwise, and the commit, conditioned on the `rev` it
/// read, can no longer happen. A start whose item is not there, or is a fence of an earlier
/// start only, may still land; one fenced off itself (or after) never will. An execution the
/// change updates existed when its writer read it: gone, it was removed after its commit (a
/// finished execution's TTL), or with its pipeline, where nothing is left to decide.
pub fn fate(change: HeadChange, execution: Option<Stored>) -> HeadFate {
    let Some(stored) = execution else {
        return if change.makes_rev <= 1 { HeadFate::Pending } else { HeadFate::Committed };
    };
    match stored {
        Stored { fenced: Some(fenced), .. } if fenced >= change.head_rev => HeadFate::Orphaned,
        Stored { fenced: Some(_), .. } => HeadFate::Pending,
        Stored { headed: Some(headed), .. } if headed == change.head_rev => HeadFate::Committed,
        Stored { rev, .. } if rev < change.makes_rev => HeadFate::Pending,
        _ => HeadFate::Orphaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGE: HeadChange = HeadChange { head_rev: 12, makes_rev: 5 };

    fn item(rev: u64, headed: Option<u64>) -> Option<Stored> {
        Some(Stored { rev, headed, fenced: None })
    }

    #[test]
    fn an_execution_that_recorded_the_head_rev_committed_the_change() {
        assert_eq!(fate(CHANGE, item(5, Some(12))), HeadFate::Committed);
        // Results inside a stage moved the execution on since, without a head change.
        assert_eq!(fate(CHANGE, item(9, Some(12))), HeadFate::Committed);
    }

    #[test]
    fn an_execution_still_before_the_commit_leaves_the_change_pending() {
        assert_eq!(fate(CHANGE, item(4, Some(7))), HeadFate::Pending);
        assert_eq!(fate(CHANGE, item(4, None)), HeadFate::Pending);
    }

    #[test]
    fn a_start_is_pending_until_its_execution_or_its_own_fence_is_there() {
        let start = HeadChange { head_rev: 12, makes_rev: 1 };
        assert_eq!(fate(start, None), HeadFate::Pending);
        assert_eq!(fate(start, item(1, Some(12))), HeadFate::Committed);
        // The item a reader put in its place fences it off.
        assert_eq!(fate(start, Some(Stored { rev: 1, headed: None, fenced: Some(12) })), HeadFate::Orphaned);
        // A fence of an earlier start of the same execution: this one's put replaces it.
        assert_eq!(fate(start, Some(Stored { rev: 1, headed: None, fenced: Some(9) })), HeadFate::Pending);
    }

    #[test]
    fn an_execution_moved_past_without_the_change_orphans_it() {
        // A lost race: another commit made rev 5; or a reader fenced the writer off.
        assert_eq!(fate(CHANGE, item(5, Some(7))), HeadFate::Orphaned);
        assert_eq!(fate(CHANGE, item(6, None)), HeadFate::Orphaned);
    }

    #[test]
    fn an_updated_execution_gone_since_committed() {
        // Removed a year after it finished (TTL) while the head kept the marker of its end.
        assert_eq!(fate(CHANGE, None), HeadFate::Committed);
    }
}
