//! Admin pages: users and devices, listed and created, and the security work's actions on
//! them: disable a user, issue a user a one-time reset token, revoke a device, and approve
//! another admin's four-eyes request. Each action is a CSRF-checked POST form that calls the
//! same `service::credentials` function as the API (so the access log has the API's entry:
//! `user.disable`, `user.password_reset`, `device.revoke`, `approval.approve:*`), and answers
//! with the admin page and a notice saying what happened.

use super::pages::{
    code_label, csrf_field, fail, html_response, layout, role_label, run, PageResult, State,
};
use super::session::{Ctx, Session};
use crate::http::guard::Admins;
use crate::service::console::{self, ApprovalItem, DeviceItem, UserItem};
use crate::service::credentials::{self, Created};
use crate::service::{auth, Role};
use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use fluent_bundle::FluentValue;
use maud::{html, Markup};
use serde::Deserialize;

/// The action buttons of a user row: disable and reset for an active user other than the
/// admin looking at the page.
fn user_actions(ctx: &Ctx, u: &UserItem) -> Markup {
    let me = ctx.principal.as_ref().map(|p| p.actor.as_str()) == Some(u.username.as_str());
    html! {
        @if u.disabled {
            span.empty { (ctx.t("admin-no-actions")) }
        } @else if me {
            span.empty { (ctx.t("admin-this-is-you")) }
        } @else {
            div.row-actions {
                form data-testid="disable-user" method="post" action=(format!("/ui/admin/users/{}/disable", u.user_id)) {
                    (csrf_field(ctx))
                    button.danger type="submit" {
                        (ctx.t("admin-disable")) span.visually-hidden { " " (u.username) }
                    }
                }
                form data-testid="reset-user" method="post" action=(format!("/ui/admin/users/{}/password-reset", u.user_id)) {
                    (csrf_field(ctx))
                    button.secondary type="submit" {
                        (ctx.t("admin-reset")) span.visually-hidden { " " (u.username) }
                    }
                }
            }
        }
    }
}

/// The action button of a device row: revoke, while the device is active.
fn device_actions(ctx: &Ctx, d: &DeviceItem) -> Markup {
    html! {
        @if d.revoked {
            span.empty { (ctx.t("admin-no-actions")) }
        } @else {
            form data-testid="revoke-device" method="post" action=(format!("/ui/admin/devices/{}/revoke", d.device_id)) {
                (csrf_field(ctx))
                button.danger type="submit" {
                    (ctx.t("admin-revoke")) span.visually-hidden { " " (d.name) }
                }
            }
        }
    }
}

fn approval_what(ctx: &Ctx, a: &ApprovalItem) -> Markup {
    html! {
        @match a.kind.as_str() {
            "user.create" => {
                (ctx.lang.t_args("approval-user-create", &[
                    ("username", FluentValue::from(a.username.clone().unwrap_or_default())),
                    ("role", FluentValue::from(a.role.as_deref().and_then(Role::parse)
                        .map(|r| role_label(ctx, r)).unwrap_or_default())),
                ]))
            }
            "record.delete" => {
                (ctx.t("approval-record-delete")) " "
                code { (a.record_id.as_deref().unwrap_or_default()) }
            }
            other => code { (other) }
        }
    }
}

