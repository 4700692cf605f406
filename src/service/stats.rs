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
/// How a cell hidden only so that a small cell cannot be derived is shown.
pub const SECONDARY: &str = "suppressed";

/// Whether `t` is midnight on the first day of a month.
pub fn is_month_start(t: chrono::NaiveDateTime) -> bool {
    use chrono::{Datelike, Timelike};
    t.day() == 1 && t.num_seconds_from_midnight() == 0
}

/// How one cell is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Shown,
    /// Primary suppression: the count is below [`SUPPRESS_BELOW`].
    Small,
    /// Secondary suppression: shown, it would let a small cell be derived.
    Secondary,
}

/// Primary and secondary suppression of a table (docs/SECURITY.md, "Statistics").
///
/// Primary: every count below 5 is hidden. Secondary: the exact `total` and each marginal of
/// this table (the sum along one dimension with the others fixed, which is a cell of the table
/// `by` that dimension fewer, also served by the API) are sums of cells, so the hidden cells of
/// such a group are known to sum to the group's sum less its shown cells. Each hidden cell is
/// also known to lie in its mark's range: `"<5"` is 1..=4 (an empty cell is not listed) and
/// `"suppressed"` is 5 or more. A group whose sum and ranges pin one hidden cell down (one
/// hidden cell; or, say, two `"<5"` cells summing to 2) gives that cell away. So, until none is
/// left, every such group (the whole table, and every line along each dimension) that pins a
/// hidden cell and has a shown one also hides its smallest shown cell. Ties break on the
/// cell's key, so the answer is deterministic.
pub fn suppression(cells: &[(Vec<String>, i64)]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = cells
        .iter()
        .map(|(_, n)| {
            if *n < SUPPRESS_BELOW {
                Mark::Small
            } else {
                Mark::Shown
            }
        })
        .collect();
    let dims = cells.first().map_or(0, |c| c.0.len());
    // Groups: the whole table, then the lines along each dimension.
    let mut groups: Vec<Vec<usize>> = vec![(0..cells.len()).collect()];
    for d in 0..dims {
        let mut lines: BTreeMap<Vec<&str>, Vec<usize>> = BTreeMap::new();
        for (i, (key, _)) in cells.iter().enumerate() {
            let rest: Vec<&str> = key
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != d)
                .map(|(_, v)| v.as_str())
                .collect();
            lines.entry(rest).or_default().push(i);
        }
        groups.extend(lines.into_values());
    }
    loop {
        let mut changed = false;
        for g in &groups {
            if !pins_a_cell(g, &marks, cells) {
                continue;
            }
            let pick = g
                .iter()
                .copied()
                .filter(|&i| marks[i] == Mark::Shown)
                .min_by(|&a, &b| {
                    cells[a]
                        .1
                        .cmp(&cells[b].1)
                        .then(cells[a].0.cmp(&cells[b].0))
                });
            if let Some(i) = pick {
                marks[i] = Mark::Secondary;
                changed = true;
            }
        }
        if !changed {
            return marks;
        }
    }
}

/// The range a hidden cell is known to lie in from its mark.
fn range_of(mark: Mark) -> (i64, i64) {
    match mark {
        Mark::Small => (1, SUPPRESS_BELOW - 1),
        _ => (SUPPRESS_BELOW, i64::MAX),
    }
}

/// Whether the hidden cells of group `g`, known to sum to their true sum and each to lie in its
/// mark's range, leave any one of them a single possible value.
fn pins_a_cell(g: &[usize], marks: &[Mark], cells: &[(Vec<String>, i64)]) -> bool {
    let hidden: Vec<usize> = g
        .iter()
        .copied()
        .filter(|&i| marks[i] != Mark::Shown)
        .collect();
    let sum: i64 = hidden.iter().map(|&i| cells[i].1).sum();
    hidden.iter().any(|&i| {
        let (lo, hi) = range_of(marks[i]);
        let (mut others_lo, mut others_hi) = (0i64, 0i64);
        for &j in hidden.iter().filter(|&&j| j != i) {
            let (l, h) = range_of(marks[j]);
            others_lo += l;
            others_hi = others_hi.saturating_add(h);
        }
        let least = lo.max(sum.saturating_sub(others_hi));
        let most = hi.min(sum - others_lo);
        least >= most
    })
}

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

/// Whether small cells are suppressed for `who`: always, unless an admin asks `Some(false)`.
pub fn suppress_for(who: &Principal, suppress: Option<bool>) -> ApiResult<bool> {
    match suppress {
        Some(false) if who.role == Role::Admin => Ok(false),
        Some(false) => Err(ApiError::client(
            "forbidden",
            "only an admin may lift suppression",
        )),
        _ => Ok(true),
    }
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
    let suppress = suppress_for(who, suppress)?;
    let by = parse_by(by)?;
    let from = parse_instant("from", from)?;
    let to = parse_instant("to", to)?;
    whole_months(who, from, to)?;
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
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(c, &keys, Entry::by(who, "stats.flows", None, None, 200))?;
        Ok(())
    })?;
    Ok(table(by, counts, suppress))
}

