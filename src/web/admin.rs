//! Admin pages: users and devices, listed and created.
//!
//! Each row ends in an actions cell ([`user_actions`], [`device_actions`]) where the
//! security work's disable, password-reset and revoke buttons belong once their service
//! functions exist; today the cells are empty.

use super::pages::{
    code_label, csrf_field, fail, html_response, layout, page, role_label, run, see_other,
    PageResult, State,
};
use super::session::{Ctx, Session};
use crate::http::guard::Admins;
use crate::service::console::{self, DeviceItem, UserItem};
use crate::service::{auth, Role};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest};
use maud::{html, Markup};
use serde::Deserialize;

/// The action buttons of a user row (none yet: see the module documentation).
fn user_actions(_ctx: &Ctx, _u: &UserItem) -> Markup {
    html! {}
}

/// The action buttons of a device row (none yet: see the module documentation).
fn device_actions(_ctx: &Ctx, _d: &DeviceItem) -> Markup {
    html! {}
}

fn forms(ctx: &Ctx) -> Markup {
    html! {
        div.two {
            form.stack data-testid="create-user" method="post" action="/ui/admin/users" {
                h2 { (ctx.t("admin-new-user")) }
                (csrf_field(ctx))
                label for="nu-username" { (ctx.t("login-username")) }
                input id="nu-username" name="username" type="text" required maxlength="64" autocomplete="off";
                label for="nu-password" { (ctx.t("login-password")) }
                p.hint { (ctx.t("admin-password-hint")) }
                input id="nu-password" name="password" type="password" required minlength="12" autocomplete="new-password";
                label for="nu-role" { (ctx.t("admin-role")) }
                select id="nu-role" name="role" {
                    @for r in [Role::Investigator, Role::Auditor, Role::Admin, Role::Scanner] {
                        option value=(r.as_str()) { (role_label(ctx, r)) }
                    }
                }
                button type="submit" { (ctx.t("admin-create-user")) }
            }
            form.stack data-testid="create-device" method="post" action="/ui/admin/devices" {
                h2 { (ctx.t("admin-new-device")) }
                (csrf_field(ctx))
                label for="nd-name" { (ctx.t("admin-device-name")) }
                input id="nd-name" name="name" type="text" required maxlength="200";
                label for="nd-site" { (ctx.t("field-site")) }
                input id="nd-site" name="site" type="text" required maxlength="64";
                button type="submit" { (ctx.t("admin-create-device")) }
            }
        }
    }
}

async fn admin_body(
    reg: &State,
    s: &Session<Admins>,
    notice: Option<Markup>,
) -> Result<Markup, actix_web::Error> {
    let (r, who) = (reg.get_ref().clone(), s.who.clone());
    let (users, devices) = run(move || console::directory(&r, &who))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    Ok(html! {
        @if let Some(n) = notice { (n) }
        section aria-labelledby="users-h" {
            h2 id="users-h" { (ctx.t("admin-users")) }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("login-username")) }
                        th scope="col" { (ctx.t("admin-role")) }
                        th scope="col" { (ctx.t("col-created")) }
                        th scope="col" { (ctx.t("col-actions")) }
                    } }
                    tbody {
                        @for u in &users {
                            tr data-testid="user-row" {
                                td { (u.username) }
                                td { (Role::parse(&u.role).map(|r| role_label(ctx, r)).unwrap_or_else(|| u.role.clone())) }
                                td { time datetime=(u.created_at) { (u.created_at) } }
                                td { (user_actions(ctx, u)) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="devices-h" {
            h2 id="devices-h" { (ctx.t("admin-devices")) }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("admin-device-name")) }
                        th scope="col" { (ctx.t("field-site")) }
                        th scope="col" { (ctx.t("col-status")) }
                        th scope="col" { (ctx.t("col-created")) }
                        th scope="col" { (ctx.t("col-actions")) }
                    } }
                    tbody {
                        @for d in &devices {
                            tr data-testid="device-row" {
                                td { (d.name) }
                                td { (d.site) }
                                td { (code_label(ctx, "device", if d.revoked { "revoked" } else { "active" })) }
                                td { time datetime=(d.created_at) { (d.created_at) } }
                                td { (device_actions(ctx, d)) }
                            }
                        }
                    }
                }
            }
        }
        (forms(ctx))
    })
}

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    pub created: Option<String>,
}

#[get("/ui/admin")]
pub async fn admin(
    reg: State,
    req: HttpRequest,
    s: Session<Admins>,
    q: web::Query<AdminQuery>,
) -> PageResult {
    let notice = (q.created.as_deref() == Some("user"))
        .then(|| html! { p.notice role="status" { (s.ctx.t("admin-user-created")) } });
    let body = admin_body(&reg, &s, notice).await?;
    Ok(page(&req, &s.ctx, &s.ctx.t("admin-title"), body))
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub role: String,
}

#[post("/ui/admin/users")]
pub async fn create_user(
    reg: State,
    s: Session<Admins>,
    form: web::Form<NewUserForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (r, who) = (reg.get_ref().clone(), s.who.clone());
    // A password set here must be changed by its user at first login (API.md v1.1).
    run(move || {
        let password = (!f.password.is_empty()).then_some(f.password.as_str());
        crate::service::credentials::create_user(&r, &who, f.username.trim(), password, &f.role)
            .map(|_| ())
    })
    .await
    .map_err(|e| fail(&s.ctx, e))?;
    Ok(see_other("/ui/admin?created=user"))
}

#[derive(Debug, Deserialize)]
pub struct NewDeviceForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub site: String,
}

/// Registers a device and shows its key once, on this answer only.
#[post("/ui/admin/devices")]
pub async fn create_device(
    reg: State,
    s: Session<Admins>,
    form: web::Form<NewDeviceForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (r, who) = (reg.get_ref().clone(), s.who.clone());
    let dev = run(move || auth::create_device(&r, &who, &f.name, f.site.trim()))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let notice = html! {
        div.notice role="status" data-testid="device-key" {
            p { (ctx.t("admin-device-created")) }
            p { code.key { (dev.api_key) } }
        }
    };
    let body = admin_body(&reg, &s, Some(notice)).await?;
    Ok(html_response(
        StatusCode::CREATED,
        layout(ctx, &ctx.t("admin-title"), body),
    ))
}
