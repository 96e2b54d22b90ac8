//! Date ranges, as days since the Unix epoch (UTC): the presets of Plausible's Stats API
//! (`day`, `7d`, `30d`, `month`, `12mo`, …) plus `yesterday` and `last_month`, a custom
//! `["YYYY-MM-DD", "YYYY-MM-DD"]`, and the period before each for comparisons.

use chrono::{Datelike, NaiveDate};

use crate::store::rollup::DAY_MS;

/// Days `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

impl Range {
    pub fn days(self) -> i64 {
        self.to - self.from
    }

    /// The range of the same length just before (Plausible's "previous period").
    pub fn previous(self) -> Range {
        Range {
            from: self.from - self.days(),
            to: self.from,
        }
    }

    pub fn from_ms(self) -> i64 {
        self.from.saturating_mul(DAY_MS)
    }

    pub fn to_ms(self) -> i64 {
        self.to.saturating_mul(DAY_MS)
    }

    pub fn labels(self) -> (String, String) {
        (day_label(self.from), day_label(self.to - 1))
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

pub fn date_of(day: i64) -> NaiveDate {
    epoch() + chrono::Duration::days(day)
}

pub fn day_of(date: NaiveDate) -> i64 {
    (date - epoch()).num_days()
}

pub fn day_label(day: i64) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

pub fn month_label(day: i64) -> String {
    date_of(day).format("%Y-%m-01").to_string()
}

pub fn hour_label(ts_ms: i64) -> String {
    let day = ts_ms.div_euclid(DAY_MS);
    let hour = ts_ms.rem_euclid(DAY_MS) / 3_600_000;
    format!("{} {hour:02}:00:00", day_label(day))
}

fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn months_back(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_sub_months(chrono::Months::new(n))
        .unwrap_or(date)
}

/// Resolves a `date_range` for `today` (a day number); `first` is the first day with any
/// data (for `all`).
pub fn resolve(value: &serde_json::Value, today: i64, first: i64) -> Result<Range, String> {
    let d = date_of(today);
    match value {
        serde_json::Value::String(name) => {
            let last_days = |n: i64| Range {
                from: today - n + 1,
                to: today + 1,
            };
            Ok(match name.as_str() {
                "day" | "today" => last_days(1),
                "yesterday" => Range {
                    from: today - 1,
                    to: today,
                },
                "7d" => last_days(7),
                "28d" => last_days(28),
                "30d" => last_days(30),
                "91d" => last_days(91),
                "month" => Range {
                    from: day_of(month_start(d)),
                    to: today + 1,
                },
                "last_month" => {
                    let this = month_start(d);
                    Range {
                        from: day_of(months_back(this, 1)),
                        to: day_of(this),
                    }
                }
                "6mo" => Range {
                    from: day_of(months_back(month_start(d), 5)),
                    to: today + 1,
                },
                "12mo" => Range {
                    from: day_of(months_back(month_start(d), 11)),
                    to: today + 1,
                },
                "year" => Range {
                    from: day_of(NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d)),
                    to: today + 1,
                },
                "all" => Range {
                    from: first.min(today),
                    to: today + 1,
                },
                other => {
                    return Err(format!(
                        "unknown date_range `{other}` (use day, yesterday, 7d, 28d, 30d, 91d, month, last_month, 6mo, 12mo, year, all or [\"YYYY-MM-DD\", \"YYYY-MM-DD\"])"
                    ));
                }
            })
        }
        serde_json::Value::Array(pair) if pair.len() == 2 => {
            let parse = |v: &serde_json::Value| -> Result<i64, String> {
                let text = v.as_str().ok_or("date_range dates must be strings")?;
                // A date, or the date part of an ISO 8601 date-time.
                let date_part = text.get(..10).unwrap_or(text);
                NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
                    .map(day_of)
                    .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))
            };
            let (from, to) = (parse(&pair[0])?, parse(&pair[1])?);
            if to < from {
                return Err("date_range ends before it starts".into());
            }
            if to - from > 3660 {
                return Err("date_range is longer than ten years".into());
            }
            Ok(Range { from, to: to + 1 })
        }
        _ => Err("date_range must be a preset name or [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn presets_resolve_against_today() {
        let today = day_of(NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
        let r = |v| resolve(&v, today, 0).unwrap().labels();
        assert_eq!(r(json!("day")), ("2026-03-15".into(), "2026-03-15".into()));
        assert_eq!(
            r(json!("yesterday")),
            ("2026-03-14".into(), "2026-03-14".into())
        );
        assert_eq!(r(json!("7d")), ("2026-03-09".into(), "2026-03-15".into()));
        assert_eq!(
            r(json!("month")),
            ("2026-03-01".into(), "2026-03-15".into())
        );
        assert_eq!(
            r(json!("last_month")),
            ("2026-02-01".into(), "2026-02-28".into())
        );
        assert_eq!(r(json!("12mo")), ("2025-04-01".into(), "2026-03-15".into()));
        assert_eq!(
            r(json!(["2026-01-02", "2026-01-04T23:00:00Z"])),
            ("2026-01-02".into(), "2026-01-04".into())
        );
        let range = resolve(&json!("7d"), today, 0).unwrap();
        assert_eq!(
            range.previous().labels(),
            ("2026-03-02".into(), "2026-03-08".into())
        );
        assert!(resolve(&json!("fortnight"), today, 0).is_err());
        assert!(resolve(&json!(["2026-01-04", "2026-01-02"]), today, 0).is_err());
        assert_eq!(
            hour_label(DAY_MS + 3 * 3_600_000 + 5),
            "1970-01-02 03:00:00"
        );
    }
}
