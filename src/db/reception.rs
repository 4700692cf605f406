//! Rows of the reception flow: sites, events, where each identity is now, daily site counts.

use super::schema::{event_months, events, presence, site_days, sites};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub country: Option<String>,
    pub capacity: Option<i64>,
    pub covered_area_m2: Option<f64>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub seq: i64,
    pub event_id: String,
    pub record_id: String,
    pub kind: String,
    pub site: String,
    pub at: NaiveDateTime,
    pub day: String,
    pub month: String,
    pub to_site: Option<String>,
    pub departs_at: Option<NaiveDateTime>,
    pub transport: Option<String>,
    pub to_country: Option<String>,
    pub vaccine: Option<String>,
    pub dose: Option<i32>,
    pub detail_enc: Option<Vec<u8>>,
    pub nationality: Option<String>,
    pub sex: Option<String>,
    pub age_group: String,
    pub is_minor: Option<bool>,
    pub entered_site: Option<String>,
    pub left_site: Option<String>,
    pub checks: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub event_id: String,
    pub record_id: String,
    pub kind: String,
    pub site: String,
    pub at: NaiveDateTime,
    pub day: String,
    pub month: String,
    pub to_site: Option<String>,
    pub departs_at: Option<NaiveDateTime>,
    pub transport: Option<String>,
    pub to_country: Option<String>,
    pub vaccine: Option<String>,
    pub dose: Option<i32>,
    pub detail_enc: Option<Vec<u8>>,
    pub nationality: Option<String>,
    pub sex: Option<String>,
    pub age_group: String,
    pub is_minor: Option<bool>,
    pub checks: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = presence)]
pub struct PresenceRow {
    pub person_id: String,
    pub record_id: String,
    pub site: String,
    pub is_minor: Option<bool>,
    pub since: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = site_days)]
pub struct NewSiteDay {
    pub site: String,
    pub day: String,
    pub arrivals: i64,
    pub departures: i64,
}

/// One line of `event_months`: how many events of one month share every statistics
/// dimension. Absent values are `""` (dose `0`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_months)]
pub struct EventMonth {
    pub month: String,
    pub kind: String,
    pub site: String,
    pub to_site: String,
    pub vaccine: String,
    pub dose: i32,
    pub nationality: String,
    pub sex: String,
    pub age_group: String,
    pub arrival: bool,
    pub n: i64,
}

impl EventMonth {
    /// The line event `e` counts in, with `n` = `delta`.
    pub fn of(e: &EventRow, arrival: bool, delta: i64) -> EventMonth {
        EventMonth {
            month: e.month.clone(),
            kind: e.kind.clone(),
            site: e.site.clone(),
            to_site: e.to_site.clone().unwrap_or_default(),
            vaccine: e.vaccine.clone().unwrap_or_default(),
            dose: e.dose.unwrap_or(0),
            nationality: e.nationality.clone().unwrap_or_default(),
            sex: e.sex.clone().unwrap_or_default(),
            age_group: e.age_group.clone(),
            arrival,
            n: delta,
        }
    }
}
