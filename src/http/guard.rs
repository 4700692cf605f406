//! Authentication and authorisation as extractor types: the permission a handler needs is in
//! its signature (`Auth<Investigators>`), checked before the handler body runs. Every denied
//! request (no token, unknown token, wrong role) is an access-log entry.

use crate::error::ApiError;
use crate::service::{auth, Principal, Registro, Role};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::marker::PhantomData;
use std::sync::Arc;

/// A set of roles allowed to call a handler.
pub trait Policy {
    const ROLES: &'static [Role];
}

macro_rules! policy {
    ($name:ident, $doc:literal, [$($role:ident),+]) => {
        #[doc = $doc]
        pub struct $name;
        impl Policy for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    };
}

policy!(Capture, "Enroll and identify: scanners and investigators.", [Scanner, Investigator]);
policy!(Investigators, "Records, match cases, alerts.", [Investigator]);
policy!(Auditors, "The access log.", [Auditor]);
policy!(StatsReaders, "Flow statistics.", [Auditor, Admin]);
policy!(Admins, "Users, devices, deletions.", [Admin]);

/// An authenticated caller whose role satisfies `P`.
pub struct Auth<P: Policy> {
    pub principal: Principal,
    _policy: PhantomData<P>,
}

pub fn remote_addr(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

pub fn action_of(req: &HttpRequest) -> String {
    format!("{} {}", req.method(), req.match_pattern().unwrap_or_else(|| req.path().to_string()))
}

impl<P: Policy + 'static> FromRequest for Auth<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let reg = req.app_data::<web::Data<Arc<Registro>>>().cloned();
        let bearer = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|v| v.trim().to_string());
        let remote = remote_addr(req);
        let action = action_of(req);
        Box::pin(async move {
            let reg = reg.ok_or_else(|| ApiError::internal("registro state missing"))?;
            let found = match bearer {
                Some(b) if !b.is_empty() => {
                    let (r, rem) = (reg.clone(), remote.clone());
                    web::block(move || auth::authenticate(&r, &b, &rem)).await.map_err(ApiError::internal)??
                }
                _ => None,
            };
            let Some(principal) = found else {
                web::block(move || auth::log_denied(&reg, "anonymous", "", &action, 401, &remote)).await.ok();
                return Err(ApiError::client("unauthorized", "a valid bearer token is required"));
            };
            if !P::ROLES.contains(&principal.role) {
                let p = principal.clone();
                web::block(move || auth::log_denied(&reg, &p.actor, p.role.as_str(), &action, 403, &p.remote_addr))
                    .await
                    .ok();
                return Err(ApiError::client("forbidden", "your role may not do this"));
            }
            Ok(Auth { principal, _policy: PhantomData })
        })
    }
}
