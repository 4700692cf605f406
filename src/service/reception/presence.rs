//! Where each identity is now, the daily per-site counts, and the journey sweep.
//!
//! An identity's presence and the `entered_site`/`left_site` of its movements are derived by
//! replaying its movements in time order ([`journey::replay`]). They are recomputed whenever
//! the identity gains or loses an event or a record (a late offline event, a merge, a
//! deletion), and the daily counts in `site_days` are adjusted by the difference, so the
//! counts always equal a replay of what is stored, and occupancy queries never scan events.

use super::{CHECK_ARRIVAL, CHECK_FAMILY};
use crate::db::models::NewAlert;
use crate::db::reception::{EventMonth, EventRow, NewSiteDay, PresenceRow};
use crate::db::schema::{alerts, companions, event_months, events, presence, records, site_days};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::indicators::journey::{self, Arrival, Family, Movement};
use crate::service::{new_id, Registro};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const MOVES: [&str; 4] = ["check_in", "check_out", "transfer", "departure"];
/// Relationships that make a companion of a minor family for `family_separated_in_transfer`.
const RELATIVES: [&str; 3] = ["parent", "guardian", "other_relative"];
const SIBLINGS: &str = "sibling";

fn bump(c: &mut DbConn, site: &str, day: &str, arrivals: i64, departures: i64) -> ApiResult<()> {
    let found: Option<i64> = site_days::table
        .filter(site_days::site.eq(site))
        .filter(site_days::day.eq(day))
        .select(site_days::seq)
        .first(c)
        .optional()?;
    match found {
        Some(seq) => {
            diesel::update(site_days::table.filter(site_days::seq.eq(seq)))
                .set((
                    site_days::arrivals.eq(site_days::arrivals + arrivals),
                    site_days::departures.eq(site_days::departures + departures),
                ))
                .execute(c)?;
        }
        None => {
            diesel::insert_into(site_days::table)
                .values(NewSiteDay {
                    site: site.into(),
                    day: day.into(),
                    arrivals,
                    departures,
                })
                .execute(c)?;
        }
    }
    Ok(())
}

/// Adds `delta` to the monthly line that event `e` counts in (`arrival`: whether it brought
/// the person to its site).
pub fn count_event(c: &mut DbConn, e: &EventRow, arrival: bool, delta: i64) -> ApiResult<()> {
    let line = EventMonth::of(e, arrival, delta);
    let found: Option<i64> = event_months::table
        .filter(event_months::kind.eq(&line.kind))
        .filter(event_months::month.eq(&line.month))
        .filter(event_months::site.eq(&line.site))
        .filter(event_months::to_site.eq(&line.to_site))
        .filter(event_months::vaccine.eq(&line.vaccine))
        .filter(event_months::dose.eq(line.dose))
        .filter(event_months::nationality.eq(&line.nationality))
        .filter(event_months::sex.eq(&line.sex))
        .filter(event_months::age_group.eq(&line.age_group))
        .filter(event_months::arrival.eq(line.arrival))
        .select(event_months::seq)
        .first(c)
        .optional()?;
    match found {
        Some(seq) => {
            diesel::update(event_months::table.filter(event_months::seq.eq(seq)))
                .set(event_months::n.eq(event_months::n + delta))
                .execute(c)?;
        }
        None => {
            diesel::insert_into(event_months::table)
                .values(&line)
                .execute(c)?;
        }
    }
    Ok(())
}

fn event_row(c: &mut DbConn, seq: i64) -> ApiResult<EventRow> {
    Ok(events::table
        .filter(events::seq.eq(seq))
        .select(EventRow::as_select())
        .first(c)?)
}

