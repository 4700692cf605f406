//! Routes of the reception flow: sites, events, check-in by biometrics, and its statistics.

use super::guard::{Admins, Anyone, Auth, Capture, Scanners, StatsReaders};
use crate::error::{ApiError, ApiResult};
use crate::service::reception::stats::{self as rstats, SiteDays};
use crate::service::reception::{
    self, BatchEvent, CheckinAnswer, CheckinRequest, EventAnswer, EventRequest, NewSiteRequest,
    SiteView,
};
use crate::service::stats::{to_csv, FlowMatrix};
use crate::service::Registro;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type State = web::Data<Arc<Registro>>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("blocking task: {e}")))?
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

fn csv(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body)
}

/// Register a site (admin).
#[utoipa::path(post, path = "/api/v1/sites", tag = "reception", request_body = NewSiteRequest,
    responses((status = 201, body = SiteView), (status = 409, description = "site_exists"), (status = 422, description = "invalid field")),
    security(("bearer" = [])))]
#[post("/api/v1/sites")]
pub async fn create_site(
    reg: State,
    who: Auth<Admins, web::Json<NewSiteRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    let v = blocking(move || reception::create_site(&reg, &who.principal, body)).await?;
    Ok(HttpResponse::Created().json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SitePage {
    pub items: Vec<SiteView>,
    pub next_cursor: Option<String>,
}

/// Every site with its capacity and live occupancy (any role).
#[utoipa::path(get, path = "/api/v1/sites", tag = "reception",
    responses((status = 200, body = SitePage)), security(("bearer" = [])))]
#[get("/api/v1/sites")]
pub async fn list_sites(reg: State, _who: Auth<Anyone>) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let items = blocking(move || reception::list_sites(&reg)).await?;
    Ok(HttpResponse::Ok().json(SitePage {
        items,
        next_cursor: None,
    }))
}

/// Record an event on a record (a device at its site, or an investigator); idempotent by
/// `event_id`.
#[utoipa::path(post, path = "/api/v1/records/{record_id}/events", tag = "reception",
    params(("record_id" = String, Path)), request_body = EventRequest,
    responses((status = 201, body = EventAnswer), (status = 200, body = EventAnswer, description = "a resent event_id"),
              (status = 404, description = "no such record"), (status = 410, description = "record_deleted"),
              (status = 409, description = "event_id_conflict"), (status = 422, description = "invalid event")),
    security(("bearer" = [])))]
#[post("/api/v1/records/{record_id}/events")]
pub async fn record_event(
    reg: State,
    path: web::Path<String>,
    who: Auth<Capture, web::Json<EventRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let (id, body) = (path.into_inner(), who.inner.into_inner());
    let (status, a) =
        blocking(move || reception::record_event(&reg, &who.principal, &id, body)).await?;
    Ok(if status == 201 {
        HttpResponse::Created().json(a)
    } else {
        HttpResponse::Ok().json(a)
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EventBatchRequest {
    #[schema(value_type = Vec<BatchEvent>)]
    pub events: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventBatchResponse {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<serde_json::Value>,
}

/// Up to 500 events collected offline; one result per item, in order, with `status_code`.
#[utoipa::path(post, path = "/api/v1/events/batch", tag = "reception", request_body = EventBatchRequest,
    responses((status = 200, body = EventBatchResponse)), security(("bearer" = [])))]
#[post("/api/v1/events/batch")]
pub async fn event_batch(
    reg: State,
    who: Auth<Capture, web::Json<EventBatchRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let items = who.inner.into_inner().events;
    let results = blocking(move || reception::record_batch(&reg, &who.principal, items)).await?;
    Ok(HttpResponse::Ok().json(EventBatchResponse { results }))
}

/// Identify a person by biometrics and check them in at the device's site, in one call.
#[utoipa::path(post, path = "/api/v1/checkin", tag = "reception", request_body = CheckinRequest,
    responses((status = 200, body = CheckinAnswer), (status = 404, description = "not_enrolled: no confident match; nothing written")),
    security(("bearer" = [])))]