/// Refuses a window that is not in whole months unless `who` is an admin: a window of a
/// second with an exact total would tell one person's nationality, sex and age group.
pub fn whole_months(
    who: &Principal,
    from: Option<chrono::NaiveDateTime>,
    to: Option<chrono::NaiveDateTime>,
) -> ApiResult<()> {
    if who.role == Role::Admin {
        return Ok(());
    }
    for (name, t) in [("from", from), ("to", to)] {
        if t.is_some_and(|t| !is_month_start(t)) {
            return Err(ApiError::client(
                "window_not_whole_months",
                format!("{name} must be the first day of a month (YYYY-MM-01): auditors' windows are whole months"),
            ));
        }
    }
    Ok(())
}

/// A counted table as the API serves it: the exact total, and the cells with primary and
/// secondary suppression ([`suppression`]) when `suppress`. Every statistics table with a
/// total goes through here, so that no hidden cell can be derived from the others.
pub fn table(by: Vec<String>, counts: BTreeMap<Vec<String>, i64>, suppress: bool) -> FlowMatrix {
    let counts: Vec<(Vec<String>, i64)> = counts.into_iter().collect();
    let total = counts.iter().map(|(_, n)| n).sum();
    let marks = if suppress {
        suppression(&counts)
    } else {
        vec![Mark::Shown; counts.len()]
    };
    let cells = counts
        .into_iter()
        .zip(marks)
        .map(|((key, n), mark)| {
            let mut m = serde_json::Map::new();
            for (d, v) in by.iter().zip(key) {
                m.insert(d.clone(), v.into());
            }
            let count = match mark {
                Mark::Shown => n.into(),
                Mark::Small => "<5".into(),
                Mark::Secondary => SECONDARY.into(),
            };
            m.insert("count".into(), count);
            m
        })
        .collect();
    FlowMatrix { by, total, cells }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// No hidden cell is the only hidden term of the total or of any line.
    fn no_single_hidden(cells: &[(Vec<String>, i64)], marks: &[Mark]) -> bool {
        let dims = cells[0].0.len();
        let mut groups: Vec<Vec<usize>> = vec![(0..cells.len()).collect()];
        for d in 0..dims {
            for i in 0..cells.len() {
                let g: Vec<usize> = (0..cells.len())
                    .filter(|&j| (0..dims).all(|k| k == d || cells[j].0[k] == cells[i].0[k]))
                    .collect();
                groups.push(g);
            }
        }
        groups.iter().all(|g| {
            let hidden = g.iter().filter(|&&i| marks[i] != Mark::Shown).count();
            // A group of hidden cells only has nothing left to hide.
            hidden == g.len() || !pins_a_cell(g, marks, cells)
        })
    }

    #[test]
    fn hidden_cells_that_can_only_be_ones_take_a_shown_cell_with_them() {
        // Two "<5" cells and a total: 9 + 1 + 1 = 11 would give both ones away.
        let cells = vec![(key(&["HTI"]), 1), (key(&["COL"]), 9), (key(&["VEN"]), 1)];
        let m = suppression(&cells);
        assert_eq!(m, vec![Mark::Small, Mark::Secondary, Mark::Small]);
        // A "<5" and a "suppressed" summing to 6 can only be 1 and 5.
        let cells = vec![
            (key(&["HTI"]), 1),
            (key(&["COL"]), 5),
            (key(&["VEN"]), 20),
            (key(&["ECU"]), 30),
        ];
        let m = suppression(&cells);
        assert_eq!(m[0], Mark::Small);
        assert_eq!(m[1], Mark::Secondary);
        assert_ne!(
            m[2],
            Mark::Shown,
            "the pair 1 + 5 takes a third cell with it"
        );
        assert!(no_single_hidden(&cells, &m));
    }

    #[test]
    fn one_small_cell_takes_a_second_with_it() {
        let cells = vec![(key(&["HTI"]), 2), (key(&["COL"]), 9), (key(&["VEN"]), 7)];
        let m = suppression(&cells);
        assert_eq!(m, vec![Mark::Small, Mark::Shown, Mark::Secondary]);
    }

    #[test]
    fn lines_of_two_dimensional_tables_hold_zero_or_two_hidden_cells() {
        // Seeded pseudo-random tables: the property holds for every one.
        let mut s = 0x9e3779b97f4a7c15u64;
        for _ in 0..300 {
            let mut cells = Vec::new();
            for a in ["A", "B", "C", "D"] {
                for b in ["F", "M", "X"] {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    if !s.is_multiple_of(5) {
                        cells.push((key(&[a, b]), (s >> 20) as i64 % 14 + 1));
                    }
                }
            }
            if cells.is_empty() {
                continue;
            }
            let m = suppression(&cells);
            assert!(no_single_hidden(&cells, &m), "{cells:?} {m:?}");
            for (c, mark) in cells.iter().zip(&m) {
                assert_eq!(c.1 < SUPPRESS_BELOW, *mark == Mark::Small);
            }
        }
    }
}
