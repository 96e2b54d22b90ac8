//! A stats query in the shape of Plausible's Stats API v2 (`POST /api/v2/query`), checked
//! into typed parts. Anything not understood is an error that says what is allowed —
//! never silently ignored.

use serde::Deserialize;
use serde_json::Value;

use super::dims::{Dim, Filter, Op};
use super::period::{self, Range};
use crate::catalog::Category;

/// A metric: Plausible's, or one of this product's extensions (consent, enforcement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Visitors,
    Visits,
    Pageviews,
    ViewsPerVisit,
    BounceRate,
    VisitDuration,
    Events,
    Percentage,
    ConversionRate,
    Consent(ConsentMetric),
    Proof(ProofMetric),
}

/// The consent funnel (banner impressions and choices; no identifier behind them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMetric {
    Impressions,
    Decisions,
    AcceptAll,
    RejectAll,
    Custom,
    AcceptRate,
    RejectRate,
    CustomRate,
    GpcShare,
    GrantRate(Category),
}

/// Proof of enforcement: what the proxy kept from the site or the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofMetric {
    /// `Set-Cookie`s of refused categories dropped from responses.
    CookiesDropped,
    /// Request cookies of refused categories stripped before the site (and expired).
    CookiesStripped,
    /// Scripts (external and inline) made inert.
    Scripts,
    Frames,
    Pixels,
    /// Resource hints (preconnect, prefetch) to trackers removed.
    Hints,
}

impl ProofMetric {
    /// The actions stored for this metric.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            ProofMetric::CookiesDropped => &["response"],
            ProofMetric::CookiesStripped => &["request"],
            ProofMetric::Scripts => &["script", "inline_script"],
            ProofMetric::Frames => &["iframe"],
            ProofMetric::Pixels => &["pixel"],
            ProofMetric::Hints => &["hint"],
        }
    }
}

impl Metric {
    pub fn parse(name: &str) -> Option<Metric> {
        use ConsentMetric as C;
        use ProofMetric as P;
        Some(match name {
            "visitors" => Metric::Visitors,
            "visits" => Metric::Visits,
            "pageviews" => Metric::Pageviews,
            "views_per_visit" => Metric::ViewsPerVisit,
            "bounce_rate" => Metric::BounceRate,
            "visit_duration" => Metric::VisitDuration,
            "events" => Metric::Events,
            "percentage" => Metric::Percentage,
            "conversion_rate" => Metric::ConversionRate,
            "consent_banner_impressions" => Metric::Consent(C::Impressions),
            "consent_decisions" => Metric::Consent(C::Decisions),
            "consent_accept_all" => Metric::Consent(C::AcceptAll),
            "consent_reject_all" => Metric::Consent(C::RejectAll),
            "consent_custom" => Metric::Consent(C::Custom),
            "consent_accept_rate" => Metric::Consent(C::AcceptRate),
            "consent_reject_rate" => Metric::Consent(C::RejectRate),
            "consent_custom_rate" => Metric::Consent(C::CustomRate),
            "consent_gpc_share" => Metric::Consent(C::GpcShare),
            "enforcement_cookies_dropped" => Metric::Proof(P::CookiesDropped),
            "enforcement_cookies_stripped" => Metric::Proof(P::CookiesStripped),
            "enforcement_scripts" => Metric::Proof(P::Scripts),
            "enforcement_frames" => Metric::Proof(P::Frames),
            "enforcement_pixels" => Metric::Proof(P::Pixels),
            "enforcement_hints" => Metric::Proof(P::Hints),
            other => {
                let category = other.strip_prefix("consent_grant_rate_")?;
                let category = Category::ALL
                    .into_iter()
                    .find(|c| c.as_str() == category && *c != Category::Necessary)?;
                Metric::Consent(C::GrantRate(category))
            }
        })
    }

    pub fn is_traffic(self) -> bool {
        !matches!(self, Metric::Consent(_) | Metric::Proof(_))
    }
}

/// A dimension: a traffic one, or the category of the enforcement extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Traffic(Dim),
    ProofCategory,
}

