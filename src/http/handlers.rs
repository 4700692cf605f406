//! Route handlers: parse, authorise (in the signature), call one service function off the
//! actix threads, turn the result into a view. No diesel, no rayon here.

use super::guard::{remote_addr, Admins, Auditors, Auth, Capture, Investigators, StatsReaders};
use crate::error::{ApiError, ApiResult};
use crate::service::audit::Verification;
use crate::service::auth::{LoginOk, NewDevice};
use crate::service::cases::{AlertQuery, AlertView, AuditQuery, AuditView, CaseView};
use crate::service::enrollment::{Enrolled, EnrollmentRequest, EnrollmentResponse};
use crate::service::identify::{IdentifyRequest, IdentifyResponse};
use crate::service::records::{RecordSummary, RecordView, SearchQuery};
use crate::service::stats::FlowMatrix;
use crate::service::{
    admission, auth, cases, credentials, enrollment, identify, records, stats, Page, Registro,
};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type State = web::Data<Arc<Registro>>;

/// Runs blocking service work on actix's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("blocking task: {e}")))?
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Log in with a username and password; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginOk), (status = 401, description = "wrong credentials"), (status = 429, description = "too many failed logins")))]
pub async fn login(
    reg: State,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let remote = remote_addr(&req);
    let body = body.into_inner();
    let reg = reg.get_ref().clone();
    let ok = blocking(move || auth::login(&reg, &body.username, &body.password, &remote)).await?;
    Ok(HttpResponse::Ok().json(ok))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUserRequest {
    pub username: String,
    /// Optional: an admin-set password must be changed at first login. Without it the answer
    /// carries a one-time `reset_token` for the user to set their own.
    #[serde(default)]
    pub password: Option<String>,
    pub role: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewUserResponse {
    pub user_id: String,
    pub reset_token: Option<String>,
}

/// Create a user (admin). Once two admins exist, creating an `admin` answers `202
/// {approval_id}` for a second admin to approve.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = NewUserResponse), (status = 202, body = crate::http::credentials::ApprovalPending),
              (status = 422, description = "weak_password, invalid_username, invalid_role")), security(("bearer" = [])))]
#[post("/api/v1/users")]
pub async fn create_user(
    reg: State,
    who: Auth<Admins, web::Json<NewUserRequest>>,
) -> ApiResult<HttpResponse> {
    let b = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let created = blocking(move || {
        credentials::create_user(
            &reg,
            &who.principal,
            &b.username,
            b.password.as_deref(),
            &b.role,
        )
    })
    .await?;
    Ok(crate::http::credentials::created_or_pending(created))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewDeviceRequest {
    pub name: String,
    pub site: String,
    /// Other sites this (mobile) device may name in its requests.
    #[serde(default)]
    pub mobile_sites: Vec<String>,
}

/// Register a scanner device (admin); its API key is shown once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "admin", request_body = NewDeviceRequest,
    responses((status = 201, body = NewDevice)), security(("bearer" = [])))]
#[post("/api/v1/devices")]
pub async fn create_device(
    reg: State,
    who: Auth<Admins, web::Json<NewDeviceRequest>>,
) -> ApiResult<HttpResponse> {
    let b = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let dev = blocking(move || {
        auth::create_device_with(&reg, &who.principal, &b.name, &b.site, &b.mobile_sites)
    })
    .await?;
    Ok(HttpResponse::Created().json(dev))
}

/// Enroll a capture: 201 for a new record, 200 with the first answer for a retried capture_id.
#[utoipa::path(post, path = "/api/v1/enrollments", tag = "enrollment", request_body = EnrollmentRequest,
    responses((status = 201, body = EnrollmentResponse), (status = 200, body = EnrollmentResponse, description = "retry of an enrolled capture_id"),
              (status = 422, description = "bad photo, template or field; capture checks: multiple_faces, duplicate_finger, low_quality")), security(("bearer" = [])))]
