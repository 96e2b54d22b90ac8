//! The dimensions of the statistics (named as in Plausible's Stats API v2) and the
//! filters on them.

use super::visits::{ENGAGEMENT, PAGE_VIEW, Visit};
use crate::store::rollup::RawEvent;

/// What a visit without a referrer or `utm_source` came from (Plausible's label).
pub const DIRECT: &str = "Direct / None";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    Page,
    Goal,
    EntryPage,
    ExitPage,
    Source,
    Referrer,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Country,
    Region,
    Browser,
    Os,
    Device,
    /// `time:day` (`YYYY-MM-DD`, UTC).
    Day,
    /// `time:hour` (`YYYY-MM-DD HH:00:00`, UTC): the hour a visit started.
    Hour,
    /// `time:month` (`YYYY-MM-01`).
    Month,
}

impl Dim {
    pub const ALL: [Dim; 19] = [
        Dim::Page,
        Dim::Goal,
        Dim::EntryPage,
        Dim::ExitPage,
        Dim::Source,
        Dim::Referrer,
        Dim::UtmSource,
        Dim::UtmMedium,
        Dim::UtmCampaign,
        Dim::UtmTerm,
        Dim::UtmContent,
        Dim::Country,
        Dim::Region,
        Dim::Browser,
        Dim::Os,
        Dim::Device,
        Dim::Day,
        Dim::Hour,
        Dim::Month,
    ];

    /// The dimensions kept in the daily rollups (the time dimensions come from the day).
    pub const ROLLED: [Dim; 16] = [
        Dim::Page,
        Dim::Goal,
        Dim::EntryPage,
        Dim::ExitPage,
        Dim::Source,
        Dim::Referrer,
        Dim::UtmSource,
        Dim::UtmMedium,
        Dim::UtmCampaign,
        Dim::UtmTerm,
        Dim::UtmContent,
        Dim::Country,
        Dim::Region,
        Dim::Browser,
        Dim::Os,
        Dim::Device,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Page => "event:page",
            Dim::Goal => "event:goal",
            Dim::EntryPage => "visit:entry_page",
            Dim::ExitPage => "visit:exit_page",
            Dim::Source => "visit:source",
            Dim::Referrer => "visit:referrer",
            Dim::UtmSource => "visit:utm_source",
            Dim::UtmMedium => "visit:utm_medium",
            Dim::UtmCampaign => "visit:utm_campaign",
            Dim::UtmTerm => "visit:utm_term",
            Dim::UtmContent => "visit:utm_content",
            Dim::Country => "visit:country",
            Dim::Region => "visit:region",
            Dim::Browser => "visit:browser",
            Dim::Os => "visit:os",
            Dim::Device => "visit:device",
            Dim::Day => "time:day",
            Dim::Hour => "time:hour",
            Dim::Month => "time:month",
        }
    }

    pub fn parse(name: &str) -> Option<Dim> {
        // `event:name` is Plausible's filter name for what `event:goal` groups.
        if name == "event:name" {
            return Some(Dim::Goal);
        }
        if name == "time" {
            return Some(Dim::Day);
        }
        Dim::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Grouped per event rather than per visit.
    pub fn is_event(self) -> bool {
        matches!(self, Dim::Page | Dim::Goal)
    }

    pub fn is_time(self) -> bool {
        matches!(self, Dim::Day | Dim::Hour | Dim::Month)
    }

    /// The value of a visit dimension (`None`: the visit has none, e.g. no region).
    pub fn of_visit(self, v: &Visit<'_>) -> Option<String> {
        let first = v.first();
        let owned = |s: &Option<String>| s.clone();
        match self {
            Dim::Page | Dim::Goal => None,
            Dim::EntryPage => v.entry_page().map(str::to_owned),
            Dim::ExitPage => v.exit_page().map(str::to_owned),
            Dim::Source => Some(
                first
                    .utm_source
                    .clone()
                    .or_else(|| first.referrer.clone())
                    .unwrap_or_else(|| DIRECT.to_owned()),
            ),
            Dim::Referrer => Some(first.referrer.clone().unwrap_or_else(|| DIRECT.to_owned())),
            Dim::UtmSource => owned(&first.utm_source),
            Dim::UtmMedium => owned(&first.utm_medium),
            Dim::UtmCampaign => owned(&first.utm_campaign),
            Dim::UtmTerm => owned(&first.utm_term),
            Dim::UtmContent => owned(&first.utm_content),
            Dim::Country => owned(&first.country),
            Dim::Region => owned(&first.region),
            Dim::Browser => Some(first.browser.clone()),
            Dim::Os => Some(first.os.clone()),
            Dim::Device => Some(first.device.clone()),
            Dim::Day => Some(super::period::day_label(v.day)),
            Dim::Hour => Some(super::period::hour_label(v.start())),
            Dim::Month => Some(super::period::month_label(v.day)),
        }
    }

    /// The value of an event dimension for one event.
    pub fn of_event(self, e: &RawEvent) -> Option<String> {
        match self {
            Dim::Page => (e.name == PAGE_VIEW).then(|| e.path.clone()),
            Dim::Goal => (e.name != PAGE_VIEW && e.name != ENGAGEMENT).then(|| e.name.clone()),
            _ => None,
        }
    }
}