/// Recomputes identity `person_id`'s presence and its movements' effects on the site counts.
pub fn recompute(c: &mut DbConn, person_id: &str) -> ApiResult<()> {
    let recs: Vec<(String, Option<bool>)> = records::table
        .filter(records::person_id.eq(person_id))
        .filter(records::deleted_at.is_null())
        .select((records::id, records::is_minor))
        .load(c)?;
    let ids: Vec<String> = recs.iter().map(|r| r.0.clone()).collect();
    type Row = (
        i64,
        String,
        String,
        String,
        NaiveDateTime,
        String,
        Option<String>,
        Option<String>,
    );
    // By record only, then kinds and order here: an identity has a handful of events, and
    // a filter on `kind` or an ORDER BY on `at` lets a planner with stale statistics walk
    // `events_kind_at` over every movement of every person (seen on PostgreSQL).
    let mut rows: Vec<Row> = events::table
        .filter(events::record_id.eq_any(&ids))
        .select((
            events::seq,
            events::record_id,
            events::kind,
            events::site,
            events::at,
            events::day,
            events::entered_site,
            events::left_site,
        ))
        .load(c)?;
    rows.retain(|r| MOVES.contains(&r.2.as_str()));
    rows.sort_by_key(|r| (r.4, r.0));
    let moves: Vec<Movement> = rows
        .iter()
        .filter_map(|r| {
            journey::Move::parse(&r.2).map(|kind| Movement {
                kind,
                site: r.3.clone(),
                at: r.4,
            })
        })
        .collect();
    let (effects, here) = journey::replay(&moves);
    for (row, eff) in rows.iter().zip(&effects) {
        let (seq, _, _, _, _, day, entered, left) = row;
        if *entered == eff.entered && *left == eff.left {
            continue;
        }
        if entered.is_some() != eff.entered.is_some() {
            let e = event_row(c, *seq)?;
            count_event(c, &e, entered.is_some(), -1)?;
            count_event(c, &e, eff.entered.is_some(), 1)?;
        }
        if let Some(s) = entered {
            bump(c, s, day, -1, 0)?;
        }
        if let Some(s) = left {
            bump(c, s, day, 0, -1)?;
        }
        if let Some(s) = &eff.entered {
            bump(c, s, day, 1, 0)?;
        }
        if let Some(s) = &eff.left {
            bump(c, s, day, 0, 1)?;
        }
        diesel::update(events::table.filter(events::seq.eq(*seq)))
            .set((
                events::entered_site.eq(eff.entered.clone()),
                events::left_site.eq(eff.left.clone()),
            ))
            .execute(c)?;
    }
    diesel::delete(presence::table.filter(presence::person_id.eq(person_id))).execute(c)?;
    if let Some(i) = here {
        let row = &rows[i];
        let is_minor = recs.iter().find(|r| r.0 == row.1).and_then(|r| r.1);
        diesel::insert_into(presence::table)
            .values(PresenceRow {
                person_id: person_id.into(),
                record_id: row.1.clone(),
                site: row.3.clone(),
                is_minor,
                since: row.4,
            })
            .execute(c)?;
    }
    Ok(())
}

/// After records of identity `from` joined identity `into` (a `same_person` decision).
pub fn on_identity_merged(c: &mut DbConn, from: &str, into: &str) -> ApiResult<()> {
    diesel::delete(presence::table.filter(presence::person_id.eq(from))).execute(c)?;
    recompute(c, into)
}

/// Erases a record's events (inside the deletion's transaction): their effects leave the
/// site and monthly counts, and the identity's presence is recomputed from what remains.
pub fn erase_record(c: &mut DbConn, record_id: &str, person_id: &str) -> ApiResult<()> {
    let rows: Vec<EventRow> = events::table
        .filter(events::record_id.eq(record_id))
        .select(EventRow::as_select())
        .load(c)?;
    for e in rows {
        count_event(c, &e, e.entered_site.is_some(), -1)?;
        let (day, entered, left) = (e.day, e.entered_site, e.left_site);
        if let Some(s) = entered {
            bump(c, &s, &day, -1, 0)?;
        }
        if let Some(s) = left {
            bump(c, &s, &day, 0, -1)?;
        }
    }
    diesel::delete(events::table.filter(events::record_id.eq(record_id))).execute(c)?;
    diesel::delete(presence::table.filter(presence::record_id.eq(record_id))).execute(c)?;
    recompute(c, person_id)
}

fn identity_records(c: &mut DbConn, person_id: &str) -> ApiResult<Vec<String>> {
    Ok(records::table
        .filter(records::person_id.eq(person_id))
        .filter(records::deleted_at.is_null())
        .select(records::id)
        .load(c)?)
}

fn person_of(c: &mut DbConn, record_id: &str) -> ApiResult<Option<String>> {
    Ok(records::table
        .filter(records::id.eq(record_id))
        .filter(records::deleted_at.is_null())
        .select(records::person_id)
        .first(c)
        .optional()?)
}

