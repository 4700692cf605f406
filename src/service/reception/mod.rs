//! The reception flow: sites and their occupancy, events on records (check-in and out,
//! vaccination, medical referral, transfer, departure), check-in by biometrics, and the
//! journey indicators. Statistics over events live in [`stats`]; where each identity is now
//! and the journey sweep live in [`presence`].
//!
//! Every event is idempotent by its `event_id` (offline devices resend), written in one
//! transaction with its access-log entry, the identity's presence and the daily site counts.
//! Personal detail of an event (a vaccine lot, a referral's facility and urgency) is sealed;
//! what statistics need (kind, site, time, vaccine code, dose, coarse demographics copied from
//! the record) stays in clear, as on records.

pub mod presence;
pub mod stats;

use super::audit::{self, Entry};
use super::enrollment::validate_site;
use super::matching::{validate_biometrics, FingerInput};
use super::{rfc3339, Principal, Registro, Role};
use crate::db::models::RecordRow;
use crate::db::reception::{EventRow, NewEvent, SiteRow};
use crate::db::schema::{devices, event_months, events, presence as presence_t, records, sites};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::indicators::journey;
use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SITE_KINDS: [&str; 5] = ["reception", "shelter", "border_post", "transit", "other"];
pub const EVENT_TYPES: [&str; 6] = [
    "check_in",
    "check_out",
    "vaccination",
    "medical_referral",
    "transfer",
    "departure",
];
pub const VACCINES: [&str; 13] = [
    "MR",
    "MMR",
    "measles",
    "OPV",
    "IPV",
    "DTP",
    "Td",
    "BCG",
    "HepB",
    "YF",
    "COVID-19",
    "influenza",
    "other",
];
pub const URGENCIES: [&str; 3] = ["routine", "urgent", "emergency"];
pub const TRANSPORTS: [&str; 5] = ["bus", "boat", "plane", "on_foot", "other"];
/// Square metres of covered shelter space per person (Sphere standard).
pub const SPHERE_M2_PER_PERSON: f64 = 3.5;
pub const MAX_EVENT_BATCH: usize = 500;

/// `checks` bits of a transfer still being watched by the sweep.
pub const CHECK_ARRIVAL: i32 = 1;
pub const CHECK_FAMILY: i32 = 2;

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::client(code, message)
}