fn approvals_section(ctx: &Ctx, items: &[ApprovalItem]) -> Markup {
    let me = ctx.principal.as_ref().map(|p| p.actor.as_str());
    html! {
        section aria-labelledby="approvals-h" {
            h2 id="approvals-h" { (ctx.t("admin-approvals")) }
            @if items.is_empty() {
                p.empty { (ctx.t("admin-approvals-none")) }
            } @else {
                p.hint { (ctx.t("admin-approvals-hint")) }
                div.table-wrap {
                    table.stack {
                        thead { tr {
                            th scope="col" { (ctx.t("col-request")) }
                            th scope="col" { (ctx.t("col-requested-by")) }
                            th scope="col" { (ctx.t("col-created")) }
                            th scope="col" { (ctx.t("col-actions")) }
                        } }
                        tbody {
                            @for a in items {
                                tr data-testid="approval-row" data-approval-id=(a.approval_id) {
                                    th scope="row" { (approval_what(ctx, a)) }
                                    td data-label=(ctx.t("col-requested-by")) { (a.requested_by) }
                                    td data-label=(ctx.t("col-created")) { time datetime=(a.created_at) { (a.created_at) } }
                                    td {
                                        @if me == Some(a.requested_by.as_str()) {
                                            span.empty { (ctx.t("admin-approval-own")) }
                                        } @else {
                                            form data-testid="approve" method="post" action=(format!("/ui/admin/approvals/{}/approve", a.approval_id)) {
                                                (csrf_field(ctx))
                                                button type="submit" { (ctx.t("admin-approve")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn forms(ctx: &Ctx) -> Markup {
    html! {
        div.two {
            form.stack data-testid="create-user" method="post" action="/ui/admin/users" {
                h2 { (ctx.t("admin-new-user")) }
                (csrf_field(ctx))
                label for="nu-username" { (ctx.t("login-username")) }
                input id="nu-username" name="username" type="text" required maxlength="64" autocomplete="off";
                label for="nu-password" { (ctx.t("admin-initial-password")) }
                p.hint id="nu-password-hint" { (ctx.t("admin-password-hint")) }
                input id="nu-password" name="password" type="password" minlength="12" autocomplete="new-password" aria-describedby="nu-password-hint";
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
    let (users, devices, approvals) = run(move || {
        let (u, d) = console::directory(&r, &who)?;
        let a = console::pending_approvals(&r, &who)?;
        Ok((u, d, a))
    })
    .await
    .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    Ok(html! {
        @if let Some(n) = notice { (n) }
        (approvals_section(ctx, &approvals))
        section aria-labelledby="users-h" {
            h2 id="users-h" { (ctx.t("admin-users")) }
            div.table-wrap {
                table.stack {
                    thead { tr {
                        th scope="col" { (ctx.t("login-username")) }
                        th scope="col" { (ctx.t("admin-role")) }
                        th scope="col" { (ctx.t("col-status")) }
                        th scope="col" { (ctx.t("col-created")) }
                        th scope="col" { (ctx.t("col-actions")) }
                    } }
                    tbody {
                        @for u in &users {
                            tr data-testid="user-row" data-username=(u.username)
                                data-status=(if u.disabled { "disabled" } else { "active" }) {
                                th scope="row" { (u.username) }
                                td data-label=(ctx.t("admin-role")) { (Role::parse(&u.role).map(|r| role_label(ctx, r)).unwrap_or_else(|| u.role.clone())) }
                                td data-label=(ctx.t("col-status")) { (code_label(ctx, "user", if u.disabled { "disabled" } else { "active" })) }
                                td data-label=(ctx.t("col-created")) { time datetime=(u.created_at) { (u.created_at) } }
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
                table.stack {
                    thead { tr {
                        th scope="col" { (ctx.t("admin-device-name")) }
                        th scope="col" { (ctx.t("field-site")) }
                        th scope="col" { (ctx.t("col-status")) }
                        th scope="col" { (ctx.t("col-created")) }
                        th scope="col" { (ctx.t("col-actions")) }
                    } }
                    tbody {
                        @for d in &devices {
                            tr data-testid="device-row" data-device-id=(d.device_id)
                                data-status=(if d.revoked { "revoked" } else { "active" }) {
                                th scope="row" { (d.name) }
                                td data-label=(ctx.t("field-site")) { (d.site) }
                                td data-label=(ctx.t("col-status")) { (code_label(ctx, "device", if d.revoked { "revoked" } else { "active" })) }
                                td data-label=(ctx.t("col-created")) { time datetime=(d.created_at) { (d.created_at) } }
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

/// The admin page with `notice` above it, answered with `status`.
async fn admin_page(
    reg: &State,
    s: &Session<Admins>,
    status: StatusCode,
    notice: Option<Markup>,
) -> PageResult {
    let body = admin_body(reg, s, notice).await?;
    Ok(html_response(
        status,
        layout(&s.ctx, &s.ctx.t("admin-title"), body),
    ))
}

/// A notice, and optionally a secret shown once under it (a device key, a reset token).
fn notice(text: String, secret: Option<(&str, &str)>) -> Markup {
    html! {
        div.notice role="status" data-testid="admin-notice" {
            p { (text) }
            @if let Some((testid, value)) = secret {
                p { code.key data-testid=(testid) { (value) } }
            }
        }
    }
}

#[get("/ui/admin")]
pub async fn admin(reg: State, req: actix_web::HttpRequest, s: Session<Admins>) -> PageResult {
    let body = admin_body(&reg, &s, None).await?;
    Ok(super::pages::page(
        &req,
        &s.ctx,
        &s.ctx.t("admin-title"),
        body,
    ))
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

/// Creates a user. Without a password the answer shows the user's one-time reset token;
/// with one, the user must change it at first login (API.md v1.1). A third admin waits for
/// a second admin's approval.
#[post("/ui/admin/users")]
pub async fn create_user(
    reg: State,
    s: Session<Admins>,
    form: web::Form<NewUserForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (r, who) = (reg.get_ref().clone(), s.who.clone());
    let username = f.username.trim().to_string();
    let name = username.clone();
    let created = run(move || {
        let password = (!f.password.is_empty()).then_some(f.password.as_str());
        credentials::create_user(&r, &who, &name, password, &f.role)
    })
    .await
    .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let user = [("username", FluentValue::from(username))];
    let n = match created {
        Created::Done(u) => match u.reset_token {
            Some(t) => notice(
                ctx.lang.t_args("admin-user-created-token", &user),
                Some(("reset-token", &t)),
            ),
            None => notice(ctx.lang.t_args("admin-user-created", &user), None),
        },
        Created::Pending { approval_id } => notice(
            ctx.lang.t_args("admin-user-pending", &user),
            Some(("approval-id", &approval_id)),
        ),
    };
    admin_page(&reg, &s, StatusCode::CREATED, Some(n)).await
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
    let n = html! {
        div.notice role="status" data-testid="device-key" {
            p { (s.ctx.t("admin-device-created")) }
            p { code.key { (dev.api_key) } }
        }
    };
    admin_page(&reg, &s, StatusCode::CREATED, Some(n)).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Disables a user: every session of theirs (API or console) ends at once.
#[post("/ui/admin/users/{user_id}/disable")]
pub async fn disable_user(
    reg: State,
    s: Session<Admins>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let (r, who, id) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let v = run(move || credentials::disable_user(&r, &who, &id))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let text = s.ctx.lang.t_args(
        "admin-user-disabled",
        &[("username", FluentValue::from(v.username))],
    );
    admin_page(&reg, &s, StatusCode::OK, Some(notice(text, None))).await
}

/// Issues a user a new one-time reset token, shown once on this answer.
#[post("/ui/admin/users/{user_id}/password-reset")]
pub async fn reset_password(
    reg: State,
    s: Session<Admins>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let (r, who, id) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let token = run(move || credentials::reset_password(&r, &who, &id))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let text = s.ctx.t("admin-reset-issued");
    let n = notice(text, Some(("reset-token", &token)));
    admin_page(&reg, &s, StatusCode::OK, Some(n)).await
}

/// Revokes a device: its key answers `401` from the next request.
#[post("/ui/admin/devices/{device_id}/revoke")]
pub async fn revoke_device(
    reg: State,
    s: Session<Admins>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let (r, who, id) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let v = run(move || credentials::revoke_device(&r, &who, &id))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let text = s.ctx.lang.t_args(
        "admin-device-revoked",
        &[("name", FluentValue::from(v.name))],
    );
    admin_page(&reg, &s, StatusCode::OK, Some(notice(text, None))).await
}

/// Approves (and runs) another admin's request.
#[post("/ui/admin/approvals/{approval_id}/approve")]
pub async fn approve(
    reg: State,
    s: Session<Admins>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let (r, who, id) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let done = run(move || credentials::approve(&r, &who, &id))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let n = match done.reset_token {
        Some(t) => notice(
            s.ctx.t("admin-approved-token"),
            Some(("reset-token", t.as_str())),
        ),
        None => notice(s.ctx.t("admin-approved"), None),
    };
    admin_page(&reg, &s, StatusCode::OK, Some(n)).await
}
