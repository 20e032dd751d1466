//! How long a writer waits before it tries again: exponential backoff with full jitter. The
//! ceiling doubles with each retry up to a cap, and the wait is a random time below it, so
//! writers that collided once do not collide again in step. The randomness comes from the
//! adapter (the core has none): it passes any 64 random bits to [`jittered`].

use std::time::Duration;

/// A backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The ceiling of the first retry.
    pub first: Duration,
    /// No wait is ever longer.
    pub cap: Duration,
    /// Retries before giving up.
    pub retries: u32,
}

/// A lost race: another writer committed, so the next try sees its result and usually
/// succeeds. Short waits; many tries (each one is progress for somebody).
pub const CONFLICT: Policy = Policy { first: Duration::from_millis(4), cap: Duration::from_millis(250), retries: 32 };

/// The store said slow down (DynamoDB throttling): longer waits, few tries, then the error
/// goes back to the caller, whose own retry (Lambda's, the client's) waits longer still.
pub const THROTTLED: Policy = Policy { first: Duration::from_millis(50), cap: Duration::from_secs(2), retries: 4 };

impl Policy {
    /// The ceiling of retry `retry` (0 for the first): `first · 2^retry`, at most `cap`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doubled = self.first.saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        doubled.min(self.cap)
    }
}

/// A wait below `ceiling`, spread uniformly by `entropy` (full jitter).
pub fn jittered(ceiling: Duration, entropy: u64) -> Duration {
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    if micros == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(entropy % micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let ceilings: Vec<u128> = (0..8).map(|retry| CONFLICT.ceiling(retry).as_millis()).collect();
        assert_eq!(ceilings, vec![4, 8, 16, 32, 64, 128, 250, 250]);
        assert_eq!(CONFLICT.ceiling(u32::MAX), CONFLICT.cap);
        assert_eq!(THROTTLED.ceiling(0), Duration::from_millis(50));
        assert_eq!(THROTTLED.ceiling(10), Duration::from_secs(2));
    }

    #[test]
    fn waits_spread_over_the_whole_range_below_the_ceiling() {
        let ceiling = Duration::from_millis(100);
        let waits: Vec<Duration> =
            (0..1000u64).map(|i| jittered(ceiling, i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
        assert!(waits.iter().all(|wait| *wait < ceiling));
        let low = waits.iter().filter(|wait| **wait < ceiling / 4).count();
        let high = waits.iter().filter(|wait| **wait >= ceiling * 3 / 4).count();
        assert!(low > 150 && high > 150, "not spread: {low} low, {high} high");
        assert_eq!(jittered(Duration::ZERO, 42), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn a_wait_is_never_longer_than_its_ceiling_nor_the_cap(retry in 0u32..100, entropy: u64) {
            let ceiling = CONFLICT.ceiling(retry);
            prop_assert!(ceiling <= CONFLICT.cap);
            prop_assert!(jittered(ceiling, entropy) < ceiling);
        }
    }
}