// ---------------------------------------------------------------------------------------
// Sites

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewSiteRequest {
    pub code: String,
    pub name: String,
    /// reception, shelter, border_post, transit or other.
    pub kind: String,
    /// ISO 3166-1 alpha-3.
    pub country: Option<String>,
    /// Places; without it, `floor(covered_area_m2 / 3.5)`.
    pub capacity: Option<i64>,
    pub covered_area_m2: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Occupancy {
    pub total: i64,
    pub adults: i64,
    pub minors: i64,
    /// People whose age is not known (counted in `total` only).
    pub unknown_age: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteView {
    pub code: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub country: Option<String>,
    /// Places; null for a site named by devices or events but never registered.
    pub capacity: Option<i64>,
    pub covered_area_m2: Option<f64>,
    pub occupancy: Occupancy,
    /// Places left (never below 0); null when the capacity is unknown.
    pub available: Option<i64>,
    /// More people present than places.
    pub over_capacity: bool,
}

fn valid_country(c: &str) -> bool {
    c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase())
}

fn printable(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

pub fn create_site(reg: &Registro, who: &Principal, req: NewSiteRequest) -> ApiResult<SiteView> {
    validate_site(&req.code)?;
    if !printable(&req.name, 200) {
        return Err(bad(
            "invalid_name",
            "name must be 1-200 printable characters",
        ));
    }
    if !SITE_KINDS.contains(&req.kind.as_str()) {
        return Err(bad(
            "invalid_site_kind",
            "kind is reception, shelter, border_post, transit or other",
        ));
    }
    if let Some(c) = &req.country {
        if !valid_country(c) {
            return Err(bad("invalid_country", "country is ISO 3166-1 alpha-3"));
        }
    }
    if req.capacity.is_some_and(|c| !(0..=10_000_000).contains(&c)) {
        return Err(bad("invalid_capacity", "capacity must be 0-10000000"));
    }
    if req
        .covered_area_m2
        .is_some_and(|a| !a.is_finite() || !(0.0..=1e8).contains(&a))
    {
        return Err(bad("invalid_capacity", "covered_area_m2 must be 0-1e8"));
    }
    let capacity = req.capacity.or_else(|| {
        req.covered_area_m2
            .map(|a| (a / SPHERE_M2_PER_PERSON).floor() as i64)
    });
    let row = SiteRow {
        code: req.code.clone(),
        name: req.name.trim().to_string(),
        kind: req.kind.clone(),
        country: req.country.clone(),
        capacity,
        covered_area_m2: req.covered_area_m2,
        created_by: who.actor.clone(),
        created_at: crate::db::now(),
    };
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        let exists: i64 = sites::table
            .filter(sites::code.eq(&row.code))
            .count()
            .get_result(c)?;
        if exists > 0 {
            return Err(bad("site_exists", "a site with this code is registered"));
        }
        diesel::insert_into(sites::table).values(&row).execute(c)?;
        audit::append(c, &keys, Entry::by(who, "site.create", None, None, 201))?;
        Ok(())
    })?;
    let mut all = list_sites(reg)?;
    all.retain(|s| s.code == row.code);
    all.pop().ok_or_else(|| ApiError::internal("site vanished"))
}

/// Every registered site, and every site named by a device or an event without being
/// registered (capacity unknown), with live occupancy.
pub fn list_sites(reg: &Registro) -> ApiResult<Vec<SiteView>> {
    reg.db.read(|c| -> ApiResult<Vec<SiteView>> {
        let registered: Vec<SiteRow> = sites::table
            .order(sites::code.asc())
            .select(SiteRow::as_select())
            .load(c)?;
        let mut named: Vec<String> = devices::table.select(devices::site).distinct().load(c)?;
        // Sites named by events, from the monthly counts (a few thousand lines) rather than
        // a scan of every event.
        named.extend(
            event_months::table
                .select(event_months::site)
                .distinct()
                .load::<String>(c)?,
        );
        named.extend(
            event_months::table
                .filter(event_months::to_site.ne(""))
                .select(event_months::to_site)
                .distinct()
                .load::<String>(c)?,
        );
        let here: Vec<(String, Option<bool>, i64)> = presence_t::table
            .group_by((presence_t::site, presence_t::is_minor))
            .select((
                presence_t::site,
                presence_t::is_minor,
                diesel::dsl::count_star(),
            ))
            .load(c)?;
        let mut occ: BTreeMap<String, Occupancy> = BTreeMap::new();
        for (site, minor, n) in here {
            let o = occ.entry(site).or_insert(Occupancy {
                total: 0,
                adults: 0,
                minors: 0,
                unknown_age: 0,
            });
            o.total += n;
            match minor {
                Some(true) => o.minors += n,
                Some(false) => o.adults += n,
                None => o.unknown_age += n,
            }
        }
        let empty = || Occupancy {
            total: 0,
            adults: 0,
            minors: 0,
            unknown_age: 0,
        };
        let mut out: BTreeMap<String, SiteView> = BTreeMap::new();
        for s in registered {
            let o = occ.remove(&s.code).unwrap_or_else(empty);
            let available = s.capacity.map(|cap| (cap - o.total).max(0));
            let over = s.capacity.is_some_and(|cap| o.total > cap);
            out.insert(
                s.code.clone(),
                SiteView {
                    code: s.code,
                    name: Some(s.name),
                    kind: Some(s.kind),
                    country: s.country,
                    capacity: s.capacity,
                    covered_area_m2: s.covered_area_m2,
                    occupancy: o,
                    available,
                    over_capacity: over,
                },
            );
        }
        named.extend(occ.keys().cloned());
        for code in named {
            if out.contains_key(&code) {
                continue;
            }
            let o = occ.remove(&code).unwrap_or_else(empty);
            out.insert(
                code.clone(),
                SiteView {
                    code,
                    name: None,
                    kind: None,
                    country: None,
                    capacity: None,
                    covered_area_m2: None,
                    occupancy: o,
                    available: None,
                    over_capacity: false,
                },
            );
        }
        Ok(out.into_values().collect())
    })
}

