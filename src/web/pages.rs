//! The page frame (head, navigation by role, language switch, logout), error pages, the
//! login and logout, and the helpers every page uses.

use super::assets;
use super::i18n::Lang;
use super::session::{
    anonymous_ctx, cookie, explicit_lang, set_cookie, AnyConsole, Ctx, Session, LANG_COOKIE,
    LOGIN_CSRF_COOKIE, SESSION_COOKIE,
};
use crate::error::ApiError;
use crate::http::guard::remote_addr;
use crate::service::{auth, console, Registro, Role};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::sync::Arc;

pub type State = web::Data<Arc<Registro>>;
pub type PageResult = Result<HttpResponse, actix_web::Error>;

/// Strict: only this origin's stylesheet and images, no script at all, forms only to here.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML answer with the console's security headers.
pub fn html_response(status: StatusCode, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .body(body.into_string())
}

/// A page, with the language cookie set when the request chose a language with `?lang=`.
pub fn page(req: &HttpRequest, ctx: &Ctx, title: &str, body: Markup) -> HttpResponse {
    let mut resp = html_response(StatusCode::OK, layout(ctx, title, body));
    remember_lang(req, &mut resp);
    resp
}

fn remember_lang(req: &HttpRequest, resp: &mut HttpResponse) {
    if let Some(l) = explicit_lang(req) {
        if let Ok(v) = set_cookie(req, LANG_COOKIE, l.code(), 365 * 86400).parse() {
            resp.headers_mut()
                .append(actix_web::http::header::SET_COOKIE, v);
        }
    }
}

/// A 303 to `to`.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Runs blocking service work off the actix threads.
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("blocking task: {e}")))?
}

/// The error page for a service error: the status, a translated explanation, and the
/// stable code (never the English message).
pub fn fail(ctx: &Ctx, e: ApiError) -> actix_web::Error {
    use actix_web::ResponseError;
    let status = e.status_code();
    if let ApiError::Internal(m) = &e {
        tracing::error!(error = %m, "console page failed");
    }
    let key = match status.as_u16() {
        403 => "error-forbidden",
        404 | 410 => "error-not-found",
        400..=499 => "error-bad-input",
        _ => "error-internal",
    };
    let resp = html_response(
        status,
        layout(
            ctx,
            &ctx.t("error-title"),
            error_body(ctx, key, Some(e.code())),
        ),
    );
    actix_web::error::InternalError::from_response(e.code(), resp).into()
}

fn error_body(ctx: &Ctx, key: &str, code: Option<&str>) -> Markup {
    html! {
        div.error-summary role="alert" {
            p { (ctx.t(key)) }
            @if let Some(c) = code {
                p { (ctx.t("error-code")) " " code { (c) } }
            }
        }
        p { a href="/ui/" { (ctx.t("back-home")) } }
    }
}

/// An error page for a status and message key.
pub fn error_page(ctx: &Ctx, status: StatusCode, key: &str) -> HttpResponse {
    html_response(
        status,
        layout(ctx, &ctx.t("error-title"), error_body(ctx, key, None)),
    )
}

fn nav_links(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Investigator => &[("/ui/cases", "nav-cases"), ("/ui/alerts", "nav-alerts")],
        Role::Auditor => &[("/ui/audit", "nav-audit"), ("/ui/stats", "nav-stats")],
        Role::Admin => &[("/ui/admin", "nav-admin"), ("/ui/stats", "nav-stats")],
        Role::Scanner => &[],
    }
}

