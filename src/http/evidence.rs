//! Evidence routes (API.md v1.1, *Evidence*): investigator only, `X-Purpose` required, each
//! call an access-log entry.

use super::guard::{Auth, Investigators};
use crate::error::{ApiError, ApiResult};
use crate::service::case_evidence::{self as evidence, CaseEvidence};
use crate::service::Registro;
use actix_web::{get, web, HttpRequest, HttpResponse};
use std::sync::Arc;

type State = web::Data<Arc<Registro>>;

fn purpose(req: &HttpRequest) -> ApiResult<String> {
    req.headers()
        .get("x-purpose")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::client("purpose_required", "the X-Purpose header is required"))
}

async fn image(
    reg: State,
    who: Auth<Investigators, web::Path<String>>,
    req: HttpRequest,
    field: &'static str,
) -> ApiResult<HttpResponse> {
    let id = who.inner.into_inner();
    let purpose = purpose(&req)?;
    let reg = reg.get_ref().clone();
    let jpeg = web::block(move || evidence::image(&reg, &who.principal, &id, field, &purpose))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("Cache-Control", "no-store"))
        .body(jpeg))
}

/// The record's kept photo (investigator; `X-Purpose`); `404 no_photo` when none.
#[utoipa::path(get, path = "/api/v1/records/{record_id}/photo", tag = "evidence",
    params(("record_id" = String, Path), ("X-Purpose" = String, Header, description = "why the photo is viewed")),
    responses((status = 200, content_type = "image/jpeg", description = "the photo, at most 640 px, no metadata"),
              (status = 404, description = "no_photo or not_found")), security(("bearer" = [])))]
#[get("/api/v1/records/{record_id}/photo")]
pub async fn record_photo(
    reg: State,
    who: Auth<Investigators, web::Path<String>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    image(reg, who, req, evidence::PHOTO).await
}

/// The record's aligned face crop (investigator; `X-Purpose`); `404 no_photo` when none.
#[utoipa::path(get, path = "/api/v1/records/{record_id}/face", tag = "evidence",
    params(("record_id" = String, Path), ("X-Purpose" = String, Header, description = "why the crop is viewed")),
    responses((status = 200, content_type = "image/jpeg", description = "150x150 aligned face crop"),
              (status = 404, description = "no_photo or not_found")), security(("bearer" = [])))]
#[get("/api/v1/records/{record_id}/face")]
pub async fn record_face(
    reg: State,
    who: Auth<Investigators, web::Path<String>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    image(reg, who, req, evidence::FACE).await
}

/// Everything behind a match case's score (investigator; `X-Purpose`).
#[utoipa::path(get, path = "/api/v1/matches/{case_id}/evidence", tag = "evidence",
    params(("case_id" = String, Path), ("X-Purpose" = String, Header, description = "why the case is reviewed")),
    responses((status = 200, body = CaseEvidence), (status = 404, description = "no such case")), security(("bearer" = [])))]
#[get("/api/v1/matches/{case_id}/evidence")]
pub async fn case_evidence(
    reg: State,
    who: Auth<Investigators, web::Path<String>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = who.inner.into_inner();
    let purpose = purpose(&req)?;
    let reg = reg.get_ref().clone();
    let ev = web::block(move || evidence::case_evidence(&reg, &who.principal, &id, &purpose))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(ev))
}