// ---------------------------------------------------------------------------------------
// Events

/// An event on a record, as a device or an investigator sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EventRequest {
    /// Chosen by the sender; the idempotency key.
    pub event_id: String,
    /// check_in, check_out, vaccination, medical_referral, transfer or departure.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339; default now.
    pub at: Option<String>,
    /// Default: the device's site.
    pub site: Option<String>,
    pub vaccine: Option<String>,
    pub dose: Option<i64>,
    pub lot: Option<String>,
    pub facility: Option<String>,
    pub urgency: Option<String>,
    pub to_site: Option<String>,
    pub transport: Option<String>,
    pub departs_at: Option<String>,
    pub to_country: Option<String>,
}

/// An event item of an offline batch: the event plus the record it is about.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BatchEvent {
    pub record_id: String,
    #[serde(flatten)]
    pub event: EventRequest,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventAnswer {
    pub event_id: String,
    pub record_id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// An event as investigators see it in a record's journey.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub record_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub site: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departs_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vaccine: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
}

/// The sealed part of an event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Detail {
    #[serde(skip_serializing_if = "Option::is_none")]
    lot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    urgency: Option<String>,
}

/// A validated event, ready to store.
#[derive(Debug, Clone)]
pub struct ValidEvent {
    event_id: String,
    kind: String,
    at: NaiveDateTime,
    site: String,
    to_site: Option<String>,
    departs_at: Option<NaiveDateTime>,
    transport: Option<String>,
    to_country: Option<String>,
    vaccine: Option<String>,
    dose: Option<i32>,
    detail: Option<Detail>,
}

fn parse_time(field: &str, v: &str) -> ApiResult<NaiveDateTime> {
    let t = chrono::DateTime::parse_from_rfc3339(v)
        .map_err(|_| bad("invalid_time", format!("{field} must be RFC 3339")))?
        .naive_utc();
    Ok(t.with_nanosecond(0).unwrap_or(t))
}

fn required<'a>(field: &str, v: &'a Option<String>) -> ApiResult<&'a str> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad(
                "missing_field",
                format!("{field} is required for this type"),
            )
        })
}

pub fn validate_event_id(id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(bad(
            "invalid_event_id",
            "event_id must be 1-64 characters of [A-Za-z0-9-_]",
        ));
    }
    Ok(())
}

/// The site an event happens at: a device's own site is authoritative.
fn event_site(who: &Principal, site: Option<&str>) -> ApiResult<String> {
    match (who.role, who.site.as_deref(), site) {
        (Role::Scanner, Some(own), Some(s)) if s != own => Err(bad(
            "site_mismatch",
            "a device records events at its own site only",
        )),
        (Role::Scanner, Some(own), _) => Ok(own.to_string()),
        (_, _, Some(s)) => {
            validate_site(s)?;
            Ok(s.to_string())
        }
        _ => Err(bad("missing_field", "site is required")),
    }
}

