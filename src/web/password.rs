//! Setting a password without a session: with a one-time reset token an admin issued, or,
//! at the first sign-in of an account whose password an admin set, with that password.
//! The form calls `service::credentials::change_password`, the API's `POST /auth/password`
//! (same checks, same failure limit, same `auth.password` entry); every session of the user
//! ends. Like the login form, it carries a double-submit CSRF token.

use super::pages::{fail, html_response, layout, page, run, see_other, PageResult, State};
use super::session::{anonymous_ctx, cookie, set_cookie, Ctx, LOGIN_CSRF_COOKIE};
use crate::http::guard::remote_addr;
use crate::service::credentials::{self, PasswordChange};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct PasswordQuery {
    /// `1`: prove the account with a reset token instead of the current password.
    pub reset: Option<String>,
    /// `1`: sent here by a first sign-in that must set its own password.
    pub first: Option<String>,
}

fn form(ctx: &Ctx, csrf: &str, with_token: bool, error: Option<&str>) -> Markup {
    html! {
        @if let Some(key) = error {
            div.error-summary role="alert" tabindex="-1" {
                h2 { (ctx.t("error-summary-title")) }
                ul { li { a href="#new_password" { (ctx.t(key)) } } }
            }
        }
        form.stack data-testid="password" method="post" action="/ui/password" {
            input type="hidden" name="csrf" value=(csrf);
            label for="username" { (ctx.t("login-username")) }
            input id="username" type="text" name="username" autocomplete="username" required autofocus;
            @if with_token {
                label for="reset_token" { (ctx.t("password-reset-token")) }
                input id="reset_token" type="text" name="reset_token" autocomplete="off" required;
            } @else {
                label for="current_password" { (ctx.t("password-current")) }
                input id="current_password" type="password" name="current_password" autocomplete="current-password" required;
            }
            label for="new_password" { (ctx.t("password-new")) }
            p.hint id="new-password-hint" { (ctx.t("password-new-hint")) }
            input id="new_password" type="password" name="new_password" autocomplete="new-password" required minlength="12" aria-describedby="new-password-hint";
            button type="submit" { (ctx.t("password-submit")) }
        }
        p {
            @if with_token {
                a href="/ui/password" { (ctx.t("password-with-current")) }
            } @else {
                a href="/ui/password?reset=1" { (ctx.t("password-with-token")) }
            }
        }
    }
}

#[get("/ui/password")]
pub async fn password_page(req: HttpRequest, q: web::Query<PasswordQuery>) -> PageResult {
    let ctx = anonymous_ctx(&req);
    let token = cookie(&req, LOGIN_CSRF_COOKIE)
        .filter(|t| t.len() >= 32 && t.len() <= 64)
        .unwrap_or_else(|| crate::crypto::random_secret(24));
    let with_token = q.reset.as_deref() == Some("1");
    let body = html! {
        @if q.first.as_deref() == Some("1") {
            p.notice role="status" { (ctx.t("password-must-change")) }
        }
        (form(&ctx, &token, with_token, None))
    };
    let mut resp = page(&req, &ctx, &ctx.t("password-title"), body);
    if let Ok(v) = set_cookie(&req, LOGIN_CSRF_COOKIE, &token, 3600).parse() {
        resp.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub current_password: Option<String>,
    #[serde(default)]
    pub reset_token: Option<String>,
    #[serde(default)]
    pub new_password: String,
}

#[post("/ui/password")]
pub async fn password_submit(
    reg: State,
    req: HttpRequest,
    f: web::Form<PasswordForm>,
) -> PageResult {
    let ctx = anonymous_ctx(&req);
    let remote = remote_addr(&req);
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !crate::crypto::ct_eq(&f.csrf, &expected) {
        return Ok(super::pages::error_page(
            &ctx,
            StatusCode::FORBIDDEN,
            "error-csrf",
        ));
    }
    let f = f.into_inner();
    let with_token = f.reset_token.is_some();
    let change = PasswordChange {
        username: f.username.trim().to_string(),
        current_password: f.current_password.filter(|p| !p.is_empty()),
        reset_token: f
            .reset_token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        new_password: f.new_password,
    };
    let r = reg.get_ref().clone();
    match run(move || credentials::change_password(&r, &change, &remote)).await {
        Ok(()) => Ok(see_other(&format!(
            "/ui/login?lang={}&changed=1",
            ctx.lang.code()
        ))),
        Err(e) => {
            let (status, key) = match e.code() {
                "invalid_credentials" | "bad_request" => {
                    (StatusCode::UNAUTHORIZED, "password-failed")
                }
                "too_many_attempts" => (StatusCode::TOO_MANY_REQUESTS, "login-too-many"),
                "weak_password" => (StatusCode::UNPROCESSABLE_ENTITY, "password-weak"),
                _ => return Err(fail(&ctx, e)),
            };
            let body = form(&ctx, &expected, with_token, Some(key));
            Ok(html_response(
                status,
                layout(&ctx, &ctx.t("password-title"), body),
            ))
        }
    }
}
