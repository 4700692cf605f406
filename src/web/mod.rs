//! The review console at `/ui/`: server-rendered pages (maud), translated (Fluent, es and
//! en), with one embedded stylesheet and no script. It calls the same service functions as
//! the API, under the same roles, so the access log records the console like any client.
//! See `docs/CONSOLE.md`.

pub mod admin;
pub mod assets;
pub mod i18n;
pub mod oversight;
pub mod pages;
pub mod password;
pub mod review;
pub mod session;
pub mod svg;

use actix_web::web;

/// Every (method, path) of the console: HTML pages, not part of the JSON API or its
/// OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/ui"),
    ("GET", "/ui/"),
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
    ("GET", "/ui/password"),
    ("POST", "/ui/password"),
    ("GET", "/ui/assets/{name}"),
    ("GET", "/ui/cases"),
    ("GET", "/ui/cases/{case_id}"),
    ("POST", "/ui/cases/{case_id}/decision"),
    ("GET", "/ui/images/{record_id}/{field}"),
    ("GET", "/ui/records/{record_id}"),
    ("POST", "/ui/records/{record_id}"),
    ("GET", "/ui/alerts"),
    ("GET", "/ui/audit"),
    ("GET", "/ui/stats"),
    ("GET", "/ui/stats.csv"),
    ("GET", "/ui/admin"),
    ("POST", "/ui/admin/users"),
    ("POST", "/ui/admin/devices"),
    ("POST", "/ui/admin/users/{user_id}/disable"),
    ("POST", "/ui/admin/users/{user_id}/password-reset"),
    ("POST", "/ui/admin/devices/{device_id}/revoke"),
    ("POST", "/ui/admin/approvals/{approval_id}/approve"),
];

/// Registers the console's routes (the `Registro` state comes from `http::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pages::root)
        .service(pages::home)
        .service(pages::login_page)
        .service(pages::login_submit)
        .service(pages::logout)
        .service(password::password_page)
        .service(password::password_submit)
        .service(assets::asset)
        .service(review::queue)
        .service(review::case_page)
        .service(review::decide)
        .service(review::image)
        .service(review::record_purpose)
        .service(review::record_page)
        .service(review::alerts)
        .service(oversight::audit)
        .service(oversight::stats_page)
        .service(oversight::stats_csv)
        .service(admin::admin)
        .service(admin::create_user)
        .service(admin::create_device)
        .service(admin::disable_user)
        .service(admin::reset_password)
        .service(admin::revoke_device)
        .service(admin::approve);
}