/// Checks every field before anything is written.
pub fn validate_event(who: &Principal, req: &EventRequest) -> ApiResult<ValidEvent> {
    validate_event_id(&req.event_id)?;
    if !EVENT_TYPES.contains(&req.kind.as_str()) {
        return Err(bad(
            "invalid_event_type",
            "type is check_in, check_out, vaccination, medical_referral, transfer or departure",
        ));
    }
    let now = crate::db::now();
    let at = match req.at.as_deref() {
        None | Some("") => now,
        Some(v) => parse_time("at", v)?,
    };
    if at > now + chrono::Duration::minutes(5) {
        return Err(bad(
            "bad_event_time",
            "at may not be more than 5 minutes in the future",
        ));
    }
    let site = event_site(who, req.site.as_deref())?;
    let mut v = ValidEvent {
        event_id: req.event_id.clone(),
        kind: req.kind.clone(),
        at,
        site,
        to_site: None,
        departs_at: None,
        transport: None,
        to_country: None,
        vaccine: None,
        dose: None,
        detail: None,
    };
    match req.kind.as_str() {
        "vaccination" => {
            let vaccine = required("vaccine", &req.vaccine)?;
            if !VACCINES.contains(&vaccine) {
                return Err(bad(
                    "invalid_vaccine",
                    "vaccine is not one of the fixed list",
                ));
            }
            let dose = req
                .dose
                .ok_or_else(|| bad("missing_field", "dose is required for a vaccination"))?;
            if !(1..=10).contains(&dose) {
                return Err(bad("invalid_dose", "dose must be 1-10"));
            }
            if let Some(lot) = &req.lot {
                if !printable(lot, 64) {
                    return Err(bad("invalid_lot", "lot must be 1-64 printable characters"));
                }
            }
            v.vaccine = Some(vaccine.to_string());
            v.dose = Some(dose as i32);
            v.detail = req.lot.as_ref().map(|l| Detail {
                lot: Some(l.trim().to_string()),
                ..Detail::default()
            });
        }
        "medical_referral" => {
            let facility = required("facility", &req.facility)?;
            if !printable(facility, 200) {
                return Err(bad(
                    "invalid_facility",
                    "facility must be 1-200 printable characters",
                ));
            }
            let urgency = required("urgency", &req.urgency)?;
            if !URGENCIES.contains(&urgency) {
                return Err(bad(
                    "invalid_urgency",
                    "urgency is routine, urgent or emergency",
                ));
            }
            v.detail = Some(Detail {
                lot: None,
                facility: Some(facility.to_string()),
                urgency: Some(urgency.to_string()),
            });
        }
        "transfer" => {
            let to_site = required("to_site", &req.to_site)?;
            validate_site(to_site)?;
            if to_site == v.site {
                return Err(bad(
                    "invalid_transfer",
                    "a transfer goes to another site than the one it leaves",
                ));
            }
            let transport = required("transport", &req.transport)?;
            if !TRANSPORTS.contains(&transport) {
                return Err(bad(
                    "invalid_transport",
                    "transport is bus, boat, plane, on_foot or other",
                ));
            }
            let departs = required("departs_at", &req.departs_at)?;
            v.departs_at = Some(parse_time("departs_at", departs)?);
            v.to_site = Some(to_site.to_string());
            v.transport = Some(transport.to_string());
        }
        "departure" => {
            let c = required("to_country", &req.to_country)?;
            if !valid_country(c) {
                return Err(bad("invalid_country", "to_country is ISO 3166-1 alpha-3"));
            }
            v.to_country = Some(c.to_string());
        }
        _ => {}
    }
    Ok(v)
}

/// The live record `id`, or `not_found` / `record_deleted`.
pub(crate) fn live_record(c: &mut DbConn, id: &str) -> ApiResult<RecordRow> {
    let row: Option<RecordRow> = records::table
        .filter(records::id.eq(id))
        .select(RecordRow::as_select())
        .first(c)
        .optional()?;
    match row {
        None => Err(ApiError::not_found("record")),
        Some(r) if r.deleted_at.is_some() => Err(bad("record_deleted", "the record was deleted")),
        Some(r) => Ok(r),
    }
}

