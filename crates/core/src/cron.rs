//! Deployment windows: the `Cron` and `TimeZone` of a DeploymentWindow rule
//! (docs/conditions.md, "DeploymentWindow"). A window is open during every minute the
//! expression matches, in its time zone; the engine asks whether it is open at its `now`, and
//! when it next opens.
//!
//! Fields: seconds (read, not used: windows are whole minutes), minutes, hours, day of month,
//! month (1–12 or JAN–DEC), day of week (1–7 or SUN–SAT, 1 is Sunday) and an optional year
//! (1970–2199). Each field takes `*`, `?` (day fields), values, ranges `a-b`, steps `/n` and
//! lists; the day of month also `L`, `L-n`, `LW` and `nW`; the day of week `L`, `nL` and `n#k`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
// The tz database as `jiff` bundles it: one blob of TZif bytes, read when a zone is looked up,
// so it costs the loader nothing at a process's start (docs/benchmarks.md, "The tz database
// as bytes"), and every machine answers the same.
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::time::Timestamp;

/// A parsed window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days_of_month: Vec<DayOfMonth>,
    months: Vec<bool>,
    days_of_week: Vec<DayOfWeek>,
    years: Option<Vec<bool>>,
    zone: TimeZone,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    Any,
    Day(u32),
    /// `L` (0) or `L-n`: the last day of the month, less n.
    Last(u32),
    /// `LW`: the last weekday of the month.
    LastWeekday,
    /// `nW`: the weekday nearest day n, within the month.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Any,
    /// 1 (Sunday) to 7 (Saturday).
    Day(u32),
    /// `nL`: the last such day of the month.
    Last(u32),
    /// `n#k`: the k-th such day of the month.
    Nth(u32, u32),
}

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;
const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Window {
    /// Reads a cron expression and an optional IANA time zone (UTC when absent); the error
    /// says which field is wrong.
    pub fn parse(cron: &str, time_zone: Option<&str>) -> Result<Window, String> {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(format!(
                "has {} fields; a cron expression has 6 (seconds, minutes, hours, day of month, month, day of week) and an optional year",
                fields.len()
            ));
        }
        set(fields[0], 0, 59, &[], "seconds")?;
        let zone = match time_zone.map(str::trim).filter(|z| !z.is_empty()) {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|_| format!("time zone \"{name}\" is not an IANA time zone"))?,
        };
        let years = fields.get(6).map(|y| set(y, FIRST_YEAR as u32, LAST_YEAR as u32, &[], "year")).transpose()?;
        let window = Window {
            minutes: set(fields[1], 0, 59, &[], "minutes")?,
            hours: set(fields[2], 0, 23, &[], "hours")?,
            days_of_month: days_of_month(fields[3])?,
            months: set(fields[4], 1, 12, &MONTHS, "month")?,
            days_of_week: days_of_week(fields[5])?,
            years,
            zone,
        };
        Ok(window)
    }

    /// Whether the window is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Some(local) = self.local(at) else { return false };
        self.day_matches(local.date()) && self.hours[local.hour() as usize] && self.minutes[local.minute() as usize]
    }

    /// When the window next opens at or after `at` (`at` itself when it is open), or `None`
    /// when it never opens again.
    pub fn next_opening(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let local = self.local(at)?;
        let mut date = local.date();
        // The first day, only minutes after `at`; the following days, from midnight.
        let mut from = Some((local.hour(), local.minute()));
        for _ in 0..200_000 {
            if date.year() > LAST_YEAR {
                return None;
            }
            if let Some(years) = &self.years
                && !years[(date.year() - FIRST_YEAR).max(0) as usize]
            {
                date = NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?;
                from = None;
                continue;
            }
            if !self.months[date.month() as usize - 1] {
                date = first_of_next_month(date)?;
                from = None;
                continue;
            }
            if self.day_matches(date) {
                for (hour, minute) in self.minutes_of_day(from) {
                    let naive = NaiveDateTime::new(date, NaiveTime::from_hms_opt(hour, minute, 0)?);
                    // A minute that the clock skips (a DST gap) does not exist; look further.
                    if let Some(millis) = self.earliest_instant(naive)
                        && millis > at.millis()
                    {
                        return Some(Timestamp::from_millis(millis));
                    }
                }
            }
            date = date.succ_opt()?;
            from = None;
        }
        None
    }

    /// What the zone's clocks show at `at`.
    fn local(&self, at: Timestamp) -> Option<NaiveDateTime> {
        let offset = self.zone.to_offset(jiff::Timestamp::from_millisecond(at.millis()).ok()?);
        let utc = DateTime::from_timestamp_millis(at.millis())?.naive_utc();
        utc.checked_add_signed(Duration::seconds(i64::from(offset.seconds())))
    }

    /// The first instant (milliseconds) at which the zone's clocks show `local`, or `None` when
    /// they skip it (clocks set forward).
    fn earliest_instant(&self, local: NaiveDateTime) -> Option<i64> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).ok()?,
            i8::try_from(local.month()).ok()?,
            i8::try_from(local.day()).ok()?,
            i8::try_from(local.hour()).ok()?,
            i8::try_from(local.minute()).ok()?,
            0,
            0,
        )
        .ok()?;
        let offset = match self.zone.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { .. } => return None,
            // Clocks set back show the minute twice: first under the offset before the change.
            AmbiguousOffset::Fold { before, .. } => before,
        };
        Some(local.and_utc().timestamp_millis() - i64::from(offset.seconds()) * 1000)
    }

    /// The matching (hour, minute) pairs of a day, after `after` when given.
    fn minutes_of_day(&self, after: Option<(u32, u32)>) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|h| self.hours[*h as usize])
            .flat_map(move |h| (0..60u32).filter(|m| self.minutes[*m as usize]).map(move |m| (h, m)))
            .filter(move |(h, m)| after.is_none_or(|(ah, am)| (*h, *m) > (ah, am)))
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let year_ok = match &self.years {
            Some(years) => {
                (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) && years[(date.year() - FIRST_YEAR) as usize]
            }
            None => true,
        };
        year_ok
            && self.months[date.month() as usize - 1]
            && self.days_of_month.iter().any(|d| dom_matches(d, date))
            && self.days_of_week.iter().any(|d| dow_matches(d, date))
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

