//! Statistics over the reception flow, for auditors and admins: per site and day (arrivals,
//! departures, occupancy at the end of the day), transfers as an origin × destination matrix,
//! vaccinations, and the flow matrix counted over arrivals, transfers or departures.
//!
//! Small cells are suppressed as for flows (below 5 shows `"<5"`, unless an admin asks
//! `suppress=false`), with the same secondary suppression for every table with a total, and
//! auditors' windows are whole months, as for flows. Only coarse columns kept in clear are read; nothing sealed is opened.
//! Daily site counts come from `site_days`, kept with every event, so no query scans the
//! events for occupancy.

use crate::db::reception::EventMonth;
use crate::db::schema::{event_months, events, site_days};
use crate::error::{ApiError, ApiResult};
use crate::service::audit::{self, Entry};
use crate::service::stats::{
    is_month_start, parse_by, suppress_for, table, whole_months, FlowMatrix, SUPPRESS_BELOW,
};
use crate::service::{parse_instant, Principal, Registro};
use diesel::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

fn count(n: i64, suppress: bool) -> serde_json::Value {
    if suppress && n < SUPPRESS_BELOW && n != 0 {
        "<5".into()
    } else {
        n.into()
    }
}

fn log(reg: &Registro, who: &Principal, action: &str) -> ApiResult<()> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(c, &keys, Entry::by(who, action, None, None, 200))?;
        Ok(())
    })
}

