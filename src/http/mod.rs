//! The HTTP layer: routes, auth extractors, JSON views. Thin by design.

pub mod audit_routes;
pub mod credentials;
pub mod evidence;
pub mod guard;
pub mod handlers;
pub mod openapi;
pub mod proxy;
pub mod reception;
pub mod tls;

use crate::error::{error_body, ApiError};
use crate::service::Registro;
use actix_web::dev::Service;
use actix_web::error::JsonPayloadError;
use actix_web::{middleware, web, HttpResponse};
use std::sync::Arc;
use std::time::Instant;

/// Every (method, path) the service answers: the route table the role test and the OpenAPI
/// test walk.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/devices"),
    ("POST", "/api/v1/enrollments"),
    ("POST", "/api/v1/enrollments/batch"),
    ("POST", "/api/v1/identify"),
    ("GET", "/api/v1/records/{record_id}"),
    ("GET", "/api/v1/records"),
    ("POST", "/api/v1/records/{record_id}/delete"),
    ("GET", "/api/v1/matches"),
    ("POST", "/api/v1/matches/{case_id}/decision"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("GET", "/api/v1/stats/flows"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/devices"),
    ("POST", "/api/v1/users/{user_id}/disable"),
    ("POST", "/api/v1/users/{user_id}/password-reset"),
    ("POST", "/api/v1/devices/{device_id}/revoke"),
    ("POST", "/api/v1/approvals/{approval_id}/approve"),
    ("GET", "/api/v1/audit/checkpoint"),
    ("POST", "/api/v1/sites"),
    ("GET", "/api/v1/sites"),
    ("POST", "/api/v1/records/{record_id}/events"),
    ("POST", "/api/v1/events/batch"),
    ("POST", "/api/v1/checkin"),
    ("GET", "/api/v1/stats/sites"),
    ("GET", "/api/v1/stats/transfers"),
    ("GET", "/api/v1/stats/vaccinations"),
    ("GET", "/api/v1/records/{record_id}/photo"),
    ("GET", "/api/v1/records/{record_id}/face"),
    ("GET", "/api/v1/matches/{case_id}/evidence"),
];

fn json_error(err: JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    let (status, code, msg) = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => (
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        ),
        JsonPayloadError::ContentType => (
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => (
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            "a field has the wrong type or a required field is missing",
        ),
        _ => (
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not valid JSON",
        ),
    };
    actix_web::error::InternalError::from_response(
        err,
        HttpResponse::build(status).json(error_body(code, msg)),
    )
    .into()
}

fn query_error(
    _err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::client("invalid_query", "a query parameter is malformed").into()
}

fn path_error(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::client("bad_request", "the path is malformed").into()
}

/// Registers every route and the shared configuration on an actix `App`.
pub fn configure(reg: Arc<Registro>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let body_limit = reg.config.body_limit;
        let batch_limit = reg.config.batch_body_limit;
        cfg.app_data(web::Data::new(reg))
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .service(
                web::resource("/api/v1/auth/login")
                    .app_data(credentials::auth_json())
                    .route(web::post().to(handlers::login)),
            )
            .service(handlers::create_user)
            .service(handlers::create_device)
            .service(
                web::resource("/api/v1/enrollments/batch")
                    .app_data(
                        web::JsonConfig::default()
                            .limit(batch_limit)
                            .error_handler(json_error),
                    )
                    .route(web::post().to(handlers::enroll_batch)),
            )
            .service(handlers::enroll)
            .service(handlers::identify_route)
            .service(handlers::search_records)
            .service(handlers::get_record)
            .service(handlers::delete_record)
            .service(handlers::list_matches)
            .service(handlers::decide_match)
            .service(handlers::list_alerts)
            .service(audit_routes::audit_checkpoint)
            .service(handlers::verify_audit)
            .service(handlers::list_audit)
            .service(handlers::flows)
            .configure(reception::routes)
            .service(handlers::healthz)
            .service(handlers::readyz)
            .service(handlers::metrics)
            .service(handlers::openapi_doc)
            .service(
                web::resource("/api/v1/auth/password")
                    .app_data(credentials::auth_json())
                    .route(web::post().to(credentials::change_password)),
            )
            .service(credentials::logout)
            .service(credentials::list_users)
            .service(credentials::list_devices)
            .service(credentials::disable_user)
            .service(credentials::reset_password)
            .service(credentials::revoke_device)
            .service(credentials::approve)
            .service(evidence::record_photo)
            .service(evidence::record_face)
            .service(evidence::case_evidence)
            .configure(crate::web::configure);
    }
}

/// Starts the HTTP server on `listener` with every route, metrics, compression, request
/// logging (route patterns and status only, never bodies or ids) and JSON 404s.
pub fn server(
    reg: Arc<Registro>,
    listener: std::net::TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let tls_config = match (&reg.config.tls_cert, &reg.config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        (None, None) => None,
        _ => {
            return Err(std::io::Error::other(
                "--tls-cert and --tls-key go together",
            ))
        }
    };
    let grace = reg.config.shutdown_grace_secs;
    let mut http = actix_web::HttpServer::new(move || {
        let metrics_reg = reg.clone();
        actix_web::App::new()
            .configure(configure(reg.clone()))
            .default_service(web::to(|| async { HttpResponse::NotFound().json(error_body("not_found", "no such route")) }))
            .wrap_fn(move |req, srv| {
                let start = Instant::now();
                let method = req.method().to_string();
                let m = metrics_reg.clone();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                    let status = res.status().as_u16();
                    let secs = start.elapsed().as_secs_f64();
                    m.metrics.observe(&method, &route, status, secs);
                    tracing::info!(method = %method, route = %route, status, ms = (secs * 1000.0) as u64, "request");
                    Ok(res)
                }
            })
            .wrap(middleware::Compress::default())
            .wrap_fn(security_headers)
    })
    .shutdown_timeout(grace);
    if workers > 0 {
        http = http.workers(workers);
    }
    match tls_config {
        Some(cfg) => Ok(http.listen_rustls_0_23(listener, cfg)?.run()),
        None => Ok(http.listen(listener)?.run()),
    }
}

/// `X-Content-Type-Options: nosniff` on every answer, and `Cache-Control: no-store` on every
/// `/api/` answer (they may carry personal data; no browser or proxy cache may keep them).
fn security_headers<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>
where
    S: Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    use actix_web::http::header::{HeaderValue, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
    let api = req.path().starts_with("/api/");
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        let h = res.headers_mut();
        h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if api {
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Ok(res)
    }
}