fn last_day(date: NaiveDate) -> u32 {
    first_of_next_month(date).and_then(|next| next.pred_opt()).map_or(28, |d| d.day())
}

fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// 1 (Sunday) to 7 (Saturday).
fn cron_weekday(date: NaiveDate) -> u32 {
    date.weekday().num_days_from_sunday() + 1
}

fn dom_matches(day: &DayOfMonth, date: NaiveDate) -> bool {
    let last = last_day(date);
    match *day {
        DayOfMonth::Any => true,
        DayOfMonth::Day(d) => date.day() == d,
        DayOfMonth::Last(offset) => last.checked_sub(offset) == Some(date.day()),
        DayOfMonth::LastWeekday => {
            is_weekday(date) && (date.day() + 1..=last).all(|d| date.with_day(d).is_none_or(|later| !is_weekday(later)))
        }
        DayOfMonth::NearestWeekday(target) => {
            let Some(target_date) = date.with_day(target.min(last)) else { return false };
            let nearest = match target_date.weekday() {
                Weekday::Sat if target_date.day() == 1 => target_date + Duration::days(2),
                Weekday::Sat => target_date - Duration::days(1),
                Weekday::Sun if target_date.day() == last => target_date - Duration::days(2),
                Weekday::Sun => target_date + Duration::days(1),
                _ => target_date,
            };
            nearest == date
        }
    }
}

fn dow_matches(day: &DayOfWeek, date: NaiveDate) -> bool {
    let weekday = cron_weekday(date);
    match *day {
        DayOfWeek::Any => true,
        DayOfWeek::Day(d) => weekday == d,
        DayOfWeek::Last(d) => weekday == d && date.day() + 7 > last_day(date),
        DayOfWeek::Nth(d, k) => weekday == d && (date.day() - 1) / 7 + 1 == k,
    }
}

/// A value of a field: a number in range or one of `names` (the first name is `min`).
fn value(text: &str, min: u32, max: u32, names: &[&str], field: &str) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = names.iter().position(|n| *n == upper) {
        return Ok(min + index as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{field}: \"{text}\" is not a value from {min} to {max}")),
    }
}