impl Dimension {
    pub fn parse(name: &str) -> Option<Dimension> {
        if name == "enforcement:category" {
            return Some(Dimension::ProofCategory);
        }
        Dim::parse(name).map(Dimension::Traffic)
    }

    pub fn time(self) -> Option<Dim> {
        match self {
            Dimension::Traffic(d) if d.is_time() => Some(d),
            _ => None,
        }
    }
}

/// The request body as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub site_id: String,
    pub metrics: Vec<String>,
    pub date_range: Value,
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub filters: Vec<Value>,
    #[serde(default)]
    pub order_by: Vec<(String, String)>,
    #[serde(default)]
    pub include: Include,
    #[serde(default)]
    pub pagination: Pagination,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Include {
    #[serde(default)]
    pub time_labels: bool,
    #[serde(default)]
    pub total_rows: bool,
    #[serde(default)]
    pub imports: bool,
    /// `{"mode": "previous_period"}`.
    #[serde(default)]
    pub comparisons: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    #[serde(default = "default_limit")]
    pub limit: usize,
    #[serde(default)]
    pub offset: usize,
}

impl Default for Pagination {
    fn default() -> Self {
        Pagination {
            limit: default_limit(),
            offset: 0,
        }
    }
}

fn default_limit() -> usize {
    10_000
}

/// A checked query.
#[derive(Debug, Clone)]
pub struct Query {
    pub metrics: Vec<Metric>,
    pub metric_names: Vec<String>,
    pub range: Range,
    pub dimensions: Vec<Dimension>,
    pub dimension_names: Vec<String>,
    pub filter: Filter,
    pub filters_raw: Vec<Value>,
    /// (index into metrics or dimensions, descending).
    pub order_by: Vec<(Sort, bool)>,
    pub limit: usize,
    pub offset: usize,
    pub time_labels: bool,
    pub total_rows: bool,
    pub compare: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Metric(usize),
    Dimension(usize),
}

impl Query {
    /// Checks `request` for a site whose data starts on day `first`, on day `today`.
    pub fn check(request: &Request, today: i64, first: i64) -> Result<Query, String> {
        if request.metrics.is_empty() {
            return Err("`metrics` must name at least one metric".into());
        }
        let metrics = request
            .metrics
            .iter()
            .map(|m| Metric::parse(m).ok_or_else(|| format!("unknown metric `{m}`")))
            .collect::<Result<Vec<_>, _>>()?;
        let dimensions = request
            .dimensions
            .iter()
            .map(|d| Dimension::parse(d).ok_or_else(|| format!("unknown dimension `{d}`")))
            .collect::<Result<Vec<_>, _>>()?;
        if dimensions.iter().filter(|d| d.time().is_some()).count() > 1 {
            return Err("at most one time dimension".into());
        }
        let filter = Filter::And(
            request
                .filters
                .iter()
                .map(filter)
                .collect::<Result<Vec<_>, _>>()?,
        );
        let traffic = metrics.iter().any(|m| m.is_traffic());
        let consent = metrics.iter().any(|m| matches!(m, Metric::Consent(_)));
        let proof = metrics.iter().any(|m| matches!(m, Metric::Proof(_)));
        for d in &dimensions {
            match d {
                Dimension::ProofCategory if traffic || consent => {
                    return Err(
                        "`enforcement:category` goes only with enforcement_* metrics".into(),
                    );
                }
                Dimension::Traffic(dim) if !dim.is_time() && (consent || proof) => {
                    return Err(format!(
                        "consent_* and enforcement_* metrics can be broken down by time only, not `{}`",
                        dim.name()
                    ));
                }
                _ => {}
            }
        }
        if (consent || proof) && !filter.is_empty() {
            return Err("consent_* and enforcement_* metrics take no filters".into());
        }
        let goal_filtered = goal_term(&filter);
        let by_goal = dimensions.contains(&Dimension::Traffic(Dim::Goal));
        if metrics.contains(&Metric::ConversionRate) && !goal_filtered && !by_goal {
            return Err("`conversion_rate` needs an `event:goal` filter or dimension".into());
        }
        if metrics.contains(&Metric::Percentage) && dimensions.is_empty() {
            return Err("`percentage` needs a dimension".into());
        }
        let range = period::resolve(&request.date_range, today, first)?;
        let mut order_by = Vec::new();
        for (name, direction) in &request.order_by {
            let desc = match direction.as_str() {
                "desc" => true,
                "asc" => false,
                other => return Err(format!("order direction `{other}` (use asc or desc)")),
            };
            let sort = if let Some(i) = request.metrics.iter().position(|m| m == name) {
                Sort::Metric(i)
            } else if let Some(i) = request.dimensions.iter().position(|d| d == name) {
                Sort::Dimension(i)
            } else {
                return Err(format!(
                    "order_by `{name}` is not among the metrics or dimensions"
                ));
            };
            order_by.push((sort, desc));
        }
        if order_by.is_empty() {
            // Plausible's default: time ascending, otherwise the first metric descending.
            if let Some(i) = dimensions.iter().position(|d| d.time().is_some()) {
                order_by.push((Sort::Dimension(i), false));
            } else {
                order_by.push((Sort::Metric(0), true));
            }
        }
        let compare = match &request.include.comparisons {
            None | Some(Value::Null) => false,
            Some(c) if c.get("mode").and_then(Value::as_str) == Some("previous_period") => true,
            Some(_) => {
                return Err("include.comparisons: only {\"mode\": \"previous_period\"}".into());
            }
        };
        if compare && dimensions.iter().any(|d| d.time().is_some()) {
            return Err("comparisons go with non-time dimensions only".into());
        }
        if request.pagination.limit == 0 || request.pagination.limit > 10_000 {
            return Err("pagination.limit must be 1 to 10000".into());
        }
        Ok(Query {
            metrics,
            metric_names: request.metrics.clone(),
            range,
            dimensions,
            dimension_names: request.dimensions.clone(),
            filter,
            filters_raw: request.filters.clone(),
            order_by,
            limit: request.pagination.limit,
            offset: request.pagination.offset,
            time_labels: request.include.time_labels,
            total_rows: request.include.total_rows,
            compare,
        })
    }

