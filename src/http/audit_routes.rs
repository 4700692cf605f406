//! Access-log routes added in API v1.1: signed checkpoints.

use super::guard::{Auditors, Auth};
use crate::error::{ApiError, ApiResult};
use crate::service::audit::Checkpoint;
use crate::service::{cases, Registro};
use actix_web::{get, web, HttpResponse};
use std::sync::Arc;

/// A signed checkpoint of the access log's head (auditor): keep it, and later pass its `seq`
/// and `hash` to `/audit/verify`. Signed by the current checkpoint key of the audit key file
/// (`public_key`); after `registro keys rotate-audit` older checkpoints keep verifying.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 409, description = "the chain does not verify")),
    security(("bearer" = [])))]
#[get("/api/v1/audit/checkpoint")]
pub async fn audit_checkpoint(
    reg: web::Data<Arc<Registro>>,
    who: Auth<Auditors>,
) -> ApiResult<HttpResponse> {
    let reg = reg.get_ref().clone();
    let cp = web::block(move || cases::audit_checkpoint(&reg, &who.principal))
        .await
        .map_err(|e| ApiError::internal(format!("blocking task: {e}")))??;
    Ok(HttpResponse::Ok().json(cp))
}