/// Stores one validated event inside the caller's write transaction: the row, the identity's
/// presence and site counts, the family checks a transfer settles, and the access-log entry.
/// Returns 201 for a new event, 200 for a resent one.
pub fn store_event(
    reg: &Registro,
    c: &mut DbConn,
    who: &Principal,
    record_id: &str,
    v: &ValidEvent,
) -> ApiResult<(u16, EventAnswer)> {
    let answer = EventAnswer {
        event_id: v.event_id.clone(),
        record_id: record_id.to_string(),
        kind: v.kind.clone(),
    };
    let existing: Option<(String, String)> = events::table
        .filter(events::event_id.eq(&v.event_id))
        .select((events::record_id, events::kind))
        .first(c)
        .optional()?;
    if let Some((rid, kind)) = existing {
        if rid != record_id || kind != v.kind {
            return Err(bad(
                "event_id_conflict",
                "this event_id was already used for another event",
            ));
        }
        audit::append(
            c,
            &reg.keys(),
            Entry::by(who, "event.retry", Some(record_id.into()), None, 200),
        )?;
        return Ok((200, answer));
    }
    let rec = live_record(c, record_id)?;
    if v.kind == "check_out" {
        let here: Option<String> = presence_t::table
            .filter(presence_t::person_id.eq(&rec.person_id))
            .select(presence_t::site)
            .first(c)
            .optional()?;
        if here.as_deref() != Some(v.site.as_str()) {
            return Err(bad(
                "no_open_check_in",
                "no open check-in of this person at this site",
            ));
        }
    }
    let keys = reg.keys();
    let detail_enc = match &v.detail {
        Some(d) => {
            let json = serde_json::to_vec(d).map_err(ApiError::internal)?;
            Some(keys.seal(record_id, &detail_field(&v.event_id), &json)?)
        }
        None => None,
    };
    let mut checks = 0;
    if v.kind == "transfer" {
        checks |= CHECK_ARRIVAL;
        if rec.is_minor == Some(true) {
            checks |= CHECK_FAMILY;
        }
    }
    let now = crate::db::now();
    diesel::insert_into(events::table)
        .values(NewEvent {
            event_id: v.event_id.clone(),
            record_id: record_id.to_string(),
            kind: v.kind.clone(),
            site: v.site.clone(),
            at: v.at,
            day: v.at.format("%Y-%m-%d").to_string(),
            month: v.at.format("%Y-%m").to_string(),
            to_site: v.to_site.clone(),
            departs_at: v.departs_at,
            transport: v.transport.clone(),
            to_country: v.to_country.clone(),
            vaccine: v.vaccine.clone(),
            dose: v.dose,
            detail_enc,
            nationality: rec.nationality.clone(),
            sex: rec.sex.clone(),
            age_group: rec.age_group.clone(),
            is_minor: rec.is_minor,
            checks,
            created_by: who.actor.clone(),
            created_at: now,
        })
        .execute(c)?;
    let stored: EventRow = events::table
        .filter(events::event_id.eq(&v.event_id))
        .select(EventRow::as_select())
        .first(c)?;
    presence::count_event(c, &stored, false, 1)?;
    if journey::Move::parse(&v.kind).is_some() {
        presence::recompute(c, &rec.person_id)?;
    }
    if v.kind == "transfer" {
        // A relative's transfer can settle a minor's family check at once.
        presence::check_family(reg, c, now)?;
    }
    audit::append(
        c,
        &keys,
        Entry::by(
            who,
            &format!("event.{}", v.kind),
            Some(record_id.into()),
            None,
            201,
        ),
    )?;
    Ok((201, answer))
}

fn detail_field(event_id: &str) -> String {
    format!("event:{event_id}")
}

