//! Whether an outbox batch written before its commit was committed. The DynamoDB store puts a
//! commit's outbox batch on its own, then writes the execution (docs/ARCHITECTURE.md, "The
//! outbox"), so that the execution's write is a single conditional write instead of a
//! transaction that bills both items twice. A batch can then outlive a commit that did not
//! happen: its writer lost the race for the execution's `rev`, or died between the two writes.
//! The execution item remembers its last few batch commits (the `rev` each made and the first
//! bytes of its batch's digest), and whoever finds a batch asks [`fate`] before carrying it out.

/// A commit that wrote an outbox batch: the execution's `rev` it made, and the first three
/// bytes of the digest of its batch's effect ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCommit {
    pub rev: u64,
    pub digest: [u8; 3],
}

/// How many batch commits an execution item remembers.
pub const REMEMBERED: usize = 4;

/// How long after it was written a batch whose execution has not reached its `rev` may still
/// be a commit under way. Longer than any function may run (15 minutes), so that no writer is
/// still alive to commit it once it is removed.
pub const ORPHANED_AFTER_MILLIS: i64 = 30 * 60 * 1000;

/// What to do with a batch found in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFate {
    /// Its commit happened: carry it out.
    Committed,
    /// Its commit may still happen: leave it.
    Pending,
    /// Its commit did not and will not happen: remove it, carrying nothing out.
    Orphaned,
}

/// The batch commits remembered after `commit`, newest first.
pub fn remember(recent: &[BatchCommit], commit: BatchCommit) -> Vec<BatchCommit> {
    std::iter::once(commit).chain(recent.iter().copied()).take(REMEMBERED).collect()
}

/// `batch`'s fate, given the execution as stored (its `rev` and the batch commits it
/// remembers; `None` when there is no execution item) and how long ago the batch was written.
///
/// The execution at or past the batch's `rev` says whether that `rev` was made with this
/// batch: remembered, it was; not remembered though no older than what is remembered, it was
/// not (a lost race whose writer never removed its batch). A batch older than everything
/// remembered is carried out: at least once, as every effect is. Before the batch's `rev`,
/// the commit may be under way until [`ORPHANED_AFTER_MILLIS`] have passed.
pub fn fate(batch: BatchCommit, execution: Option<(u64, &[BatchCommit])>, age_millis: i64) -> BatchFate {
    match execution {
        Some((rev, recent)) if rev >= batch.rev => {
            let remembered = recent.contains(&batch);
            let older_than_remembered =
                recent.len() >= REMEMBERED && recent.iter().all(|commit| commit.rev > batch.rev);
            if remembered || older_than_remembered { BatchFate::Committed } else { BatchFate::Orphaned }
        }
        _ if age_millis >= ORPHANED_AFTER_MILLIS => BatchFate::Orphaned,
        _ => BatchFate::Pending,
    }
}

/// The remembered commits as stored: five bytes each, the `rev` modulo 2^16 (big-endian) then
/// the digest's bytes. The `rev`s are read back against the execution's own ([`decode`]).
pub fn encode(recent: &[BatchCommit]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(recent.len() * 5);
    for commit in recent {
        bytes.extend_from_slice(&((commit.rev & 0xffff) as u16).to_be_bytes());
        bytes.extend_from_slice(&commit.digest);
    }
    bytes
}

/// The commits [`encode`] stored, for an execution at `rev`: each `rev` is the latest at or
/// before the execution's with those low 16 bits (the commits remembered are at most a few
/// hundred `rev`s back). `None` when the bytes are not whole entries.
pub fn decode(bytes: &[u8], rev: u64) -> Option<Vec<BatchCommit>> {
    if !bytes.len().is_multiple_of(5) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(5)
            .map(|entry| {
                let low = u64::from(u16::from_be_bytes([entry[0], entry[1]]));
                let back = (rev.wrapping_sub(low)) & 0xffff;
                BatchCommit { rev: rev.saturating_sub(back), digest: [entry[2], entry[3], entry[4]] }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(rev: u64, byte: u8) -> BatchCommit {
        BatchCommit { rev, digest: [byte, 0, 7] }
    }

    #[test]
    fn the_newest_commits_are_remembered_newest_first() {
        let mut recent = Vec::new();
        for rev in 1..=6 {
            recent = remember(&recent, commit(rev, rev as u8));
        }
        assert_eq!(recent, [commit(6, 6), commit(5, 5), commit(4, 4), commit(3, 3)]);
    }

    #[test]
    fn a_batch_the_execution_remembers_was_committed() {
        let recent = [commit(9, 1), commit(7, 2)];
        assert_eq!(fate(commit(9, 1), Some((9, &recent)), 0), BatchFate::Committed);
        assert_eq!(fate(commit(7, 2), Some((12, &recent)), 0), BatchFate::Committed);
    }

    #[test]
    fn a_batch_of_a_rev_made_otherwise_is_an_orphan_at_once() {
        let recent = [commit(9, 1), commit(7, 2)];
        // Rev 9 was made with another batch (a lost race), rev 8 with none.
        assert_eq!(fate(commit(9, 3), Some((9, &recent)), 0), BatchFate::Orphaned);
        assert_eq!(fate(commit(8, 3), Some((10, &recent)), 0), BatchFate::Orphaned);
        // Fewer than REMEMBERED: every batch commit since the first is there.
        assert_eq!(fate(commit(2, 3), Some((10, &recent)), 0), BatchFate::Orphaned);
        assert_eq!(fate(commit(2, 3), Some((10, &[])), 0), BatchFate::Orphaned);
    }

    #[test]
    fn a_batch_older_than_what_is_remembered_is_carried_out() {
        let recent = [commit(20, 1), commit(18, 2), commit(15, 3), commit(12, 4)];
        assert_eq!(fate(commit(10, 9), Some((21, &recent)), 0), BatchFate::Committed);
        // Within what is remembered, it is known.
        assert_eq!(fate(commit(13, 9), Some((21, &recent)), 0), BatchFate::Orphaned);
    }

    #[test]
    fn a_batch_ahead_of_its_execution_waits_until_no_writer_can_be_alive() {
        let recent = [commit(4, 1)];
        assert_eq!(fate(commit(5, 2), Some((4, &recent)), 1_000), BatchFate::Pending);
        assert_eq!(fate(commit(1, 2), None, ORPHANED_AFTER_MILLIS - 1), BatchFate::Pending);
        assert_eq!(fate(commit(5, 2), Some((4, &recent)), ORPHANED_AFTER_MILLIS), BatchFate::Orphaned);
        assert_eq!(fate(commit(1, 2), None, ORPHANED_AFTER_MILLIS), BatchFate::Orphaned);
    }

    #[test]
    fn stored_commits_read_back_against_the_executions_rev() {
        let recent = [commit(70_001, 1), commit(65_537, 2), commit(65_534, 3)];
        let bytes = encode(&recent);
        assert_eq!(bytes.len(), 15, "five bytes a commit");
        assert_eq!(decode(&bytes, 70_003).unwrap(), recent);
        assert_eq!(decode(&[], 3).unwrap(), []);
        assert_eq!(decode(&bytes[..7], 70_003), None, "not whole entries");
    }
}
