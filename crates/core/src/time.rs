//! Time as data. The core never reads a clock: callers pass `now`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_minutes(self, minutes: u32) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::from(minutes) * 60_000))
    }

    pub fn plus_seconds(self, seconds: u32) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::from(seconds) * 1000))
    }

    pub fn plus_days(self, days: u32) -> Timestamp {
        self.plus_minutes(days.saturating_mul(24 * 60))
    }

    /// Epoch seconds, as AWS JSON 1.1 puts timestamps on the wire.
    pub fn epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    fn utc(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }

    /// `2024-06-10T08:13:20Z`, the `time` of an EventBridge event.
    pub fn to_rfc3339_seconds(self) -> String {
        self.utc().map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
    }

    /// `Mon Jun 10 08:13:20 UTC 2024`, as `date` prints it: the `ImagePushedAt` of an ECR
    /// source's `imageDetail.json`.
    pub fn to_unix_date(self) -> String {
        self.utc().map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string()).unwrap_or_default()
    }

    /// `2024-06-10T08:13Z`: minute precision, as in an approval's `expires`.
    pub fn to_rfc3339_minutes(self) -> String {
        self.utc().map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string()).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.utc() {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2022-08-23T11:09:30.500Z
        let t = Timestamp(1_661_252_970_500);
        assert_eq!(t.to_rfc3339_seconds(), "2022-08-23T11:09:30Z");
        assert_eq!(t.to_rfc3339_minutes(), "2022-08-23T11:09Z");
        assert_eq!(t.to_unix_date(), "Tue Aug 23 11:09:30 UTC 2022");
        assert_eq!(t.plus_days(7).to_rfc3339_minutes(), "2022-08-30T11:09Z");
        assert_eq!(t.to_string(), "2022-08-23T11:09:30.500Z");
        assert_eq!(t.epoch_seconds(), 1_661_252_970.5);
    }
}
