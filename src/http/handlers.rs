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
use crate::service::{auth, cases, enrollment, identify, records, stats, Page, Registro};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type State = web::Data<Arc<Registro>>;

/// Runs blocking service work on actix's blocking pool.
async fn blocking<T: Send + 'static>(
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
#[post("/api/v1/auth/login")]
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
    pub password: String,
    pub role: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewUserResponse {
    pub user_id: String,
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = NewUserResponse)), security(("bearer" = [])))]
#[post("/api/v1/users")]
pub async fn create_user(
    reg: State,
    who: Auth<Admins, web::Json<NewUserRequest>>,
) -> ApiResult<HttpResponse> {
    let b = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let id = blocking(move || {
        auth::create_user(&reg, &who.principal, &b.username, &b.password, &b.role)
    })
    .await?;
    Ok(HttpResponse::Created().json(NewUserResponse { user_id: id }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewDeviceRequest {
    pub name: String,
    pub site: String,
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
    let dev = blocking(move || auth::create_device(&reg, &who.principal, &b.name, &b.site)).await?;
    Ok(HttpResponse::Created().json(dev))
}

/// Enroll a capture: 201 for a new record, 200 with the first answer for a retried capture_id.
#[utoipa::path(post, path = "/api/v1/enrollments", tag = "enrollment", request_body = EnrollmentRequest,
    responses((status = 201, body = EnrollmentResponse), (status = 200, body = EnrollmentResponse, description = "retry of an enrolled capture_id"),
              (status = 422, description = "bad photo, template or field")), security(("bearer" = [])))]
#[post("/api/v1/enrollments")]
pub async fn enroll(
    reg: State,
    who: Auth<Capture, web::Json<EnrollmentRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    match blocking(move || enrollment::enroll(&reg, &who.principal, body)).await? {
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
    let results = blocking(move || identify::batch(&reg, &who.principal, items)).await?;
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

/// 1:N identification against every enrolled record; nothing is stored.
#[utoipa::path(post, path = "/api/v1/identify", tag = "enrollment", request_body = IdentifyRequest,
    responses((status = 200, body = IdentifyResponse)), security(("bearer" = [])))]
#[post("/api/v1/identify")]
pub async fn identify_route(
    reg: State,
    who: Auth<Capture, web::Json<IdentifyRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    let r = blocking(move || identify::identify(&reg, &who.principal, body)).await?;
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

/// Exact-match search of records (investigator).
#[utoipa::path(get, path = "/api/v1/records", tag = "records", params(SearchQuery),
    responses((status = 200, body = RecordPage)), security(("bearer" = [])))]
#[get("/api/v1/records")]
pub async fn search_records(
    reg: State,
    who: Auth<Investigators, web::Query<SearchQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let purpose = purpose(&req);
    let reg = reg.get_ref().clone();
    let page: Page<RecordSummary> =
        blocking(move || records::search(&reg, &who.principal, &q, purpose.as_deref())).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeleteRequest {
    pub reason: String,
}

/// Delete a record (admin, with a reason): personal and biometric data erased, removed from
/// every gallery.
#[utoipa::path(post, path = "/api/v1/records/{record_id}/delete", tag = "records", request_body = DeleteRequest,
    params(("record_id" = String, Path)), responses((status = 200, description = "deleted")), security(("bearer" = [])))]
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
    let rid2 = rid.clone();
    blocking(move || records::delete(&reg, &who.principal, &rid, &reason)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"record_id": rid2, "status": "deleted"})))
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

/// Verify the access log's hash chain (auditor).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification)), security(("bearer" = [])))]
#[get("/api/v1/audit/verify")]
pub async fn verify_audit(reg: State, who: Auth<Auditors>) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let v = blocking(move || cases::verify_audit(&reg, &who.principal)).await?;
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
    let db_ok = web::block({
        let reg = reg.clone();
        move || reg.db.ping()
    })
    .await
    .unwrap_or(false);
    let ready = db_ok && reg.is_ready();
    let body = serde_json::json!({"ready": ready, "database": db_ok, "gallery_loaded": reg.is_ready(), "gallery_records": reg.matcher.len()});
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
        .body(reg.metrics.render(reg.matcher.len()))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/api/v1/openapi.json")]
pub async fn openapi_doc() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}
