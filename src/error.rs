//! One error type for the service, split into the caller's fault (4xx with a stable code)
//! and ours (logged with context, a plain 500 to the client).
//!
//! The table in [`ApiError::status`] is the single place that maps a stable error code to an
//! HTTP status. Codes are part of the API contract: add new ones, never rename.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;

/// An error the HTTP layer can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller's fault: a stable code and a human message that never contains personal data.
    #[error("{code}: {message}")]
    Client { code: &'static str, message: String },
    /// Ours: logged with its context, answered as a plain 500.
    #[error("internal error: {0}")]
    Internal(String),
    /// A dependency (database, engine) is not ready or overloaded: 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A condition the operator can fix or that passes (`storage_full`,
    /// `database_unavailable`, `overloaded`): its own code, and `Retry-After` when set.
    #[error("{code}: {message}")]
    Fault {
        code: &'static str,
        message: String,
        retry_after: Option<u64>,
    },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client {
            code,
            message: message.into(),
        }
    }
    pub fn internal(context: impl std::fmt::Display) -> Self {
        ApiError::Internal(context.to_string())
    }
    pub fn not_found(what: &str) -> Self {
        Self::client("not_found", format!("{what} not found"))
    }
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client { code, .. } => code,
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Fault { code, .. } => code,
        }
    }

    /// `503 overloaded`: more work is waiting than can start in time.
    pub fn overloaded(retry_after: u64) -> Self {
        ApiError::Fault {
            code: "overloaded",
            message: "the server has more work waiting than it can start in time; retry later"
                .into(),
            retry_after: Some(retry_after),
        }
    }

    /// `503 database_unavailable`: the database cannot be reached now.
    pub fn database_unavailable() -> Self {
        ApiError::Fault {
            code: "database_unavailable",
            message: "the database cannot be reached; retry later".into(),
            retry_after: Some(DATABASE_RETRY_AFTER_SECS),
        }
    }

    /// `503 index_key_changed`: the store's blind indexes were re-keyed (`registro keys
    /// rotate-index`) after this node started; it must restart with the new index key file
    /// before it writes an index again.
    pub fn index_key_changed() -> Self {
        ApiError::Fault {
            code: "index_key_changed",
            message: "the blind-index key of this store changed; this node must be restarted \
                      with the new index key file"
                .into(),
            retry_after: None,
        }
    }

    /// `507 storage_full`: the store has no room; nothing was written.
    pub fn storage_full() -> Self {
        ApiError::Fault {
            code: "storage_full",
            message: "the store is full; nothing was written".into(),
            retry_after: None,
        }
    }
}

/// `Retry-After` for `database_unavailable`: long enough for a connection to be re-established
/// after a PostgreSQL restart, short enough not to idle a device.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

/// The table: every stable code and its HTTP status. Codes not listed here are 422
/// (a well-formed request whose content we cannot accept), which is what the biometric
/// engines' codes (`no_face`, `template_truncated`, …) are.
pub fn status_for_code(code: &str) -> StatusCode {
    match code {
        "bad_request" | "invalid_json" | "purpose_required" | "invalid_cursor"
        | "invalid_query" => StatusCode::BAD_REQUEST,
        "unauthorized" | "invalid_credentials" | "token_expired" => StatusCode::UNAUTHORIZED,
        "forbidden" | "self_approval" => StatusCode::FORBIDDEN,
        "not_found" | "not_enrolled" => StatusCode::NOT_FOUND,
        "event_id_conflict" | "site_exists" => StatusCode::CONFLICT,
        "conflict" | "username_taken" | "already_decided" => StatusCode::CONFLICT,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "too_many_attempts" => StatusCode::TOO_MANY_REQUESTS,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "audit_chain_broken" => StatusCode::CONFLICT,
        "record_deleted" => StatusCode::GONE,
        "window_not_whole_months" => StatusCode::BAD_REQUEST,
        "storage_full" => StatusCode::INSUFFICIENT_STORAGE,
        "database_unavailable" | "overloaded" | "index_key_changed" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "no_photo" => StatusCode::NOT_FOUND,
        "csrf_failed" => StatusCode::FORBIDDEN,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}
#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

/// Builds the JSON error body of API.md.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::to_value(Body {
        error: Inner { code, message },
    })
    .unwrap_or_default()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_for_code(self.code())
    }
    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Client { message, .. } => message.as_str(),
            ApiError::Internal(ctx) => {
                tracing::error!(error = %ctx, "internal error");
                "internal error"
            }
            ApiError::Unavailable(ctx) => {
                tracing::warn!(error = %ctx, "unavailable");
                "service unavailable, try again"
            }
            ApiError::Fault { message, .. } => message.as_str(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let ApiError::Fault {
            retry_after: Some(s),
            ..
        } = self
        {
            res.insert_header((actix_web::http::header::RETRY_AFTER, s.to_string()));
        }
        res.json(error_body(self.code(), message))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => ApiError::not_found("resource"),
            other => match crate::db::fault::classify(&other) {
                Some(crate::db::fault::Fault::StorageFull) => {
                    tracing::warn!(error = %other, "storage full");
                    ApiError::storage_full()
                }
                Some(crate::db::fault::Fault::Unavailable) => {
                    tracing::warn!(error = %other, "database unavailable");
                    ApiError::database_unavailable()
                }
                None => ApiError::Internal(format!("database: {other}")),
            },
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool: no connection in time");
        ApiError::database_unavailable()
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        ApiError::Internal(format!("crypto: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_maps_client_and_server_codes() {
        assert_eq!(status_for_code("purpose_required"), StatusCode::BAD_REQUEST);
        assert_eq!(status_for_code("forbidden"), StatusCode::FORBIDDEN);
        assert_eq!(status_for_code("no_face"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status_for_code("internal"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let e = ApiError::Internal("secret detail".into());
        let body = actix_web::body::to_bytes(e.error_response().into_body());
        let bytes = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            !text.contains("secret detail"),
            "internal context must not leak: {text}"
        );
    }
}