    pub fn traffic_dims(&self) -> Vec<Dim> {
        self.dimensions
            .iter()
            .filter_map(|d| match d {
                Dimension::Traffic(d) => Some(*d),
                Dimension::ProofCategory => None,
            })
            .collect()
    }
}

fn goal_term(f: &Filter) -> bool {
    match f {
        Filter::Term(_, d, _) => *d == Dim::Goal,
        Filter::And(l) | Filter::Or(l) => l.iter().any(goal_term),
        Filter::Not(f) => goal_term(f),
    }
}

/// One filter in Plausible's syntax: `[op, dimension, [values]]`, `["and", [...]]`,
/// `["or", [...]]`, `["not", filter]`.
fn filter(value: &Value) -> Result<Filter, String> {
    let list = value
        .as_array()
        .ok_or("a filter is a list like [\"is\", \"visit:country\", [\"NL\"]]")?;
    let op = list.first().and_then(Value::as_str).unwrap_or("");
    match op {
        "and" | "or" => {
            let inner = list
                .get(1)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("`{op}` takes a list of filters"))?
                .iter()
                .map(filter)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "and" {
                Filter::And(inner)
            } else {
                Filter::Or(inner)
            })
        }
        "not" => Ok(Filter::Not(Box::new(filter(
            list.get(1).ok_or("`not` takes one filter")?,
        )?))),
        _ => {
            let parsed = Op::parse(op).ok_or_else(|| {
                format!(
                    "filter operator `{op}` (use is, is_not, contains, contains_not, and, or, not)"
                )
            })?;
            let dim_name = list.get(1).and_then(Value::as_str).unwrap_or("");
            let dim = Dim::parse(dim_name)
                .filter(|d| !d.is_time())
                .ok_or_else(|| format!("cannot filter on `{dim_name}`"))?;
            let values = list
                .get(2)
                .and_then(Value::as_array)
                .ok_or("filter values are a list of strings")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or("filter values are strings")
                })
                .collect::<Result<Vec<_>, _>>()?;
            if list.len() > 4 {
                return Err("a filter has an operator, a dimension, values and options".into());
            }
            Ok(Filter::Term(parsed, dim, values))
        }
    }
}