/// Identities declared as family of identity `person_id` (either side's declaration): the
/// parents, guardians, relatives and siblings a minor travels with.
fn relatives_of(c: &mut DbConn, person_id: &str) -> ApiResult<Vec<String>> {
    let ids = identity_records(c, person_id)?;
    let caps: Vec<String> = records::table
        .filter(records::id.eq_any(&ids))
        .select(records::capture_id)
        .load(c)?;
    let mut family = RELATIVES.to_vec();
    family.push(SIBLINGS);
    // Companions this identity declared…
    let declared: Vec<String> = companions::table
        .filter(companions::record_id.eq_any(&ids))
        .filter(companions::relationship.eq_any(&family))
        .select(companions::companion_capture_id)
        .load(c)?;
    let mut persons: BTreeSet<String> = records::table
        .filter(records::capture_id.eq_any(&declared))
        .filter(records::deleted_at.is_null())
        .select(records::person_id)
        .load::<String>(c)?
        .into_iter()
        .collect();
    // …and records that declared it.
    let naming: Vec<String> = companions::table
        .filter(companions::companion_capture_id.eq_any(&caps))
        .filter(companions::relationship.eq_any(&family))
        .select(companions::record_id)
        .load(c)?;
    for rid in naming {
        if let Some(p) = person_of(c, &rid)? {
            persons.insert(p);
        }
    }
    persons.remove(person_id);
    Ok(persons.into_iter().collect())
}

fn raise(
    c: &mut DbConn,
    code: &str,
    detail: String,
    record_ids: Vec<String>,
    evidence: &str,
    site: &str,
) -> ApiResult<bool> {
    let key = format!("{code}:{evidence}");
    let exists: i64 = alerts::table
        .filter(alerts::evidence_key.eq(&key))
        .count()
        .get_result(c)?;
    if exists > 0 {
        return Ok(false);
    }
    let mut ids = record_ids;
    ids.sort();
    ids.dedup();
    diesel::insert_into(alerts::table)
        .values(NewAlert {
            id: new_id("alert"),
            code: code.into(),
            severity: "high".into(),
            detail,
            record_ids: serde_json::to_string(&ids).map_err(ApiError::internal)?,
            evidence_key: key,
            site: Some(site.into()),
            created_at: crate::db::now(),
        })
        .execute(c)?;
    Ok(true)
}

type Pending = (
    i64,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i32,
);

/// The transfers whose `bit` check is still open (an indexed lookup of the flag values that
/// include the bit, so the cost follows the open checks, not the events).
fn pending(c: &mut DbConn, bit: i32) -> ApiResult<Vec<Pending>> {
    let with_bit: Vec<i32> = (1..=(CHECK_ARRIVAL | CHECK_FAMILY))
        .filter(|v| v & bit != 0)
        .collect();
    // Only transfers carry check bits, so `checks` alone selects them. A filter on `kind` or
    // an ORDER BY here lets SQLite's planner walk every transfer by `events_kind_at` (or the
    // table by `seq`) instead of the few open checks: quadratic in the transfers, since
    // every transfer runs this. Sorted after loading instead.
    let mut rows: Vec<Pending> = events::table
        .filter(events::checks.eq_any(with_bit))
        .select((
            events::seq,
            events::event_id,
            events::record_id,
            events::site,
            events::to_site.assume_not_null(),
            events::at,
            events::departs_at.assume_not_null(),
            events::checks,
        ))
        .load(c)?;
    rows.sort_by_key(|r| r.0);
    Ok(rows)
}

fn clear(c: &mut DbConn, seq: i64, checks: i32, bit: i32) -> ApiResult<()> {
    diesel::update(events::table.filter(events::seq.eq(seq)))
        .set(events::checks.eq(checks & !bit))
        .execute(c)?;
    Ok(())
}