#[post("/api/v1/enrollments")]
pub async fn enroll(
    reg: State,
    who: Auth<Capture, web::Json<EnrollmentRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    let units = admission::units(body.photo.is_some() as usize, body.fingerprints.len());
    let ticket = reg.admission.admit(units).await?;
    match blocking(move || {
        let _ticket = ticket;
        enrollment::enroll(&reg, &who.principal, body)
    })
    .await?
    {
        Enrolled::Created(r) => Ok(HttpResponse::Created().json(r)),
        Enrolled::Replayed(v) => Ok(HttpResponse::Ok().json(v)),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BatchRequest {
    #[schema(value_type = Vec<EnrollmentRequest>)]
    pub enrollments: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<serde_json::Value>,
}

/// Enroll up to 100 captures collected offline; one result per item, in order.
#[utoipa::path(post, path = "/api/v1/enrollments/batch", tag = "enrollment", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
pub async fn enroll_batch(
    reg: State,
    who: Auth<Capture, web::Json<BatchRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let items = who.inner.into_inner().enrollments;
    let ticket = reg.admission.admit(admission::batch_units(&items)).await?;
    let results = blocking(move || {
        let _ticket = ticket;
        identify::batch(&reg, &who.principal, items)
    })
    .await?;
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

/// 1:N identification against every enrolled record; nothing is stored.
#[utoipa::path(post, path = "/api/v1/identify", tag = "enrollment", request_body = IdentifyRequest,
    responses((status = 200, body = IdentifyResponse),
              (status = 422, description = "bad photo or template; capture checks: multiple_faces, duplicate_finger, low_quality")), security(("bearer" = [])))]
#[post("/api/v1/identify")]
pub async fn identify_route(
    reg: State,
    who: Auth<Capture, web::Json<IdentifyRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    let units = admission::units(body.photo.is_some() as usize, body.fingerprints.len());
    let ticket = reg.admission.admit(units).await?;
    let r = blocking(move || {
        let _ticket = ticket;
        identify::identify(&reg, &who.principal, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

fn purpose(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("x-purpose")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Read one record (investigator); requires `X-Purpose`.
#[utoipa::path(get, path = "/api/v1/records/{record_id}", tag = "records",
    params(("record_id" = String, Path), ("X-Purpose" = String, Header, description = "why the record is read")),
    responses((status = 200, body = RecordView), (status = 400, description = "purpose missing")), security(("bearer" = [])))]
#[get("/api/v1/records/{record_id}")]
pub async fn get_record(
    reg: State,
    who: Auth<Investigators, web::Path<String>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = who.inner.into_inner();
    let purpose = purpose(&req)
        .ok_or_else(|| ApiError::client("purpose_required", "the X-Purpose header is required"))?;
    let reg = reg.get_ref().clone();
    let v = blocking(move || records::get(&reg, &who.principal, &id, &purpose)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub items: Vec<RecordSummary>,
    pub next_cursor: Option<String>,
}

/// Exact-match search of records (investigator); requires `X-Purpose`, at most 100 per page.
#[utoipa::path(get, path = "/api/v1/records", tag = "records",
    params(SearchQuery, ("X-Purpose" = String, Header, description = "why the search is made")),
    responses((status = 200, body = RecordPage), (status = 400, description = "purpose missing")), security(("bearer" = [])))]
#[get("/api/v1/records")]
pub async fn search_records(
    reg: State,
    who: Auth<Investigators, web::Query<SearchQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let purpose = purpose(&req)
        .ok_or_else(|| ApiError::client("purpose_required", "the X-Purpose header is required"))?;
    let reg = reg.get_ref().clone();
    let page: Page<RecordSummary> =
        blocking(move || records::search(&reg, &who.principal, &q, &purpose)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeleteRequest {
    pub reason: String,
}

/// Delete a record (admin, with a reason): personal and biometric data erased, removed from
/// every gallery.
#[utoipa::path(post, path = "/api/v1/records/{record_id}/delete", tag = "records", request_body = DeleteRequest,
    params(("record_id" = String, Path)), responses((status = 200, description = "deleted"),
        (status = 202, body = crate::http::credentials::ApprovalPending, description = "two admins exist: a second one approves")), security(("bearer" = [])))]
#[post("/api/v1/records/{record_id}/delete")]
pub async fn delete_record(
    reg: State,
    id: web::Path<String>,
    who: Auth<Admins, web::Json<DeleteRequest>>,
) -> ApiResult<HttpResponse> {
    // `Path<String>` cannot fail, so authorisation still answers first.
    let reg = reg.get_ref().clone();
    let reason = who.inner.into_inner().reason;
    let rid = id.into_inner();
    let done =
        blocking(move || credentials::delete_record(&reg, &who.principal, &rid, &reason)).await?;
    Ok(match done {
        credentials::Created::Done(d) => HttpResponse::Ok().json(d),
        credentials::Created::Pending { approval_id } => {
            HttpResponse::Accepted().json(serde_json::json!({ "approval_id": approval_id }))
        }
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CaseQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CasePage {
    pub items: Vec<CaseView>,
    pub next_cursor: Option<String>,
}

/// List match cases (investigator).
#[utoipa::path(get, path = "/api/v1/matches", tag = "matches", params(CaseQuery),
    responses((status = 200, body = CasePage)), security(("bearer" = [])))]
#[get("/api/v1/matches")]
pub async fn list_matches(
    reg: State,
    who: Auth<Investigators, web::Query<CaseQuery>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let q = who.inner.into_inner();
    let page = blocking(move || {
        cases::list_cases(
            &reg,
            &who.principal,
            q.status.as_deref(),
            q.cursor.as_deref(),
            q.limit,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

/// Decide a match case (investigator): `same_person` links the records into one identity.
#[utoipa::path(post, path = "/api/v1/matches/{case_id}/decision", tag = "matches", request_body = DecisionRequest,
    params(("case_id" = String, Path)), responses((status = 200, body = CaseView)), security(("bearer" = [])))]
#[post("/api/v1/matches/{case_id}/decision")]
pub async fn decide_match(
    reg: State,
    id: web::Path<String>,
    who: Auth<Investigators, web::Json<DecisionRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let b = who.inner.into_inner();
    let v =
        blocking(move || cases::decide(&reg, &who.principal, &id, &b.decision, &b.note)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    pub items: Vec<AlertView>,
    pub next_cursor: Option<String>,
}

/// Trafficking and smuggling alerts (investigator).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertPage)), security(("bearer" = [])))]
#[get("/api/v1/alerts")]
pub async fn list_alerts(
    reg: State,
    who: Auth<Investigators, web::Query<AlertQuery>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let q = who.inner.into_inner();
    let page = blocking(move || cases::list_alerts(&reg, &who.principal, &q)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

/// The access log (auditor).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)), security(("bearer" = [])))]
#[get("/api/v1/audit")]
pub async fn list_audit(
    reg: State,
    who: Auth<Auditors, web::Query<AuditQuery>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let q = who.inner.into_inner();
    let page = blocking(move || cases::list_audit(&reg, &who.principal, &q)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    /// With `hash`: a checkpoint to check (entry `seq` must still have `hash`).
    pub seq: Option<i64>,
    pub hash: Option<String>,
}

/// Verify the access log's hash chain (auditor), and optionally a kept checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(VerifyQuery),
    responses((status = 200, body = Verification)), security(("bearer" = [])))]
#[get("/api/v1/audit/verify")]
pub async fn verify_audit(
    reg: State,
    who: Auth<Auditors, web::Query<VerifyQuery>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let q = who.inner.into_inner();
    let checkpoint = match (q.seq, q.hash) {
        (None, None) => None,
        (Some(seq), Some(hash)) if seq >= 1 => Some((seq, hash)),
        _ => {
            return Err(ApiError::client(
                "invalid_query",
                "seq (at least 1) and hash go together",
            ))
        }
    };
    let v = blocking(move || {
        cases::verify_audit(
            &reg,
            &who.principal,
            checkpoint.as_ref().map(|(s, h)| (*s, h.as_str())),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FlowQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Comma-separated: nationality, month, sex, age_group, site.
    pub by: Option<String>,
    /// Admins may ask `false` to see small cells.
    pub suppress: Option<bool>,
    /// What is counted: `registrations` (default), `arrivals`, `transfers` or `departures`.
    pub kind: Option<String>,
}

/// Flow matrix of registrations (auditor, admin); `Accept: text/csv` for CSV.
#[utoipa::path(get, path = "/api/v1/stats/flows", tag = "stats", params(FlowQuery),
    responses((status = 200, body = FlowMatrix)), security(("bearer" = [])))]
#[get("/api/v1/stats/flows")]
pub async fn flows(
    reg: State,
    who: Auth<StatsReaders, web::Query<FlowQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let csv = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let reg2 = reg.get_ref().clone();
    let m = blocking(move || match q.kind.as_deref() {
        Some(kind) if kind != "registrations" => crate::service::reception::stats::flows(
            &reg2,
            &who.principal,
            kind,
            q.from.as_deref(),
            q.to.as_deref(),
            q.by.as_deref(),
            q.suppress,
        ),
        _ => stats::flows(
            &reg2,
            &who.principal,
            q.from.as_deref(),
            q.to.as_deref(),
            q.by.as_deref(),
            q.suppress,
        ),
    })
    .await?;
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(stats::to_csv(&m)))
    } else {
        Ok(HttpResponse::Ok().json(m))
    }
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the store answers and the galleries are loaded.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
#[get("/readyz")]
pub async fn readyz(reg: State) -> HttpResponse {
    let reg = reg.get_ref().clone();
    let (db_ok, full) = web::block({
        let reg = reg.clone();
        move || {
            let ok = reg.db.ping();
            (ok, ok && reg.db.storage_full())
        }
    })
    .await
    .unwrap_or((false, false));
    let ready = db_ok && !full && reg.is_ready();
    let storage = if full { "full" } else { "ok" };
    let body = serde_json::json!({"ready": ready, "database": db_ok, "storage": storage, "gallery_loaded": reg.is_ready(), "gallery_records": reg.matcher.len()});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(reg: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(reg.metrics.render(reg.matcher.len()) + &admission::render_metrics(&reg.admission))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/api/v1/openapi.json")]
pub async fn openapi_doc() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}