#[post("/api/v1/checkin")]
pub async fn checkin(
    reg: State,
    who: Auth<Scanners, web::Json<CheckinRequest>>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let body = who.inner.into_inner();
    // Biometric work: admitted through the engine's bounded queue like identify.
    let units =
        crate::service::admission::units(body.photo.is_some() as usize, body.fingerprints.len());
    let ticket = reg.admission.admit(units).await?;
    let a = blocking(move || {
        let _ticket = ticket;
        reception::checkin(&reg, &who.principal, body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(a))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WindowQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Admins may ask `false` to see small cells.
    pub suppress: Option<bool>,
}

/// Arrivals, departures and end-of-day occupancy per site and day (auditor, admin).
#[utoipa::path(get, path = "/api/v1/stats/sites", tag = "stats", params(WindowQuery),
    responses((status = 200, body = SiteDays)), security(("bearer" = [])))]
#[get("/api/v1/stats/sites")]
pub async fn site_stats(
    reg: State,
    who: Auth<StatsReaders, web::Query<WindowQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let s = blocking(move || {
        rstats::sites(
            &reg,
            &who.principal,
            q.from.as_deref(),
            q.to.as_deref(),
            q.suppress,
        )
    })
    .await?;
    Ok(json_or_csv(&req, &s, rstats::sites_csv))
}

/// Transfers as an origin × destination matrix (auditor, admin).
#[utoipa::path(get, path = "/api/v1/stats/transfers", tag = "stats", params(WindowQuery),
    responses((status = 200, body = FlowMatrix)), security(("bearer" = [])))]
#[get("/api/v1/stats/transfers")]
pub async fn transfer_stats(
    reg: State,
    who: Auth<StatsReaders, web::Query<WindowQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let m = blocking(move || {
        rstats::transfers(
            &reg,
            &who.principal,
            q.from.as_deref(),
            q.to.as_deref(),
            q.suppress,
        )
    })
    .await?;
    Ok(json_or_csv(&req, &m, to_csv))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VaccinationQuery {
    /// Comma-separated: vaccine, dose, age_group, site.
    pub by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub suppress: Option<bool>,
}

/// Vaccinations by vaccine, dose, age group and site (auditor, admin).
#[utoipa::path(get, path = "/api/v1/stats/vaccinations", tag = "stats", params(VaccinationQuery),
    responses((status = 200, body = FlowMatrix)), security(("bearer" = [])))]
#[get("/api/v1/stats/vaccinations")]
pub async fn vaccination_stats(
    reg: State,
    who: Auth<StatsReaders, web::Query<VaccinationQuery>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let m = blocking(move || {
        rstats::vaccinations(
            &reg,
            &who.principal,
            q.by.as_deref(),
            q.from.as_deref(),
            q.to.as_deref(),
            q.suppress,
        )
    })
    .await?;
    Ok(json_or_csv(&req, &m, to_csv))
}

/// A statistics answer as JSON, or as CSV when the client asks `Accept: text/csv`.
fn json_or_csv<T: serde::Serialize>(
    req: &HttpRequest,
    v: &T,
    to_csv: impl Fn(&T) -> String,
) -> HttpResponse {
    if wants_csv(req) {
        csv(to_csv(v))
    } else {
        HttpResponse::Ok().json(v)
    }
}

/// The reception routes, registered by [`super::configure`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_site)
        .service(list_sites)
        .service(record_event)
        .service(event_batch)
        .service(checkin)
        .service(site_stats)
        .service(transfer_stats)
        .service(vaccination_stats);
}

/// The reception routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_site,
    list_sites,
    record_event,
    event_batch,
    checkin,
    site_stats,
    transfer_stats,
    vaccination_stats
))]
pub struct ReceptionDoc;