/// [`validate_event`] with the device's registered sites: a device registered as mobile may
/// name one of its `mobile_sites` (`service::trust`).
pub fn validate_for(reg: &Registro, who: &Principal, req: &EventRequest) -> ApiResult<ValidEvent> {
    let site = super::trust::resolve_site(reg, who, req.site.as_deref())?;
    let mut who = who.clone();
    if who.role == Role::Scanner && site.is_some() {
        who.site = site.clone();
    }
    let mut req = req.clone();
    req.site = site;
    validate_event(&who, &req)
}

/// Records one event on a record.
pub fn record_event(
    reg: &Registro,
    who: &Principal,
    record_id: &str,
    req: EventRequest,
) -> ApiResult<(u16, EventAnswer)> {
    let v = validate_for(reg, who, &req)?;
    reg.db.write(|c| store_event(reg, c, who, record_id, &v))
}

/// Up to 500 events collected offline, each independent and idempotent: one result per
/// item, with its `status_code`.
pub fn record_batch(
    reg: &Registro,
    who: &Principal,
    items: Vec<serde_json::Value>,
) -> ApiResult<Vec<serde_json::Value>> {
    if items.len() > MAX_EVENT_BATCH {
        return Err(bad("batch_too_large", "at most 500 events per batch"));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let result = serde_json::from_value::<BatchEvent>(item)
            .map_err(|_| {
                bad(
                    "invalid_json",
                    "event is malformed: a field has the wrong type or is missing",
                )
            })
            .and_then(|b| record_event(reg, who, &b.record_id, b.event));
        out.push(match result {
            Ok((status, a)) => {
                let mut v = serde_json::to_value(a).map_err(ApiError::internal)?;
                v["status_code"] = status.into();
                v
            }
            Err(e @ ApiError::Client { .. }) => {
                let status = crate::error::status_for_code(e.code()).as_u16();
                let msg = match &e {
                    ApiError::Client { message, .. } => message.clone(),
                    _ => String::new(),
                };
                let mut v = crate::error::error_body(e.code(), &msg);
                v["status_code"] = status.into();
                v
            }
            Err(e) => return Err(e),
        });
    }
    Ok(out)
}

