//! Credential routes (API.md v1.1 "Credentials"): password changes, logout, the admin lists,
//! disabling users, reset tokens, revoking devices, four-eyes approvals. Each handler is one
//! call into `service::credentials`.

use super::guard::{remote_addr, Admins, Anyone, Auth};
use super::handlers::blocking;
use crate::error::{error_body, ApiResult};
use crate::service::credentials::{
    self, Approved, Created, DeviceView, NewUser, PasswordChange, UserView,
};
use crate::service::{auth, Registro};
use actix_web::error::JsonPayloadError;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type State = web::Data<Arc<Registro>>;

/// Largest body of the credential routes that need no token (login, password change): enough
/// for every field at its limit, far below the general body limit.
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

/// The JSON settings of the unauthenticated credential routes: a larger body is a plain `401`
/// (a username past 64 characters is one), never parsed.
pub fn auth_json() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(AUTH_BODY_LIMIT)
        .error_handler(|err, req| {
            let (status, code, msg) = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    if let Some(reg) = req.app_data::<State>() {
                        let action = if req.path().ends_with("/login") {
                            "auth.login"
                        } else {
                            "auth.password"
                        };
                        auth::log_failed(reg, "anonymous", action, 401, &remote_addr(req));
                    }
                    (
                        actix_web::http::StatusCode::UNAUTHORIZED,
                        "invalid_credentials",
                        "wrong username or password",
                    )
                }
                JsonPayloadError::ContentType => (
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send Content-Type: application/json",
                ),
                _ => (
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "invalid_json",
                    "the body is not valid JSON or misses a field",
                ),
            };
            actix_web::error::InternalError::from_response(
                err,
                HttpResponse::build(status).json(error_body(code, msg)),
            )
            .into()
        })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApprovalPending {
    pub approval_id: String,
}

/// `201` with the new user, or `202 {approval_id}` when a second admin must approve.
pub fn created_or_pending(c: Created<NewUser>) -> HttpResponse {
    match c {
        Created::Done(u) => HttpResponse::Created().json(u),
        Created::Pending { approval_id } => {
            HttpResponse::Accepted().json(ApprovalPending { approval_id })
        }
    }
}

/// Set a new password with the current one or a one-time reset token (no bearer needed).
/// Every other token of the user stops working.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "changed"), (status = 401, description = "wrong credentials"),
              (status = 422, description = "weak_password"), (status = 429, description = "too many failed attempts")))]
pub async fn change_password(
    reg: State,
    req: HttpRequest,
    body: web::Json<PasswordChange>,
) -> ApiResult<HttpResponse> {
    let remote = remote_addr(&req);
    let body = body.into_inner();
    let reg = reg.get_ref().clone();
    blocking(move || credentials::change_password(&reg, &body, &remote)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End this session: the bearer token answers `401` afterwards.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out")), security(("bearer" = [])))]
#[post("/api/v1/auth/logout")]
pub async fn logout(reg: State, who: Auth<Anyone>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let reg = reg.get_ref().clone();
    blocking(move || credentials::logout(&reg, &who.principal, &bearer)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DevicePage {
    pub items: Vec<DeviceView>,
    pub next_cursor: Option<String>,
}

/// Users (admin), newest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(ListQuery),
    responses((status = 200, body = UserPage)), security(("bearer" = [])))]
#[get("/api/v1/users")]
pub async fn list_users(
    reg: State,
    who: Auth<Admins, web::Query<ListQuery>>,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let p = blocking(move || {
        credentials::list_users(&reg, &who.principal, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Devices (admin), newest first.
#[utoipa::path(get, path = "/api/v1/devices", tag = "admin", params(ListQuery),
    responses((status = 200, body = DevicePage)), security(("bearer" = [])))]
#[get("/api/v1/devices")]
pub async fn list_devices(
    reg: State,
    who: Auth<Admins, web::Query<ListQuery>>,
) -> ApiResult<HttpResponse> {
    let q = who.inner.into_inner();
    let reg = reg.get_ref().clone();
    let p = blocking(move || {
        credentials::list_devices(&reg, &who.principal, q.cursor.as_deref(), q.limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Disable a user (admin): their tokens answer `401` from the next request, on every node.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/disable", tag = "admin", params(("user_id" = String, Path)),
    responses((status = 200, body = UserView)), security(("bearer" = [])))]
#[post("/api/v1/users/{user_id}/disable")]
pub async fn disable_user(
    reg: State,
    who: Auth<Admins, web::Path<String>>,
) -> ApiResult<HttpResponse> {
    let id = who.inner.clone();
    let reg = reg.get_ref().clone();
    let v = blocking(move || credentials::disable_user(&reg, &who.principal, &id)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetToken {
    pub reset_token: String,
}

/// A one-time reset token for a user (admin): shown once, valid 24 hours.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/password-reset", tag = "admin", params(("user_id" = String, Path)),
    responses((status = 200, body = ResetToken)), security(("bearer" = [])))]
#[post("/api/v1/users/{user_id}/password-reset")]
pub async fn reset_password(
    reg: State,
    who: Auth<Admins, web::Path<String>>,
) -> ApiResult<HttpResponse> {
    let id = who.inner.clone();
    let reg = reg.get_ref().clone();
    let reset_token =
        blocking(move || credentials::reset_password(&reg, &who.principal, &id)).await?;
    Ok(HttpResponse::Ok().json(ResetToken { reset_token }))
}

/// Revoke a device (admin): its key answers `401` from the next request, on every node.
#[utoipa::path(post, path = "/api/v1/devices/{device_id}/revoke", tag = "admin", params(("device_id" = String, Path)),
    responses((status = 200, body = DeviceView)), security(("bearer" = [])))]
#[post("/api/v1/devices/{device_id}/revoke")]
pub async fn revoke_device(
    reg: State,
    who: Auth<Admins, web::Path<String>>,
) -> ApiResult<HttpResponse> {
    let id = who.inner.clone();
    let reg = reg.get_ref().clone();
    let v = blocking(move || credentials::revoke_device(&reg, &who.principal, &id)).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Approve (and run) another admin's request: an admin's creation or a record deletion.
#[utoipa::path(post, path = "/api/v1/approvals/{approval_id}/approve", tag = "admin", params(("approval_id" = String, Path)),
    responses((status = 200, body = Approved), (status = 403, description = "self_approval"),
              (status = 409, description = "already_decided")), security(("bearer" = [])))]
#[post("/api/v1/approvals/{approval_id}/approve")]
pub async fn approve(reg: State, who: Auth<Admins, web::Path<String>>) -> ApiResult<HttpResponse> {
    let id = who.inner.clone();
    let reg = reg.get_ref().clone();
    let v = blocking(move || credentials::approve(&reg, &who.principal, &id)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    change_password,
    logout,
    list_users,
    list_devices,
    disable_user,
    reset_password,
    revoke_device,
    approve
))]
pub struct CredentialsDoc;
