//! Statistics over the reception flow, for auditors and admins: per site and day (arrivals,
//! departures, occupancy at the end of the day), transfers as an origin × destination matrix,
//! vaccinations, and the flow matrix counted over arrivals, transfers or departures.
//!
//! Small cells are suppressed as for flows (below 5 shows `"<5"`, unless an admin asks
//! `suppress=false`). Only coarse columns kept in clear are read; nothing sealed is opened.
//! Daily site counts come from `site_days`, kept with every event, so no query scans the
//! events for occupancy.

use crate::db::schema::{events, site_days};
use crate::error::{ApiError, ApiResult};
use crate::service::audit::{self, Entry};
use crate::service::stats::{parse_by, suppress_for, FlowMatrix, SUPPRESS_BELOW};
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Matrix {
    pub by: Vec<String>,
    pub total: i64,
    #[schema(value_type = Vec<Object>)]
    pub cells: Vec<serde_json::Map<String, serde_json::Value>>,
}

fn matrix(by: Vec<String>, counts: BTreeMap<Vec<String>, i64>, suppress: bool) -> Matrix {
    let total = counts.values().sum();
    let cells = counts
        .into_iter()
        .map(|(key, n)| {
            let mut m = serde_json::Map::new();
            for (d, v) in by.iter().zip(key) {
                m.insert(d.clone(), v.into());
            }
            m.insert("count".into(), count(n, suppress));
            m
        })
        .collect();
    Matrix { by, total, cells }
}

/// The `[from, to)` window, open ends made concrete (no boxed queries: diesel cannot group
/// boxed queries over a `MultiConnection`).
fn window(
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(chrono::NaiveDateTime, chrono::NaiveDateTime)> {
    let lo = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let hi = chrono::NaiveDate::from_ymd_opt(9999, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(ApiError::internal("calendar bounds"));
    };
    Ok((
        parse_instant("from", from)?.unwrap_or(lo),
        parse_instant("to", to)?.unwrap_or(hi),
    ))
}

/// Transfers as an origin × destination matrix.
pub fn transfers(
    reg: &Registro,
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<Matrix> {
    let suppress = suppress_for(who, suppress)?;
    let (from, to) = window(from, to)?;
    let rows: Vec<(String, Option<String>, i64)> = reg.db.read(|c| -> ApiResult<_> {
        Ok(events::table
            .filter(events::kind.eq("transfer"))
            .filter(events::at.ge(from))
            .filter(events::at.lt(to))
            .group_by((events::site, events::to_site))
            .select((events::site, events::to_site, diesel::dsl::count_star()))
            .load(c)?)
    })?;
    let counts = rows
        .into_iter()
        .map(|(a, b, n)| (vec![a, b.unwrap_or_default()], n))
        .collect();
    log(reg, who, "stats.transfers")?;
    Ok(matrix(
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
) -> ApiResult<Matrix> {
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
    let (from, to) = window(from, to)?;
    type Row = (Option<String>, Option<i32>, String, String, i64);
    let rows: Vec<Row> = reg.db.read(|c| -> ApiResult<_> {
        Ok(events::table
            .filter(events::kind.eq("vaccination"))
            .filter(events::at.ge(from))
            .filter(events::at.lt(to))
            .group_by((
                events::vaccine,
                events::dose,
                events::age_group,
                events::site,
            ))
            .select((
                events::vaccine,
                events::dose,
                events::age_group,
                events::site,
                diesel::dsl::count_star(),
            ))
            .load(c)?)
    })?;
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (vaccine, dose, age, site, n) in rows {
        let key = dims
            .iter()
            .map(|d| match d.as_str() {
                "vaccine" => vaccine.clone().unwrap_or_default(),
                "dose" => dose.map(|d| d.to_string()).unwrap_or_default(),
                "age_group" => age.clone(),
                _ => site.clone(),
            })
            .collect();
        *counts.entry(key).or_default() += n;
    }
    log(reg, who, "stats.vaccinations")?;
    Ok(matrix(dims, counts, suppress))
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
    let (from, to) = window(from, to)?;
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
    type Row = (Option<String>, String, Option<String>, String, String, i64);
    let rows: Vec<Row> = reg.db.read(|c| -> ApiResult<_> {
        // An arrival is a check-in that brought the person to a site.
        Ok(events::table
            .filter(events::kind.eq(event_kind))
            .filter(
                events::entered_site
                    .is_not_null()
                    .or(events::kind.ne("check_in")),
            )
            .filter(events::at.ge(from))
            .filter(events::at.lt(to))
            .group_by((
                events::nationality,
                events::month,
                events::sex,
                events::age_group,
                events::site,
            ))
            .select((
                events::nationality,
                events::month,
                events::sex,
                events::age_group,
                events::site,
                diesel::dsl::count_star(),
            ))
            .load(c)?)
    })?;
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (nat, month, sex, age, site, n) in rows {
        let key = by
            .iter()
            .map(|d| match d.as_str() {
                "nationality" => nat.clone().unwrap_or_else(|| "unknown".into()),
                "month" => month.clone(),
                "sex" => sex.clone().unwrap_or_else(|| "unknown".into()),
                "age_group" => age.clone(),
                _ => site.clone(),
            })
            .collect();
        *counts.entry(key).or_default() += n;
    }
    log(reg, who, &format!("stats.flows.{kind}"))?;
    let m = matrix(by, counts, suppress);
    Ok(FlowMatrix {
        by: m.by,
        total: m.total,
        cells: m.cells,
    })
}

/// A matrix as CSV: one column per dimension, then `count`.
pub fn matrix_csv(m: &Matrix) -> String {
    crate::service::stats::to_csv(&FlowMatrix {
        by: m.by.clone(),
        total: m.total,
        cells: m.cells.clone(),
    })
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
