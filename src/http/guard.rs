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

policy!(
    Capture,
    "Enroll and identify: scanners and investigators.",
    [Scanner, Investigator]
);
policy!(
    Investigators,
    "Records, match cases, alerts.",
    [Investigator]
);
policy!(Auditors, "The access log.", [Auditor]);
policy!(StatsReaders, "Flow statistics.", [Auditor, Admin]);
policy!(Admins, "Users, devices, deletions.", [Admin]);
policy!(
    Scanners,
    "Devices at a site: check-in by biometrics.",
    [Scanner]
);
policy!(
    Anyone,
    "Any authenticated caller (logout, the list of sites).",
    [Scanner, Investigator, Auditor, Admin]
);

/// An authenticated caller whose role satisfies `P`, with the rest of the request `T`
/// (body, path, query) extracted only *after* authorisation — so a caller without the right
/// role learns nothing from validation errors, and gets 401/403 first.
pub struct Auth<P: Policy, T = ()> {
    pub principal: Principal,
    pub inner: T,
    _policy: PhantomData<P>,
}

/// The caller's address: the peer, or — only when the peer is one of `--trusted-proxies` —
/// the right-most `X-Forwarded-For` address that is not itself a trusted proxy.
pub fn remote_addr(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    let proxies = req
        .app_data::<web::Data<Arc<Registro>>>()
        .map(|r| r.config.trusted_proxies.clone())
        .unwrap_or_default();
    super::proxy::client_ip(peer, &proxies, req.headers()).to_string()
}

pub fn action_of(req: &HttpRequest) -> String {
    format!(
        "{} {}",
        req.method(),
        req.match_pattern()
            .unwrap_or_else(|| req.path().to_string())
    )
}

async fn authorise<P: Policy>(req: &HttpRequest) -> Result<Principal, ApiError> {
    let reg = req
        .app_data::<web::Data<Arc<Registro>>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("registro state missing"))?;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|v| v.trim().to_string());
    let remote = remote_addr(req);
    let action = action_of(req);
    let found = match bearer {
        Some(b) if !b.is_empty() => {
            let (r, rem) = (reg.clone(), remote.clone());
            web::block(move || auth::authenticate(&r, &b, &rem))
                .await
                .map_err(ApiError::internal)??
        }
        _ => None,
    };
    let Some(principal) = found else {
        web::block(move || auth::log_denied(&reg, "anonymous", "", &action, 401, &remote))
            .await
            .ok();
        return Err(ApiError::client(
            "unauthorized",
            "a valid bearer token is required",
        ));
    };
    if !P::ROLES.contains(&principal.role) {
        let p = principal.clone();
        web::block(move || {
            auth::log_denied(
                &reg,
                &p.actor,
                p.role.as_str(),
                &action,
                403,
                &p.remote_addr,
            )
        })
        .await
        .ok();
        return Err(ApiError::client("forbidden", "your role may not do this"));
    }
    Ok(principal)
}

impl<P, T> FromRequest for Auth<P, T>
where
    P: Policy + 'static,
    T: FromRequest + 'static,
    T::Error: Into<actix_web::Error>,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let principal = authorise::<P>(&req).await?;
            let inner = T::from_request(&req, &mut payload)
                .await
                .map_err(Into::into)?;
            Ok(Auth {
                principal,
                inner,
                _policy: PhantomData,
            })
        })
    }
}