/// Settles the family checks of minors' transfers that can be settled at `now`; returns the
/// number of alerts raised.
pub fn check_family(_reg: &Registro, c: &mut DbConn, now: NaiveDateTime) -> ApiResult<usize> {
    let mut raised = 0;
    for (seq, event_id, record_id, site, to_site, _at, departs, checks) in pending(c, CHECK_FAMILY)?
    {
        let Some(person) = person_of(c, &record_id)? else {
            clear(c, seq, checks, CHECK_FAMILY)?;
            continue;
        };
        let relatives = relatives_of(c, &person)?;
        let mut transfers = Vec::with_capacity(relatives.len());
        let mut relative_records = Vec::new();
        for p in &relatives {
            let ids = identity_records(c, p)?;
            // By record only (see `recompute`), the transfers kept here.
            let ts: Vec<(String, NaiveDateTime)> = events::table
                .filter(events::record_id.eq_any(&ids))
                .select((events::kind, events::to_site, events::departs_at))
                .load::<(String, Option<String>, Option<NaiveDateTime>)>(c)?
                .into_iter()
                .filter(|(kind, _, _)| kind == "transfer")
                .filter_map(|(_, to, departs)| Some((to?, departs?)))
                .collect();
            relative_records.extend(ids);
            transfers.push(ts);
        }
        match journey::family(&to_site, departs, &transfers, now) {
            Family::Waiting => {}
            Family::Together => clear(c, seq, checks, CHECK_FAMILY)?,
            Family::Separated => {
                let mut ids = vec![record_id.clone()];
                ids.extend(relative_records);
                if raise(
                    c,
                    "family_separated_in_transfer",
                    format!(
                        "a minor was transferred from {site} to {to_site} while none of their declared relatives went there within an hour"
                    ),
                    ids,
                    &event_id,
                    &site,
                )? {
                    raised += 1;
                }
                clear(c, seq, checks, CHECK_FAMILY)?;
            }
        }
    }
    Ok(raised)
}

/// Settles the arrival checks of transfers whose grace period allows it; returns the number
/// of alerts raised.
pub fn check_arrivals(reg: &Registro, c: &mut DbConn, now: NaiveDateTime) -> ApiResult<usize> {
    let grace = chrono::Duration::milliseconds(
        (reg.config.transfer_grace_hours * 3_600_000.0).round() as i64,
    );
    let mut raised = 0;
    for (seq, event_id, record_id, site, to_site, at, departs, checks) in pending(c, CHECK_ARRIVAL)?
    {
        let Some(person) = person_of(c, &record_id)? else {
            clear(c, seq, checks, CHECK_ARRIVAL)?;
            continue;
        };
        let ids = identity_records(c, &person)?;
        // By record only (see `recompute`), the check-ins at the destination kept here.
        let check_ins: Vec<(String, NaiveDateTime)> = events::table
            .filter(events::record_id.eq_any(&ids))
            .select((events::kind, events::site, events::at))
            .load::<(String, String, NaiveDateTime)>(c)?
            .into_iter()
            .filter(|(kind, site, _)| kind == "check_in" && *site == to_site)
            .map(|(_, site, at)| (site, at))
            .collect();
        match journey::arrival(at, departs, &to_site, &check_ins, grace, now) {
            Arrival::Waiting => {}
            Arrival::Arrived => clear(c, seq, checks, CHECK_ARRIVAL)?,
            Arrival::Missing => {
                let hours = reg.config.transfer_grace_hours;
                if raise(
                    c,
                    "missing_after_transfer",
                    format!(
                        "transferred from {site} to {to_site}; no check-in there within {hours} h of departure"
                    ),
                    vec![record_id.clone()],
                    &event_id,
                    &site,
                )? {
                    raised += 1;
                }
                clear(c, seq, checks, CHECK_ARRIVAL)?;
            }
        }
    }
    Ok(raised)
}

/// One pass of the journey sweep at `now`: settles every transfer check that can be settled.
/// Returns the number of alerts raised. Takes the write lock only when something is pending.
pub fn sweep(reg: &Registro, now: NaiveDateTime) -> ApiResult<usize> {
    let waiting: i64 = reg.db.read(|c| -> ApiResult<i64> {
        Ok(events::table
            .filter(events::checks.gt(0))
            .count()
            .get_result(c)?)
    })?;
    if waiting == 0 {
        return Ok(0);
    }
    reg.db.write(|c| -> ApiResult<usize> {
        Ok(check_arrivals(reg, c, now)? + check_family(reg, c, now)?)
    })
}

/// Runs the sweep at start and then at least every minute (more often for a short grace).
pub fn start_sweeper(reg: Arc<Registro>) {
    let grace_ms = (reg.config.transfer_grace_hours * 3_600_000.0) as u64;
    let every = Duration::from_millis((grace_ms / 4).clamp(1_000, 60_000));
    std::thread::Builder::new()
        .name("registro-sweep".into())
        .spawn({
            // Held weakly: the sweep ends with the registro.
            let weak = Arc::downgrade(&reg);
            move || loop {
                let Some(reg) = weak.upgrade() else { return };
                if let Err(e) = sweep(&reg, crate::db::now()) {
                    tracing::warn!(error = %e, "journey sweep failed; retrying");
                }
                drop(reg);
                std::thread::sleep(every);
            }
        })
        .ok();
}