/// The frame of every page.
pub fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · registro" }
                link rel="stylesheet" href=(assets::css_url());
            }
            body {
                a.skip href="#main" { (ctx.t("skip-to-content")) }
                header.top {
                    span.brand { "registro" }
                    @if let Some(p) = &ctx.principal {
                        nav aria-label=(ctx.t("nav-label")) {
                            ul {
                                @for (href, key) in nav_links(p.role) {
                                    li {
                                        a href=(href) aria-current=[ctx.path.starts_with(href).then_some("page")] { (ctx.t(key)) }
                                    }
                                }
                            }
                        }
                    }
                    div.tools {
                        nav.lang aria-label=(ctx.t("lang-label")) {
                            @for l in Lang::ALL {
                                @if l == ctx.lang {
                                    span.current lang=(l.code()) { (l.t("lang-name")) }
                                } @else {
                                    a href=(format!("{}?lang={}", ctx.path, l.code())) lang=(l.code()) hreflang=(l.code()) { (l.t("lang-name")) }
                                }
                            }
                        }
                        @if let Some(p) = &ctx.principal {
                            span.who { (p.actor) " · " (role_label(ctx, p.role)) }
                            form.logout method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                button type="submit" { (ctx.t("logout")) }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn role_label(ctx: &Ctx, role: Role) -> String {
    match role {
        Role::Scanner => ctx.t("role-scanner"),
        Role::Investigator => ctx.t("role-investigator"),
        Role::Auditor => ctx.t("role-auditor"),
        Role::Admin => ctx.t("role-admin"),
    }
}

/// A hidden CSRF field.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

fn home_of(role: Role) -> &'static str {
    match role {
        Role::Investigator => "/ui/cases",
        Role::Auditor => "/ui/audit",
        _ => "/ui/admin",
    }
}

#[get("/ui")]
pub async fn root() -> HttpResponse {
    see_other("/ui/")
}

/// `/ui/`: each role's first page.
#[get("/ui/")]
pub async fn home(s: Session<AnyConsole>) -> HttpResponse {
    see_other(home_of(s.who.role))
}

fn login_form(ctx: &Ctx, csrf: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(key) = error {
            div.error-summary role="alert" tabindex="-1" {
                h2 { (ctx.t("error-summary-title")) }
                ul { li { a href="#username" { (ctx.t(key)) } } }
            }
        }
        form.stack data-testid="login" method="post" action="/ui/login" {
            input type="hidden" name="csrf" value=(csrf);
            label for="username" { (ctx.t("login-username")) }
            input id="username" type="text" name="username" autocomplete="username" required autofocus;
            label for="password" { (ctx.t("login-password")) }
            input id="password" type="password" name="password" autocomplete="current-password" required;
            button type="submit" { (ctx.t("login-submit")) }
        }
        p { a href="/ui/password?reset=1" { (ctx.t("login-have-reset-token")) } }
    }
}

#[get("/ui/login")]
pub async fn login_page(req: HttpRequest) -> HttpResponse {
    let ctx = anonymous_ctx(&req);
    let token = cookie(&req, LOGIN_CSRF_COOKIE)
        .filter(|t| t.len() >= 32 && t.len() <= 64)
        .unwrap_or_else(|| crate::crypto::random_secret(24));
    let changed =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .is_ok_and(|q| q.get("changed").map(String::as_str) == Some("1"));
    let body = html! {
        @if changed {
            p.notice role="status" data-testid="password-changed" { (ctx.t("login-password-changed")) }
        }
        (login_form(&ctx, &token, None))
    };
    let mut resp = page(&req, &ctx, &ctx.t("login-title"), body);
    if let Ok(v) = set_cookie(&req, LOGIN_CSRF_COOKIE, &token, 3600).parse() {
        resp.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, v);
    }
    resp
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub csrf: String,
}

#[post("/ui/login")]
pub async fn login_submit(reg: State, req: HttpRequest, form: web::Form<LoginForm>) -> PageResult {
    let ctx = anonymous_ctx(&req);
    let remote = remote_addr(&req);
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !crate::crypto::ct_eq(&form.csrf, &expected) {
        let r = reg.get_ref().clone();
        run(move || {
            auth::log_denied(&r, "anonymous", "", "POST /ui/login", 403, &remote);
            Ok(())
        })
        .await
        .ok();
        return Ok(error_page(&ctx, StatusCode::FORBIDDEN, "error-csrf"));
    }
    let f = form.into_inner();
    let r = reg.get_ref().clone();
    let rem = remote.clone();
    let user = f.username.clone();
    let result = run(move || auth::login(&r, &f.username, &f.password, &rem)).await;
    let ok = match result {
        Ok(ok) => ok,
        Err(e) => {
            let (status, key) = match e.code() {
                "too_many_attempts" => (StatusCode::TOO_MANY_REQUESTS, "login-too-many"),
                "invalid_credentials" => (StatusCode::UNAUTHORIZED, "login-failed"),
                _ => return Err(fail(&ctx, e)),
            };
            let body = login_form(&ctx, &expected, Some(key));
            return Ok(html_response(
                status,
                layout(&ctx, &ctx.t("login-title"), body),
            ));
        }
    };
    if ok.role == Role::Scanner {
        let (r, token) = (reg.get_ref().clone(), ok.token.clone());
        run(move || {
            console::discard_token(&r, &token)?;
            auth::log_denied(&r, &user, "scanner", "POST /ui/login", 403, &remote);
            Ok(())
        })
        .await
        .map_err(|e| fail(&ctx, e))?;
        return Ok(error_page(&ctx, StatusCode::FORBIDDEN, "error-no-console"));
    }
    if ok.must_change_password {
        // That token is good only for a password change, which the password page makes
        // with the current password; withdraw it and send the user there.
        let (r, token) = (reg.get_ref().clone(), ok.token.clone());
        run(move || console::discard_token(&r, &token))
            .await
            .map_err(|e| fail(&ctx, e))?;
        return Ok(see_other(&format!(
            "/ui/password?first=1&lang={}",
            ctx.lang.code()
        )));
    }
    let max_age = chrono::DateTime::parse_from_rfc3339(&ok.expires_at)
        .map(|t| (t.timestamp() - chrono::Utc::now().timestamp()).max(0))
        .unwrap_or(0);
    let mut resp = see_other(home_of(ok.role));
    for c in [
        set_cookie(&req, SESSION_COOKIE, &ok.token, max_age),
        set_cookie(&req, LOGIN_CSRF_COOKIE, "", 0),
    ] {
        if let Ok(v) = c.parse() {
            resp.headers_mut()
                .append(actix_web::http::header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

#[post("/ui/logout")]
pub async fn logout(
    reg: State,
    req: HttpRequest,
    s: Session<AnyConsole>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let (r, who, token) = (reg.get_ref().clone(), s.who.clone(), s.token.clone());
    // The API's logout: the token's row is deleted, logged as `auth.logout`.
    run(move || crate::service::credentials::logout(&r, &who, &token))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let mut resp = see_other(&format!("/ui/login?lang={}", s.ctx.lang.code()));
    if let Ok(v) = set_cookie(&req, SESSION_COOKIE, "", 0).parse() {
        resp.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// A translated label for a stable code (`{prefix}-{code}`), or the code itself when there
/// is no translation (a code added later shows as it is).
pub fn code_label(ctx: &Ctx, prefix: &str, code: &str) -> String {
    let key = format!("{prefix}-{code}");
    let s = ctx.lang.t(&key);
    if s == key {
        code.to_string()
    } else {
        s
    }
}

/// A number with three decimals.
pub fn score(v: f64) -> String {
    format!("{v:.3}")
}

/// A false-match rate as a power of ten (e.g. `1e-5`) or `< 1e-9`.
pub fn fmr(v: f64) -> String {
    if v <= 1e-9 {
        "< 1e-9".into()
    } else {
        format!("{v:.0e}")
    }
}
