//! Console sessions. A session is a bearer token from `service::auth::login`, carried in an
//! `HttpOnly; SameSite=Strict` cookie (`Secure` when served over TLS), so expiry and
//! revocation work exactly as for the API. Every page checks it through
//! `service::auth::authenticate`, then the role, as the API's extractors do; a denial is an
//! access-log entry. Forms carry a CSRF token derived from the session token; before login
//! the login form uses a double-submit cookie.

use super::i18n::Lang;
use super::pages;
use crate::http::guard::{action_of, remote_addr, Policy};
use crate::service::{auth, Principal, Registro, Role};
use actix_web::http::StatusCode;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use std::marker::PhantomData;
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "registro_session";
pub const LOGIN_CSRF_COOKIE: &str = "registro_login_csrf";
pub const LANG_COOKIE: &str = "registro_lang";

/// Roles that have console pages. Scanners (and device keys) have none.
pub struct AnyConsole;
impl Policy for AnyConsole {
    const ROLES: &'static [Role] = &[Role::Investigator, Role::Auditor, Role::Admin];
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn is_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// A `Set-Cookie` value for the console: `HttpOnly; SameSite=Strict; Path=/ui`, `Secure`
/// over TLS. `max_age` 0 deletes the cookie.
pub fn set_cookie(req: &HttpRequest, name: &str, value: &str, max_age: i64) -> String {
    let secure = if is_tls(req) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The request's language: `?lang=`, else the switch's cookie, else `Accept-Language`.
pub fn lang_of(req: &HttpRequest) -> Lang {
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("lang").and_then(|l| Lang::parse(l)));
    q.or_else(|| cookie(req, LANG_COOKIE).and_then(|l| Lang::parse(&l)))
        .or_else(|| {
            req.headers()
                .get(actix_web::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Es)
}

/// The `?lang=` of the request, if it names an offered language (the switch sets a cookie).
pub fn explicit_lang(req: &HttpRequest) -> Option<Lang> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("lang").and_then(|l| Lang::parse(l)))
}

/// The CSRF token of a session: a digest of the session's secret token under its own label
/// (not the digest the database keeps), so only a page of that session can know it.
pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"registro-console-csrf\n");
    h.update(token.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// What every console page knows about its request.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    /// Path of the page (for the language switch).
    pub path: String,
    pub principal: Option<Principal>,
    pub csrf: String,
}

impl Ctx {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }
    pub fn role(&self) -> Option<Role> {
        self.principal.as_ref().map(|p| p.role)
    }
}

/// An authenticated console session whose role satisfies `P`.
pub struct Session<P: Policy> {
    pub who: Principal,
    pub ctx: Ctx,
    pub token: String,
    _policy: PhantomData<P>,
}

impl<P: Policy> Session<P> {
    /// Checks a submitted CSRF token (constant time).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), actix_web::Error> {
        if crate::crypto::ct_eq(submitted, &self.ctx.csrf) {
            Ok(())
        } else {
            Err(deny(&self.ctx, StatusCode::FORBIDDEN, "error-csrf"))
        }
    }
}

/// An error page as an actix error (so extractors can answer with it).
pub fn deny(ctx: &Ctx, status: StatusCode, key: &str) -> actix_web::Error {
    let page = pages::error_page(ctx, status, key);
    actix_web::error::InternalError::from_response(key.to_string(), page).into()
}

fn redirect_to_login(lang: Lang) -> actix_web::Error {
    let resp = HttpResponse::SeeOther()
        .insert_header(("Location", format!("/ui/login?lang={}", lang.code())))
        .insert_header(("Cache-Control", "no-store"))
        .finish();
    actix_web::error::InternalError::from_response("login required", resp).into()
}

async fn open<P: Policy>(req: &HttpRequest) -> Result<Session<P>, actix_web::Error> {
    let reg = req
        .app_data::<web::Data<Arc<Registro>>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("state missing"))?;
    let lang = lang_of(req);
    let mut ctx = Ctx {
        lang,
        path: req.path().to_string(),
        principal: None,
        csrf: String::new(),
    };
    let remote = remote_addr(req);
    let action = action_of(req);
    let Some(token) = cookie(req, SESSION_COOKIE) else {
        return Err(redirect_to_login(lang));
    };
    let (r, t, rem) = (reg.clone(), token.clone(), remote.clone());
    let found = web::block(move || auth::authenticate(&r, &t, &rem))
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?
        .map_err(actix_web::Error::from)?;
    let Some(p) = found else {
        let (r, a, rem) = (reg.clone(), action.clone(), remote.clone());
        web::block(move || auth::log_denied(&r, "anonymous", "", &a, 401, &rem))
            .await
            .ok();
        return Err(redirect_to_login(lang));
    };
    // A device key opens no console page, whatever the page.
    if p.device_id.is_some() || !P::ROLES.contains(&p.role) {
        let (actor, role) = (p.actor.clone(), p.role.as_str());
        web::block(move || auth::log_denied(&reg, &actor, role, &action, 403, &remote))
            .await
            .ok();
        if p.device_id.is_none() {
            ctx.csrf = csrf_for(&token);
            ctx.principal = Some(p);
        }
        return Err(deny(&ctx, StatusCode::FORBIDDEN, "error-forbidden"));
    }
    ctx.csrf = csrf_for(&token);
    ctx.principal = Some(p.clone());
    Ok(Session {
        who: p,
        ctx,
        token,
        _policy: PhantomData,
    })
}

impl<P: Policy + 'static> FromRequest for Session<P> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { open::<P>(&req).await })
    }
}

/// The context of a page shown without a session (login, errors).
pub fn anonymous_ctx(req: &HttpRequest) -> Ctx {
    Ctx {
        lang: lang_of(req),
        path: req.path().to_string(),
        principal: None,
        csrf: String::new(),
    }
}