/// A field of plain values: `*`, `?`, values, ranges, steps and lists, as a membership table
/// indexed from `min`.
fn set(text: &str, min: u32, max: u32, names: &[&str], field: &str) -> Result<Vec<bool>, String> {
    let mut members = vec![false; (max - min + 1) as usize];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step = step
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{field}: \"{step}\" after / is not a positive number"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, min, max, names, field)?, value(b, min, max, names, field)?),
                // `a/n` runs from a to the end of the range.
                None if item.contains('/') => (value(range, min, max, names, field)?, max),
                None => {
                    let v = value(range, min, max, names, field)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("{field}: the range \"{range}\" runs backwards"));
        }
        for v in (low..=high).step_by(step as usize) {
            members[(v - min) as usize] = true;
        }
    }
    Ok(members)
}

fn days_of_month(text: &str) -> Result<Vec<DayOfMonth>, String> {
    let field = "day of month";
    let mut days = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        match upper.as_str() {
            "*" | "?" => days.push(DayOfMonth::Any),
            "L" => days.push(DayOfMonth::Last(0)),
            "LW" => days.push(DayOfMonth::LastWeekday),
            _ if upper.starts_with("L-") => {
                let offset = value(&upper[2..], 1, 30, &[], field)?;
                days.push(DayOfMonth::Last(offset));
            }
            _ if upper.ends_with('W') => {
                days.push(DayOfMonth::NearestWeekday(value(&upper[..upper.len() - 1], 1, 31, &[], field)?));
            }
            _ => {
                let members = set(item, 1, 31, &[], field)?;
                days.extend((1..=31u32).filter(|d| members[*d as usize - 1]).map(DayOfMonth::Day));
            }
        }
    }
    Ok(days)
}

