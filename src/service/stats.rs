//! Flow statistics for member states: counts of registrations by any of nationality, month,
//! sex, age group and site, with small cells suppressed.
//!
//! The unit counted is a registration (a record: one arrival at one site), which is what a
//! flow matrix of crossings needs; a person registered twice in a month counts twice.
//! Cells below 5 are shown as `"<5"` (unless an admin asks `suppress=false`); `total` is exact.
//! Only coarse, non-identifying columns are read: no sealed field is opened.

use super::audit::{self, Entry};
use super::{parse_instant, Principal, Registro, Role};
use crate::db::schema::records;
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

pub const DIMENSIONS: [&str; 5] = ["nationality", "month", "sex", "age_group", "site"];
pub const SUPPRESS_BELOW: i64 = 5;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowMatrix {
    pub by: Vec<String>,
    pub total: i64,
    #[schema(value_type = Vec<Object>)]
    pub cells: Vec<serde_json::Map<String, serde_json::Value>>,
}

pub fn parse_by(by: Option<&str>) -> ApiResult<Vec<String>> {
    let by = by.unwrap_or("nationality");
    let mut out = Vec::new();
    for d in by.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !DIMENSIONS.contains(&d) {
            return Err(ApiError::client(
                "invalid_query",
                "by takes nationality, month, sex, age_group, site",
            ));
        }
        if !out.iter().any(|x| x == d) {
            out.push(d.to_string());
        }
    }
    Ok(out)
}

/// The flow matrix, logged as an access by `who`. Cells under 5 are suppressed unless an
/// admin asks `suppress = Some(false)`.
pub fn flows(
    reg: &Registro,
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
    by: Option<&str>,
    suppress: Option<bool>,
) -> ApiResult<FlowMatrix> {
    let suppress = match suppress {
        Some(false) if who.role == Role::Admin => false,
        Some(false) => {
            return Err(ApiError::client(
                "forbidden",
                "only an admin may lift suppression",
            ))
        }
        _ => true,
    };
    let by = parse_by(by)?;
    let from = parse_instant("from", from)?;
    let to = parse_instant("to", to)?;
    type Row = (
        chrono::NaiveDateTime,
        Option<String>,
        Option<String>,
        String,
        String,
    );
    let rows: Vec<Row> = reg.db.read(|c| -> ApiResult<Vec<Row>> {
        let mut q = records::table
            .filter(records::deleted_at.is_null())
            .into_boxed();
        if let Some(f) = from {
            q = q.filter(records::captured_at.ge(f));
        }
        if let Some(t) = to {
            q = q.filter(records::captured_at.lt(t));
        }
        Ok(q.select((
            records::captured_at,
            records::nationality,
            records::sex,
            records::age_group,
            records::site,
        ))
        .load(c)?)
    })?;
    let mut counts: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (at, nat, sex, age, site) in &rows {
        let key = by
            .iter()
            .map(|d| match d.as_str() {
                "nationality" => nat.clone().unwrap_or_else(|| "unknown".into()),
                "month" => at.format("%Y-%m").to_string(),
                "sex" => sex.clone().unwrap_or_else(|| "unknown".into()),
                "age_group" => age.clone(),
                _ => site.clone(),
            })
            .collect();
        *counts.entry(key).or_default() += 1;
    }
    let cells = counts
        .into_iter()
        .map(|(key, n)| {
            let mut m = serde_json::Map::new();
            for (d, v) in by.iter().zip(key) {
                m.insert(d.clone(), v.into());
            }
            let count = if suppress && n < SUPPRESS_BELOW {
                "<5".into()
            } else {
                n.into()
            };
            m.insert("count".into(), count);
            m
        })
        .collect();
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(c, &keys, Entry::by(who, "stats.flows", None, None, 200))?;
        Ok(())
    })?;
    Ok(FlowMatrix {
        by,
        total: rows.len() as i64,
        cells,
    })
}

/// The same table as CSV: one column per dimension, then `count`.
pub fn to_csv(m: &FlowMatrix) -> String {
    let esc = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = m.by.join(",");
    out.push_str(",count\n");
    for cell in &m.cells {
        let mut fields: Vec<String> =
            m.by.iter()
                .map(|d| esc(cell.get(d).and_then(|v| v.as_str()).unwrap_or("")))
                .collect();
        fields.push(match cell.get("count") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        });
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