/// The values of one group, one per dimension asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key(pub Vec<String>);

impl Key {
    /// `None` when any dimension has no value (the visit is in no group of that breakdown,
    /// as in Plausible).
    pub fn of(values: impl Iterator<Item = Option<String>>) -> Option<Key> {
        values.collect::<Option<Vec<_>>>().map(Key)
    }
}

/// A comparison of one dimension with a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Is,
    IsNot,
    Contains,
    ContainsNot,
}

impl Op {
    pub fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "is" => Op::Is,
            "is_not" => Op::IsNot,
            "contains" => Op::Contains,
            "contains_not" => Op::ContainsNot,
            _ => return None,
        })
    }

    fn test(self, value: Option<&str>, against: &[String]) -> bool {
        let any =
            |f: &dyn Fn(&str, &str) -> bool| value.is_some_and(|v| against.iter().any(|a| f(v, a)));
        match self {
            Op::Is => any(&|v, a| v == a),
            Op::IsNot => !any(&|v, a| v == a),
            // Case-insensitive, as Plausible's `contains`.
            Op::Contains => any(&|v, a| v.to_lowercase().contains(&a.to_lowercase())),
            Op::ContainsNot => !any(&|v, a| v.to_lowercase().contains(&a.to_lowercase())),
        }
    }
}

/// One term's outcome at one level (visit or event); `None` when it does not apply.
type TermTest<'a> = dyn Fn(Op, Dim, &[String]) -> Option<bool> + 'a;

/// Filters: a tree of terms joined by and / or / not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Term(Op, Dim, Vec<String>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Default for Filter {
    fn default() -> Self {
        Filter::And(Vec::new())
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        matches!(self, Filter::And(list) if list.iter().all(Filter::is_empty))
    }

    /// Whether any term is about events (page, goal).
    pub fn has_event_terms(&self) -> bool {
        match self {
            Filter::Term(_, d, _) => d.is_event(),
            Filter::And(l) | Filter::Or(l) => l.iter().any(Filter::has_event_terms),
            Filter::Not(f) => f.has_event_terms(),
        }
    }

    /// The visit-dimension terms (event terms count as passed here).
    pub fn visit_passes(&self, v: &Visit<'_>) -> bool {
        self.eval(&|op, d, vals| {
            if d.is_event() {
                None
            } else {
                Some(op.test(d.of_visit(v).as_deref(), vals))
            }
        })
        .unwrap_or(true)
    }

    /// The event-dimension terms for one event (visit terms count as passed here).
    pub fn event_passes(&self, e: &RawEvent) -> bool {
        self.eval(&|op, d, vals| {
            if d.is_event() {
                Some(op.test(d.of_event(e).as_deref(), vals))
            } else {
                None
            }
        })
        .unwrap_or(true)
    }

    /// Three-valued: `None` for terms that do not apply at this level.
    fn eval(&self, term: &TermTest<'_>) -> Option<bool> {
        match self {
            Filter::Term(op, d, vals) => term(*op, *d, vals),
            Filter::And(list) => {
                let known: Vec<bool> = list.iter().filter_map(|f| f.eval(term)).collect();
                (!known.is_empty()).then(|| known.iter().all(|b| *b))
            }
            Filter::Or(list) => {
                let known: Vec<bool> = list.iter().filter_map(|f| f.eval(term)).collect();
                (!known.is_empty()).then(|| known.iter().any(|b| *b))
            }
            Filter::Not(f) => f.eval(term).map(|b| !b),
        }
    }
}