fn day_bound(name: &str, v: Option<&str>) -> ApiResult<Option<String>> {
    Ok(parse_instant(name, v)?.map(|t| t.format("%Y-%m-%d").to_string()))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteDays {
    /// `{site, day, arrivals, departures, occupancy}`; counts below 5 show `"<5"`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Per site and day: arrivals, departures, and occupancy at the end of the day.
pub fn sites(
    reg: &Registro,
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<SiteDays> {
    let suppress = suppress_for(who, suppress)?;
    let from = day_bound("from", from)?;
    let to = day_bound("to", to)?;
    let rows: Vec<(String, String, i64, i64)> = reg.db.read(|c| -> ApiResult<_> {
        Ok(site_days::table
            .order((site_days::site.asc(), site_days::day.asc()))
            .select((
                site_days::site,
                site_days::day,
                site_days::arrivals,
                site_days::departures,
            ))
            .load(c)?)
    })?;
    let mut items = Vec::new();
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    for (site, day, arrivals, departures) in rows {
        let occ = running.entry(site.clone()).or_default();
        *occ += arrivals - departures;
        let inside =
            from.as_ref().is_none_or(|f| day >= *f) && to.as_ref().is_none_or(|t| day < *t);
        if !inside || (arrivals == 0 && departures == 0) {
            continue;
        }
        let mut m = serde_json::Map::new();
        m.insert("site".into(), site.into());
        m.insert("day".into(), day.into());
        m.insert("arrivals".into(), count(arrivals, suppress));
        m.insert("departures".into(), count(departures, suppress));
        m.insert("occupancy".into(), count(*occ, suppress));
        items.push(m);
    }
    log(reg, who, "stats.sites")?;
    Ok(SiteDays { items })
}

/// The `[from, to)` window, open ends made concrete (no boxed queries: diesel cannot group
/// boxed queries over a `MultiConnection`).
fn window(
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(chrono::NaiveDateTime, chrono::NaiveDateTime)> {
    let lo = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let hi = chrono::NaiveDate::from_ymd_opt(9999, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(ApiError::internal("calendar bounds"));
    };
    let (from, to) = (parse_instant("from", from)?, parse_instant("to", to)?);
    whole_months(who, from, to)?;
    Ok((from.unwrap_or(lo), to.unwrap_or(hi)))
}

/// Events of one kind counted by every dimension the statistics group on.
struct Line {
    month: String,
    site: String,
    to_site: Option<String>,
    vaccine: Option<String>,
    dose: Option<i32>,
    nationality: Option<String>,
    sex: Option<String>,
    age_group: String,
    n: i64,
}

fn some(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

/// The events of `kind` in `[from, to)`, counted by every dimension; a check-in counts only
/// when it brought the person to the site (an arrival). A window in whole months (every
/// auditor's, and an open one) reads the monthly counts of `event_months`, a few lines per
/// month; an admin's window to the instant groups the events themselves.
fn lines(
    reg: &Registro,
    kind: &str,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> ApiResult<Vec<Line>> {
    let arrivals_only = kind == "check_in";
    if is_month_start(from) && is_month_start(to) {
        let (lo, hi) = (
            from.format("%Y-%m").to_string(),
            to.format("%Y-%m").to_string(),
        );
        let rows: Vec<EventMonth> = reg.db.read(|c| -> ApiResult<_> {
            Ok(event_months::table
                .filter(event_months::kind.eq(kind))
                .filter(event_months::month.ge(&lo))
                .filter(event_months::month.lt(&hi))
                .filter(event_months::n.ne(0))
                .select(EventMonth::as_select())
                .load(c)?)
        })?;
        return Ok(rows
            .into_iter()
            .filter(|r| r.arrival || !arrivals_only)
            .map(|r| Line {
                month: r.month,
                site: r.site,
                to_site: some(r.to_site),
                vaccine: some(r.vaccine),
                dose: (r.dose != 0).then_some(r.dose),
                nationality: some(r.nationality),
                sex: some(r.sex),
                age_group: r.age_group,
                n: r.n,
            })
            .collect());
    }
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<String>,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<Row> = reg.db.read(|c| -> ApiResult<_> {
        Ok(events::table
            .filter(events::kind.eq(kind))
            .filter(
                events::entered_site
                    .is_not_null()
                    .or(events::kind.ne("check_in")),
            )
            .filter(events::at.ge(from))
            .filter(events::at.lt(to))
            .group_by((
                events::month,
                events::site,
                events::to_site,
                events::vaccine,
                events::dose,
                events::nationality,
                events::sex,
                events::age_group,
            ))
            .select((
                events::month,
                events::site,
                events::to_site,
                events::vaccine,
                events::dose,
                events::nationality,
                events::sex,
                events::age_group,
                diesel::dsl::count_star(),
            ))
            .load(c)?)
    })?;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            month: r.0,
            site: r.1,
            to_site: r.2,
            vaccine: r.3,
            dose: r.4,
            nationality: r.5,
            sex: r.6,
            age_group: r.7,
            n: r.8,
        })
        .collect())
}

/// Transfers as an origin × destination matrix.
pub fn transfers(
    reg: &Registro,
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<FlowMatrix> {
    let suppress = suppress_for(who, suppress)?;
    let (from, to) = window(who, from, to)?;
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for l in lines(reg, "transfer", from, to)? {
        *counts
            .entry(vec![l.site, l.to_site.unwrap_or_default()])
            .or_default() += l.n;
    }
    log(reg, who, "stats.transfers")?;
    Ok(table(
        vec!["from_site".into(), "to_site".into()],
        counts,
        suppress,
    ))
}

pub const VACCINATION_DIMENSIONS: [&str; 4] = ["vaccine", "dose", "age_group", "site"];

/// Vaccinations by any of vaccine, dose, age group (at registration) and site.
pub fn vaccinations(
    reg: &Registro,
    who: &Principal,
    by: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<FlowMatrix> {
    let suppress = suppress_for(who, suppress)?;
    let mut dims = Vec::new();
    for d in by
        .unwrap_or("vaccine,dose")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !VACCINATION_DIMENSIONS.contains(&d) {
            return Err(ApiError::client(
                "invalid_query",
                "by takes vaccine, dose, age_group, site",
            ));
        }
        if !dims.iter().any(|x| x == d) {
            dims.push(d.to_string());
        }
    }
    let (from, to) = window(who, from, to)?;
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for l in lines(reg, "vaccination", from, to)? {
        let key = dims
            .iter()
            .map(|d| match d.as_str() {
                "vaccine" => l.vaccine.clone().unwrap_or_default(),
                "dose" => l.dose.map(|d| d.to_string()).unwrap_or_default(),
                "age_group" => l.age_group.clone(),
                _ => l.site.clone(),
            })
            .collect();
        *counts.entry(key).or_default() += l.n;
    }
    log(reg, who, "stats.vaccinations")?;
    Ok(table(dims, counts, suppress))
}

/// The flow matrix counted over events: `arrivals` (check-ins that brought a person to a
/// site), `transfers` (at the site left) or `departures` (leaving the country, at the site
/// left). Demographics are those of the record, as registered.
pub fn flows(
    reg: &Registro,
    who: &Principal,
    kind: &str,
    from: Option<&str>,
    to: Option<&str>,
    by: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<FlowMatrix> {
    let suppress = suppress_for(who, suppress)?;
    let by = parse_by(by)?;
    let (from, to) = window(who, from, to)?;
    let event_kind = match kind {
        "arrivals" => "check_in",
        "transfers" => "transfer",
        "departures" => "departure",
        _ => {
            return Err(ApiError::client(
                "invalid_query",
                "kind is registrations, arrivals, transfers or departures",
            ))
        }
    };
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for l in lines(reg, event_kind, from, to)? {
        let key = by
            .iter()
            .map(|d| match d.as_str() {
                "nationality" => l.nationality.clone().unwrap_or_else(|| "unknown".into()),
                "month" => l.month.clone(),
                "sex" => l.sex.clone().unwrap_or_else(|| "unknown".into()),
                "age_group" => l.age_group.clone(),
                _ => l.site.clone(),
            })
            .collect();
        *counts.entry(key).or_default() += l.n;
    }
    log(reg, who, &format!("stats.flows.{kind}"))?;
    Ok(table(by, counts, suppress))
}

/// Site days as CSV.
pub fn sites_csv(s: &SiteDays) -> String {
    let mut out = String::from("site,day,arrivals,departures,occupancy\n");
    for it in &s.items {
        let f = |k: &str| match it.get(k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            f("site"),
            f("day"),
            f("arrivals"),
            f("departures"),
            f("occupancy")
        ));
    }
    out
}
