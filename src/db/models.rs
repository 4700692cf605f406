//! Row types: what the database holds, nothing more. No logic, never serialised to clients.

use super::schema::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub site: String,
    pub key_hash: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub token_hash: String,
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = records)]
pub struct RecordRow {
    pub seq: i64,
    pub id: String,
    pub capture_id: String,
    pub person_id: String,
    pub site: String,
    pub device_id: Option<String>,
    pub enrolled_by: String,
    pub captured_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub sex: Option<String>,
    pub nationality: Option<String>,
    pub age_group: String,
    pub is_minor: Option<bool>,
    pub doc_index: Option<String>,
    pub phone_index: Option<String>,
    pub family_index: Option<String>,
    pub person_enc: Vec<u8>,
    pub biometrics_enc: Vec<u8>,
    pub response_json: String,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = records)]
pub struct NewRecord {
    pub id: String,
    pub capture_id: String,
    pub person_id: String,
    pub site: String,
    pub device_id: Option<String>,
    pub enrolled_by: String,
    pub captured_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub sex: Option<String>,
    pub nationality: Option<String>,
    pub age_group: String,
    pub is_minor: Option<bool>,
    pub doc_index: Option<String>,
    pub phone_index: Option<String>,
    pub family_index: Option<String>,
    pub person_enc: Vec<u8>,
    pub biometrics_enc: Vec<u8>,
    pub response_json: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companions)]
pub struct CompanionRow {
    pub seq: i64,
    pub record_id: String,
    pub companion_capture_id: String,
    pub relationship: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = companions)]
pub struct NewCompanion {
    pub record_id: String,
    pub companion_capture_id: String,
    pub relationship: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub seq: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub record_id: Option<String>,
    pub purpose: Option<String>,
    pub status: i32,
    pub outcome: String,
    pub remote_addr: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = match_cases)]
pub struct MatchCaseRow {
    pub seq: i64,
    pub id: String,
    pub record_a: String,
    pub record_b: String,
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    pub status: String,
    pub note_enc: Option<Vec<u8>>,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = match_cases)]
pub struct NewMatchCase {
    pub id: String,
    pub record_a: String,
    pub record_b: String,
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub seq: i64,
    pub id: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub record_ids: String,
    pub evidence_key: String,
    pub site: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alerts)]
pub struct NewAlert {
    pub id: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub record_ids: String,
    pub evidence_key: String,
    pub site: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub seq: i64,
    pub record_id: String,
    pub kind: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes)]
pub struct NewChange {
    pub record_id: String,
    pub kind: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alert_links)]
pub struct NewAlertLink {
    pub alert_id: String,
    pub case_id: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alert_withdrawals)]
pub struct NewAlertWithdrawal {
    pub alert_id: String,
    pub case_id: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = evidence)]
pub struct EvidenceRow {
    pub record_id: String,
    pub field: String,
    pub data: Vec<u8>,
    pub created_at: chrono::NaiveDateTime,
}