/// Every event of every live record of identity `person_id`, oldest first, opened for an
/// investigator (the caller logs the read).
pub fn journey_of(reg: &Registro, c: &mut DbConn, person_id: &str) -> ApiResult<Vec<EventView>> {
    let ids: Vec<String> = records::table
        .filter(records::person_id.eq(person_id))
        .filter(records::deleted_at.is_null())
        .select(records::id)
        .load(c)?;
    let rows: Vec<EventRow> = events::table
        .filter(events::record_id.eq_any(&ids))
        .order((events::at.asc(), events::seq.asc()))
        .select(EventRow::as_select())
        .load(c)?;
    rows.into_iter()
        .map(|r| {
            let detail: Detail = match &r.detail_enc {
                Some(enc) => {
                    let plain = reg.open_field(&r.record_id, &detail_field(&r.event_id), enc)?;
                    serde_json::from_slice(&plain).map_err(ApiError::internal)?
                }
                None => Detail::default(),
            };
            Ok(EventView {
                event_id: r.event_id,
                record_id: r.record_id,
                kind: r.kind,
                at: rfc3339(r.at),
                site: r.site,
                to_site: r.to_site,
                departs_at: r.departs_at.map(rfc3339),
                transport: r.transport,
                to_country: r.to_country,
                vaccine: r.vaccine,
                dose: r.dose,
                lot: detail.lot,
                facility: detail.facility,
                urgency: detail.urgency,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Check-in by biometrics

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CheckinRequest {
    pub photo: Option<String>,
    #[serde(default)]
    pub fingerprints: Vec<FingerInput>,
    /// Optional idempotency key for a resent check-in; one is made when absent.
    pub event_id: Option<String>,
    /// RFC 3339; default now.
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckinAnswer {
    pub record_id: String,
    pub person_id: String,
    pub event_id: String,
    /// Vaccinations due for this person (codes such as `measles`); no biographic data.
    pub due_vaccinations: Vec<String>,
}

/// Identifies the person and records a check-in at the device's site, in one call. Without
/// a `duplicate`-level match: `404 not_enrolled`, and no event is written (the attempt is
/// logged).
pub fn checkin(reg: &Registro, who: &Principal, req: CheckinRequest) -> ApiResult<CheckinAnswer> {
    let site = who.site.clone().ok_or_else(|| {
        bad(
            "forbidden",
            "check-in by biometrics is for devices at a site",
        )
    })?;
    let event = EventRequest {
        event_id: req
            .event_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        kind: "check_in".into(),
        at: req.at.clone(),
        site: Some(site),
        vaccine: None,
        dose: None,
        lot: None,
        facility: None,
        urgency: None,
        to_site: None,
        transport: None,
        departs_at: None,
        to_country: None,
    };
    let v = validate_event(who, &event)?;
    let photo = validate_biometrics(req.photo.as_deref(), &req.fingerprints)?;
    let ex = reg.matcher.extract(photo.as_deref(), &req.fingerprints)?;
    let cands = reg.matcher.search(&ex, 30);
    let gallery = reg.matcher.len();
    let keys = reg.keys();
    let found = reg.db.write(|c| -> ApiResult<Option<CheckinAnswer>> {
        // A resent check-in answers as the first time, whatever the search says now.
        let previous: Option<String> = events::table
            .filter(events::event_id.eq(&v.event_id))
            .select(events::record_id)
            .first(c)
            .optional()?;
        let record_id = match previous {
            Some(rid) => rid,
            None => {
                let resolved = super::enrollment::resolve(reg, c, cands, gallery, None, None)?;
                match resolved.into_iter().find(|r| r.decision == "duplicate") {
                    Some(r) => r.record_id,
                    None => {
                        audit::append(c, &keys, Entry::by(who, "checkin", None, None, 404))?;
                        return Ok(None);
                    }
                }
            }
        };
        store_event(reg, c, who, &record_id, &v)?;
        let rec = live_record(c, &record_id)?;
        let due = due_for(reg, c, &rec, v.at)?;
        Ok(Some(CheckinAnswer {
            record_id,
            person_id: rec.person_id,
            event_id: v.event_id.clone(),
            due_vaccinations: due.into_iter().map(str::to_string).collect(),
        }))
    })?;
    found.ok_or_else(|| {
        ApiError::client(
            "not_enrolled",
            "no enrolled person matches this capture with confidence",
        )
    })
}

/// Vaccinations due for the identity of `rec` on `at`: its age from the first declared date
/// of birth among its records (else the estimate declared at registration, aged since), and
/// every dose recorded on any of its records.
fn due_for(
    reg: &Registro,
    c: &mut DbConn,
    rec: &RecordRow,
    at: NaiveDateTime,
) -> ApiResult<Vec<&'static str>> {
    let same: Vec<RecordRow> = records::table
        .filter(records::person_id.eq(&rec.person_id))
        .filter(records::deleted_at.is_null())
        .order(records::captured_at.asc())
        .select(RecordRow::as_select())
        .load(c)?;
    let mut months = None;
    for r in &same {
        let p = super::records::open_person(reg, r)?.person;
        let dob = p
            .date_of_birth
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if let Some(dob) = dob {
            months = Some(journey::months_between(dob, at.date()));
            break;
        }
        if months.is_none() {
            if let Some(est) = p.age_estimate {
                let since = journey::months_between(r.captured_at.date(), at.date()).max(0);
                months = Some(est * 12 + since);
            }
        }
    }
    let ids: Vec<String> = same.iter().map(|r| r.id.clone()).collect();
    let vaccines: Vec<String> = events::table
        .filter(events::record_id.eq_any(&ids))
        .filter(events::kind.eq("vaccination"))
        .select(events::vaccine.assume_not_null())
        .load(c)?;
    Ok(journey::due_vaccinations(months, &vaccines))
}