fn days_of_week(text: &str) -> Result<Vec<DayOfWeek>, String> {
    let field = "day of week";
    let mut days = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        match upper.as_str() {
            "*" | "?" => days.push(DayOfWeek::Any),
            "L" => days.push(DayOfWeek::Day(7)),
            _ if upper.contains('#') => {
                let (day, nth) = upper.split_once('#').unwrap_or_default();
                days.push(DayOfWeek::Nth(value(day, 1, 7, &DAYS, field)?, value(nth, 1, 5, &[], field)?));
            }
            _ if upper.len() > 1 && upper.ends_with('L') => {
                days.push(DayOfWeek::Last(value(&upper[..upper.len() - 1], 1, 7, &DAYS, field)?));
            }
            _ => {
                let members = set(item, 1, 7, &DAYS, field)?;
                days.extend((1..=7u32).filter(|d| members[*d as usize - 1]).map(DayOfWeek::Day));
            }
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `YYYY-MM-DDTHH:MM` UTC as a timestamp.
    fn at(text: &str) -> Timestamp {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").expect("a time");
        Timestamp::from_millis(naive.and_utc().timestamp_millis())
    }

    fn window(cron: &str) -> Window {
        Window::parse(cron, None).expect("a valid window")
    }

    #[test]
    fn working_hours_open_and_close() {
        // 2024-06-10 is a Monday.
        let hours = window("* * 9-17 ? * MON-FRI *");
        assert!(hours.is_open(at("2024-06-10T09:00")));
        assert!(hours.is_open(at("2024-06-10T17:59")));
        assert!(!hours.is_open(at("2024-06-10T18:00")));
        assert_eq!(hours.next_opening(at("2024-06-10T18:00")), Some(at("2024-06-11T09:00")));
        // Friday evening opens on Monday morning.
        assert_eq!(hours.next_opening(at("2024-06-14T20:30")), Some(at("2024-06-17T09:00")));
        assert_eq!(hours.next_opening(at("2024-06-12T10:00")), Some(at("2024-06-12T10:00")));
    }

    #[test]
    fn time_zones_move_the_window() {
        let tokyo = Window::parse("* * 9 ? * * *", Some("Asia/Tokyo")).unwrap();
        // 09:00 in Tokyo is 00:00 UTC.
        assert!(tokyo.is_open(at("2024-06-10T00:30")));
        assert!(!tokyo.is_open(at("2024-06-10T09:30")));
        assert_eq!(tokyo.next_opening(at("2024-06-10T01:00")), Some(at("2024-06-11T00:00")));
        assert!(Window::parse("* * 9 ? * *", Some("Mars/Olympus")).unwrap_err().contains("not an IANA time zone"));
    }

    /// Clocks set forward skip the window's minute that day; set back, it comes twice and the
    /// window opens at the first.
    #[test]
    fn daylight_saving_gaps_and_folds() {
        // Berlin: 2024-03-31 02:00 CET jumps to 03:00 CEST; 2024-10-27 03:00 CEST falls back
        // to 02:00 CET.
        let berlin = Window::parse("* 30 2 ? * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(berlin.next_opening(at("2024-03-30T12:00")), Some(at("2024-04-01T00:30")));
        assert_eq!(berlin.next_opening(at("2024-10-26T12:00")), Some(at("2024-10-27T00:30")));
        assert!(berlin.is_open(at("2024-10-27T00:30")));
        assert!(berlin.is_open(at("2024-10-27T01:30")), "02:30 again, in winter time");
        assert!(!berlin.is_open(at("2024-10-27T02:30")));
        // A zone's name is looked up in the tz database in any letter case, links included.
        assert!(Window::parse("* * 9 ? * *", Some("US/Pacific")).is_ok());
        assert!(Window::parse("* * 9 ? * *", Some("europe/berlin")).is_ok());
        assert!(Window::parse("* * 9 ? * *", Some("UTC")).is_ok());
    }

    #[test]
    fn special_days() {
        // The last day of June 2024 is the 30th, a Sunday; the last weekday is Friday the 28th.
        assert_eq!(window("* 0 0 L * ?").next_opening(at("2024-06-10T00:00")), Some(at("2024-06-30T00:00")));
        assert_eq!(window("* 0 0 L-2 * ?").next_opening(at("2024-06-10T00:00")), Some(at("2024-06-28T00:00")));
        assert_eq!(window("* 0 0 LW * ?").next_opening(at("2024-06-10T00:00")), Some(at("2024-06-28T00:00")));
        // The 15th of June 2024 is a Saturday: the nearest weekday is Friday the 14th.
        assert_eq!(window("* 0 0 15W * ?").next_opening(at("2024-06-10T00:00")), Some(at("2024-06-14T00:00")));
        // The third Friday, and the last Friday, of June 2024.
        assert_eq!(window("* 0 0 ? * 6#3").next_opening(at("2024-06-01T00:00")), Some(at("2024-06-21T00:00")));
        assert_eq!(window("* 0 0 ? * FRIL").next_opening(at("2024-06-01T00:00")), Some(at("2024-06-28T00:00")));
        // Every 15 minutes from 5 past, in December only.
        let steps = window("* 5/15 * ? DEC *");
        assert_eq!(steps.next_opening(at("2024-06-10T00:00")), Some(at("2024-12-01T00:05")));
        assert!(steps.is_open(at("2024-12-01T00:50")));
    }

    #[test]
    fn a_window_in_the_past_never_opens_again() {
        assert_eq!(window("* * * * * ? 2020").next_opening(at("2024-06-10T00:00")), None);
        assert_eq!(window("* * * * * ? 2020-2030").next_opening(at("2024-06-10T00:00")), Some(at("2024-06-10T00:00")));
    }

    #[test]
    fn bad_expressions_name_their_field() {
        assert!(Window::parse("* * *", None).unwrap_err().contains("has 3 fields"));
        assert!(Window::parse("* 61 * * * ?", None).unwrap_err().starts_with("minutes:"));
        assert!(Window::parse("* * 9-5 * * ?", None).unwrap_err().contains("runs backwards"));
        assert!(Window::parse("* * * * FOO ?", None).unwrap_err().starts_with("month:"));
        assert!(Window::parse("* * * * * 8", None).unwrap_err().starts_with("day of week:"));
        assert!(Window::parse("* */0 * * * ?", None).unwrap_err().contains("positive"));
    }
}
