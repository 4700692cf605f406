//! The review console in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`). One chromedriver serves the whole test binary; each test has
//! its own browser session. Status codes the browser cannot show are checked over HTTP.

use crate::common::*;
use crate::evidence::duplicate_pair;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The chromedriver of this test binary: started once, and stopped by a watchdog shell when
/// the test process is gone (the harness has no global tear-down).
fn driver_url() -> &'static str {
    // The watchdog shell is kept here (never waited on: it ends with the test process).
    static DRIVER: OnceLock<(String, std::sync::Mutex<std::process::Child>)> = OnceLock::new();
    &DRIVER
        .get_or_init(|| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("free port");
            let script = format!(
                "chromedriver --port={port} --allowed-ips=127.0.0.1 >/dev/null 2>&1 & cd=$!; \
             while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill $cd",
                pid = std::process::id()
            );
            let child = Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null())
                .spawn()
                .expect("chromedriver (scripts/setup installs chromium-driver)");
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (
                format!("http://127.0.0.1:{port}"),
                std::sync::Mutex::new(child),
            )
        })
        .0
}

/// A browser session and the runtime its client lives on.
pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    pub c: Client,
}

impl Browser {
    pub fn new(width: u32, height: u32) -> Browser {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let url = driver_url();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", format!("--window-size={width},{height}"), "--lang=en-US"],
                "prefs": {"intl.accept_languages": "en-US,en"}
            }),
        );
        let c = rt
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(url),
            )
            .expect("a WebDriver session");
        Browser { rt, c }
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c.goto(url)).expect("goto");
    }
    /// The text of the first element matching `css`, waiting up to ten seconds for it to
    /// appear (the page a click loads may not be there yet when the click returns).
    pub fn text(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..200 {
            match self
                .rt
                .block_on(async { self.c.find(Locator::Css(css)).await?.text().await })
            {
                Ok(t) => return t,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{css}: {last:?}")
    }
    /// [`Browser::count`] once it reaches `n`, or after five seconds of waiting for a page
    /// that a click is still loading.
    pub fn count_when(&self, css: &str, n: usize) -> usize {
        for _ in 0..100 {
            if self.count(css) == n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.count(css)
    }

    pub fn count(&self, css: &str) -> usize {
        self.rt
            .block_on(self.c.find_all(Locator::Css(css)))
            .map(|v| v.len())
            .unwrap_or(0)
    }
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.rt
            .block_on(async { self.c.find(Locator::Css(css)).await?.attr(name).await })
            .unwrap_or(None)
    }
    pub fn fill(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                let e = self.c.find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(value).await
            })
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }
    /// Clicks and waits up to thirty seconds for the page the click loads. The console has
    /// no scripts, so every click in these tests is a link or a form post; the current
    /// document is marked first and the wait ends once a document without the mark has
    /// loaded (a loaded server answers after the click returns, and reading then would see
    /// the old page).
    pub fn click(&self, css: &str) {
        self.script("window.__registro_old_page = true;");
        self.rt
            .block_on(async { self.c.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        for _ in 0..600 {
            let loaded = self
                .rt
                .block_on(self.c.execute(
                    "return window.__registro_old_page === undefined \
                     && document.readyState === 'complete';",
                    vec![],
                ))
                .map(|v| v == serde_json::Value::Bool(true))
                .unwrap_or(false);
            if loaded {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{css}: no page loaded within thirty seconds of the click");
    }
    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c.current_url())
            .expect("url")
            .to_string()
    }
    pub fn script(&self, js: &str) {
        self.rt
            .block_on(self.c.execute(js, vec![]))
            .expect("script");
    }
    pub fn html_lang(&self) -> String {
        self.attr("html", "lang").unwrap_or_default()
    }
    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self.rt.block_on(self.c.screenshot()).expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }
    pub fn resize(&self, w: u32, h: u32) {
        self.rt
            .block_on(self.c.set_window_size(w, h))
            .expect("resize");
    }
    /// The session cookie the browser holds (`HttpOnly`: WebDriver reads it, scripts cannot).
    pub fn session_cookie(&self) -> Option<String> {
        self.rt
            .block_on(self.c.get_named_cookie("registro_session"))
            .ok()
            .map(|c| c.value().to_string())
            .filter(|v| !v.is_empty())
    }
    pub fn login(&self, app: &TestApp, username: &str, password: &str) {
        self.goto(&app.url("/ui/login?lang=en"));
        self.fill("form[data-testid=login] input[name=username]", username);
        self.fill("form[data-testid=login] input[name=password]", password);
        self.click("form[data-testid=login] button[type=submit]");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let c = self.c.clone();
        let _ = self.rt.block_on(c.close());
    }
}

const PASSWORD: &str = "a long enough password";

/// A user of `role` with [`PASSWORD`]; returns the username.
fn named_user(app: &TestApp, role: &str) -> String {
    user_named(app, role, role)
}

/// A user of `role` whose name starts with `prefix`.
fn user_named(app: &TestApp, role: &str, prefix: &str) -> String {
    let username = unique(prefix);
    // Through the reset-token flow: an admin-set password would have to be changed first.
    create_user(
        &agent(),
        &app.base,
        &app.admin_token,
        &username,
        role,
        PASSWORD,
    );
    username
}

/// Status of a console page requested over HTTP (redirects not followed).
fn raw_status(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut rq = agent.get(&app.url(path));
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.call().expect("HTTP request").status().as_u16()
}

/// Status of a console page with `token` as the session cookie.
fn ui_status(app: &TestApp, path: &str, token: &str) -> u16 {
    let cookie = format!("registro_session={token}");
    raw_status(app, path, &[("Cookie", &cookie)])
}

#[test]
fn each_role_logs_in_to_its_own_pages_only() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    duplicate_pair(&app, &scanner, "roles");
    let inv = named_user(&app, "investigator");
    let aud = named_user(&app, "auditor");
    let adm = named_user(&app, "admin");

    let b = Browser::new(1280, 900);
    b.login(&app, &inv, PASSWORD);
    assert!(b.url().ends_with("/ui/cases"), "{}", b.url());
    assert_eq!(b.count("[data-testid=case-row]"), 1);
    b.click("[data-testid=case-row] a");
    assert_eq!(b.count("[data-testid=face-a] img"), 1);
    assert_eq!(b.count("[data-testid=face-b] img"), 1);
    assert_eq!(b.count("[data-testid=finger-pair] svg"), 2);
    assert!(b.count("[data-testid=finger-pair] svg .pairs line") >= 6);
    // The face crops load (the browser fetched them with the session).
    b.script(
        "if (!document.querySelector('[data-testid=face-a] img').naturalWidth) throw 'no image';",
    );
    b.click("form.logout button");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    b.goto(&app.url("/ui/cases"));
    assert!(b.url().contains("/ui/login"), "logged out: {}", b.url());

    b.login(&app, &aud, PASSWORD);
    assert!(b.url().ends_with("/ui/audit"), "{}", b.url());
    assert_eq!(
        b.attr("[data-testid=chain-status]", "data-chain-ok")
            .as_deref(),
        Some("true")
    );
    assert!(b.count("[data-testid=audit-row]") > 5);
    b.goto(&app.url("/ui/stats"));
    assert_eq!(b.count("svg[data-testid=chart]"), 1);
    assert!(b
        .attr("a[data-testid=csv]", "href")
        .unwrap()
        .starts_with("/ui/stats.csv"));
    b.goto(&app.url("/ui/cases"));
    assert_eq!(
        b.count("[data-testid=case-row]"),
        0,
        "an auditor sees no case"
    );
    b.click("form.logout button");

    b.login(&app, &adm, PASSWORD);
    assert!(b.url().ends_with("/ui/admin"), "{}", b.url());
    assert!(b.count("[data-testid=user-row]") >= 4);
    assert_eq!(b.count("[data-testid=device-row]"), 1);
    b.fill(
        "form[data-testid=create-device] input[name=name]",
        "tablet 2",
    );
    b.fill(
        "form[data-testid=create-device] input[name=site]",
        "PA-METETI",
    );
    b.click("form[data-testid=create-device] button");
    assert!(b.text("[data-testid=device-key]").contains("rgd_"));
    assert_eq!(b.count("[data-testid=device-row]"), 2);

    // Over HTTP: each role's pages answer 200 to it and 403 to the others.
    let tokens = [
        ("investigator", app.login(&inv, PASSWORD)),
        ("auditor", app.login(&aud, PASSWORD)),
        ("admin", app.login(&adm, PASSWORD)),
    ];
    let pages: &[(&str, &[&str])] = &[
        ("/ui/cases", &["investigator"]),
        ("/ui/alerts", &["investigator"]),
        ("/ui/records/rec_x", &["investigator"]),
        ("/ui/audit", &["auditor"]),
        ("/ui/stats", &["auditor", "admin"]),
        ("/ui/stats.csv", &["auditor", "admin"]),
        ("/ui/admin", &["admin"]),
    ];
    for (path, allowed) in pages {
        for (role, token) in &tokens {
            let want = if allowed.contains(role) { 200 } else { 403 };
            assert_eq!(ui_status(&app, path, token), want, "{role} {path}");
        }
        // No session: to the login page.
        assert_eq!(raw_status(&app, path, &[]), 303, "{path}");
    }
}

#[test]
fn scanner_credentials_open_no_console_page() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let scanner_user = named_user(&app, "scanner");
    // The device key as a session cookie, or as a bearer token: no page opens.
    for path in ["/ui/", "/ui/cases", "/ui/audit", "/ui/admin", "/ui/stats"] {
        assert_eq!(ui_status(&app, path, &key), 403, "{path}");
        let bearer = format!("Bearer {key}");
        assert_eq!(
            raw_status(&app, path, &[("Authorization", &bearer)]),
            303,
            "a bearer header is no console session: {path}"
        );
    }
    // A scanner account's password at the login form: refused, no session cookie.
    let b = Browser::new(1280, 900);
    b.login(&app, &scanner_user, PASSWORD);
    assert_eq!(b.count("form[data-testid=login]"), 0);
    assert!(
        b.text("main").contains("no access to the console"),
        "{}",
        b.text("main")
    );
    b.goto(&app.url("/ui/cases"));
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    // The denials are in the access log.
    let auditor = app.user("auditor");
    let r = app.get(
        "/api/v1/audit?action=GET%20/ui/cases&limit=100",
        Some(&auditor),
    );
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["status"] == 403));
}

#[test]
fn a_decision_made_in_the_console_is_in_the_audit_view_and_csrf_is_required() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let (_a, _b, case) = duplicate_pair(&app, &scanner, "decide");
    let inv = named_user(&app, "investigator");
    let aud = named_user(&app, "auditor");

    // Over HTTP: a decision posted with the session but without its CSRF token is refused.
    let token = app.login(&inv, PASSWORD);
    let cookie = format!("registro_session={token}");
    let url = app.url(&format!("/ui/cases/{case}/decision"));
    let r = agent()
        .post(&url)
        .header("Cookie", &cookie)
        .content_type("application/x-www-form-urlencoded")
        .send("decision=same_person&note=forged")
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);

    let b = Browser::new(1280, 900);
    b.login(&app, &inv, PASSWORD);
    b.goto(&app.url(&format!("/ui/cases/{case}")));
    // In the browser: the form without its token is refused too, and nothing changes.
    b.script("document.querySelector('form[data-testid=decide] input[name=csrf]').remove();");
    b.fill(
        "form[data-testid=decide] textarea[name=note]",
        "forged in the browser",
    );
    b.click("form[data-testid=decide] button[name=decision][value=same_person]");
    assert!(b.text("main").contains("expired"), "{}", b.text("main"));
    let pending = app.get("/api/v1/matches?status=pending", Some(&token));
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 1);

    // A note is required.
    b.goto(&app.url(&format!("/ui/cases/{case}")));
    b.script("document.querySelector('textarea[name=note]').removeAttribute('required');");
    b.click("form[data-testid=decide] button[name=decision][value=different_person]");
    assert!(b.count_when(".error-summary", 1) == 1, "{}", b.text("main"));
    // Decide for real.
    b.fill(
        "form[data-testid=decide] textarea[name=note]",
        "faces, both index fingers and the date of birth agree",
    );
    b.click("form[data-testid=decide] button[name=decision][value=same_person]");
    assert_eq!(b.count("form[data-testid=decide]"), 0);
    assert!(b.text("[data-testid=decided]").contains("same person"));
    b.goto(&app.url("/ui/cases"));
    assert_eq!(b.count("[data-testid=case-row]"), 0);
    b.click("form.logout button");

    // The auditor finds it in the access log.
    b.login(&app, &aud, PASSWORD);
    b.fill("input[name=action]", "match.decide:same_person");
    b.click("form.filters button");
    assert_eq!(
        b.count("[data-testid=audit-row]"),
        2,
        "one entry per record"
    );
    assert!(b.text("[data-testid=audit-row]").contains(&inv));
    assert_eq!(
        b.attr("[data-testid=chain-status]", "data-chain-ok")
            .as_deref(),
        Some("true")
    );
    // At desktop width the log, record ids included, fits its frame without scrolling sideways.
    b.resize(1280, 900);
    b.script(
        "const w = document.querySelector('.table-wrap');
         if (w.scrollWidth > w.clientWidth + 1) throw 'the access log scrolls sideways';",
    );
}

/// Access-log entries with `action`, newest first, as an auditor reads them over the API.
fn audit_entries(app: &TestApp, auditor: &str, action: &str) -> Vec<serde_json::Value> {
    let r = app.get(
        &format!("/api/v1/audit?action={action}&limit=100"),
        Some(auditor),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

/// A console form posted over HTTP with `token` as the session and its CSRF field.
fn ui_post(app: &TestApp, path: &str, token: &str, form: &str) -> Resp {
    let csrf = registro::web::session::csrf_for(token);
    let r = agent()
        .post(&app.url(path))
        .header("Cookie", &format!("registro_session={token}"))
        .content_type("application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}&{form}"))
        .expect("post");
    let status = r.status().as_u16();
    let text = r.into_body().read_to_string().unwrap_or_default();
    Resp {
        status,
        body: serde_json::Value::Null,
        text,
        headers: vec![],
    }
}

#[test]
fn logout_ends_the_session_on_the_server() {
    let app = TestApp::start();
    let inv = named_user(&app, "investigator");
    let aud = app.user("auditor");
    let b = Browser::new(1280, 900);
    b.login(&app, &inv, PASSWORD);
    assert!(b.url().ends_with("/ui/cases"), "{}", b.url());
    let old = b.session_cookie().expect("a session cookie");
    assert_eq!(ui_status(&app, "/ui/cases", &old), 200);
    b.click("form.logout button");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    // The old cookie, replayed, opens nothing: the token is gone from the server, not only
    // from the browser. It is no API bearer either.
    assert_eq!(ui_status(&app, "/ui/cases", &old), 303);
    assert_eq!(app.get("/api/v1/sites", Some(&old)).status, 401);
    // Logged as the API's logout logs it.
    let mine: Vec<_> = audit_entries(&app, &aud, "auth.logout")
        .into_iter()
        .filter(|e| e["actor"] == inv.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["status"], 204);
}

#[test]
fn admin_disables_a_user_revokes_a_device_and_issues_a_reset_token() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = named_user(&app, "investigator");
    let aud = named_user(&app, "auditor");
    let adm = named_user(&app, "admin");
    assert_eq!(app.get("/api/v1/sites", Some(&key)).status, 200);

    // The investigator is working in their own browser.
    let bi = Browser::new(1280, 900);
    bi.login(&app, &inv, PASSWORD);
    assert!(bi.url().ends_with("/ui/cases"), "{}", bi.url());
    let inv_cookie = bi.session_cookie().expect("session");

    let b = Browser::new(1280, 900);
    b.login(&app, &adm, PASSWORD);
    assert!(b.url().ends_with("/ui/admin"), "{}", b.url());
    // No disable button for one's own account.
    let own = format!("tr[data-username='{adm}'] form[data-testid=disable-user]");
    assert_eq!(b.count(&own), 0);

    // Disable the investigator: their open console session stops working.
    let row = format!("tr[data-username='{inv}']");
    b.click(&format!("{row} form[data-testid=disable-user] button"));
    assert!(
        b.text("[data-testid=admin-notice]").contains(&inv),
        "{}",
        b.text("main")
    );
    assert_eq!(
        b.attr(&row, "data-status").as_deref(),
        Some("disabled"),
        "the row shows it"
    );
    assert_eq!(b.count(&format!("{row} form")), 0);
    bi.goto(&app.url("/ui/cases"));
    assert!(bi.url().contains("/ui/login"), "disabled: {}", bi.url());
    assert_eq!(ui_status(&app, "/ui/cases", &inv_cookie), 303);
    // And they cannot sign in again.
    bi.login(&app, &inv, PASSWORD);
    assert_eq!(bi.count("form[data-testid=login]"), 1);

    // Revoke the device: its key gets 401 over the API.
    b.click("tr[data-testid=device-row] form[data-testid=revoke-device] button");
    assert!(b.text("[data-testid=admin-notice]").contains("tablet"));
    assert_eq!(
        b.attr("tr[data-testid=device-row]", "data-status")
            .as_deref(),
        Some("revoked")
    );
    assert_eq!(app.get("/api/v1/sites", Some(&key)).status, 401);

    // A reset token for the auditor, shown once; the auditor sets a new password with it
    // on the password page and signs in with that.
    let row = format!("tr[data-username='{aud}']");
    b.click(&format!("{row} form[data-testid=reset-user] button"));
    let token = b.text("[data-testid=reset-token]");
    assert!(token.starts_with("rgr_"), "{token}");
    let ba = Browser::new(1280, 900);
    ba.goto(&app.url("/ui/login?lang=en"));
    ba.click("a[href='/ui/password?reset=1']");
    ba.fill("form[data-testid=password] input[name=username]", &aud);
    ba.fill("form[data-testid=password] input[name=reset_token]", &token);
    ba.fill(
        "form[data-testid=password] input[name=new_password]",
        "another long passphrase",
    );
    ba.click("form[data-testid=password] button");
    assert_eq!(
        ba.count("[data-testid=password-changed]"),
        1,
        "{}",
        ba.url()
    );
    ba.login(&app, &aud, "another long passphrase");
    assert!(ba.url().ends_with("/ui/audit"), "{}", ba.url());
    // Used once: the same token again is refused.
    ba.goto(&app.url("/ui/password?reset=1&lang=en"));
    ba.fill("form[data-testid=password] input[name=username]", &aud);
    ba.fill("form[data-testid=password] input[name=reset_token]", &token);
    ba.fill(
        "form[data-testid=password] input[name=new_password]",
        "yet another passphrase",
    );
    ba.click("form[data-testid=password] button");
    assert_eq!(ba.count(".error-summary"), 1);

    // Each action is in the access log as the API writes it.
    let auditor = app.login(&aud, "another long passphrase");
    for action in ["user.disable", "device.revoke", "user.password_reset"] {
        let by_adm = audit_entries(&app, &auditor, action)
            .into_iter()
            .filter(|e| e["actor"] == adm.as_str() && e["status"] == 200)
            .count();
        assert_eq!(by_adm, 1, "{action}");
    }

    // An action without the session's CSRF token changes nothing.
    let adm_token = app.login(&adm, PASSWORD);
    let r = agent()
        .post(&app.url(&format!(
            "/ui/admin/users/{}/password-reset",
            "usr_anything"
        )))
        .header("Cookie", &format!("registro_session={adm_token}"))
        .content_type("application/x-www-form-urlencoded")
        .send("csrf=")
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
}

#[test]
fn a_third_admin_waits_for_a_second_admins_approval() {
    let app = TestApp::start();
    // The bootstrap admin and this one: two admins, so a third needs four eyes.
    let adm = named_user(&app, "admin");
    let newcomer = unique("admin");
    let b = Browser::new(1280, 900);
    b.login(&app, &adm, PASSWORD);
    b.fill(
        "form[data-testid=create-user] input[name=username]",
        &newcomer,
    );
    b.script("document.querySelector('#nu-role').value = 'admin';");
    b.click("form[data-testid=create-user] button");
    let approval = b.text("[data-testid=approval-id]");
    assert!(approval.starts_with("apr_"), "{}", b.text("main"));
    let row = format!("tr[data-approval-id='{approval}']");
    assert!(b.text(&row).contains(&newcomer));
    // The one who asked cannot approve.
    assert_eq!(b.count(&format!("{row} form[data-testid=approve]")), 0);
    assert!(app
        .get("/api/v1/users?limit=100", Some(&app.admin_token))
        .text
        .find(&newcomer)
        .is_none());

    // The other admin approves it from the console page; the new admin's reset token is shown.
    let page = ui_status(&app, "/ui/admin", &app.admin_token);
    assert_eq!(page, 200);
    let r = ui_post(
        &app,
        &format!("/ui/admin/approvals/{approval}/approve"),
        &app.admin_token,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("data-testid=\"reset-token\""), "{}", r.text);
    assert!(!r.text.contains(&format!("data-approval-id=\"{approval}\"")));
    let users = app.get("/api/v1/users?limit=100", Some(&app.admin_token));
    assert!(users.text.contains(&newcomer));
    let auditor = app.user("auditor");
    assert_eq!(
        audit_entries(&app, &auditor, "approval.approve:user.create").len(),
        1
    );
    // Approved once: a second approval is refused.
    let again = ui_post(
        &app,
        &format!("/ui/admin/approvals/{approval}/approve"),
        &app.admin_token,
        "",
    );
    assert_ne!(again.status, 200);
}

/// Every English message that differs from its Spanish one, long enough to be a phrase.
/// Whether `phrase` stands in `text` as whole words: "Document" is not left in "Documento",
/// and an access-log action code such as `user.create:investigator` is data, not a sentence.
fn contains_words(text: &str, phrase: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '.' | ':' | '_');
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn english_only_phrases() -> Vec<String> {
    use registro::web::i18n::{message_ids, sources, Lang};
    let [(_, es_src), _] = sources();
    message_ids(es_src)
        .into_iter()
        // The switch names each language in that language, marked with its own `lang`.
        .filter(|k| *k != "lang-name")
        .map(|k| (Lang::En.t(k), Lang::Es.t(k)))
        .filter(|(en, es)| en != es && en.chars().count() >= 5 && !en.contains('{'))
        .map(|(en, _)| en)
        .collect()
}

#[test]
fn the_spanish_pages_have_no_english_left() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let (a, _b, case) = duplicate_pair(&app, &scanner, "es");
    // Names that are not English words: user names are data, shown as they are.
    let inv = user_named(&app, "investigator", "ines");
    let aud = user_named(&app, "auditor", "aurora");
    let adm = user_named(&app, "admin", "adela");
    let english = english_only_phrases();
    assert!(english.len() > 100);

    let b = Browser::new(1280, 900);
    let check = |b: &Browser, what: &str| {
        assert_eq!(b.html_lang(), "es", "{what}");
        let text = b.text("body");
        for phrase in &english {
            assert!(
                !contains_words(&text, phrase),
                "{what}: English left: {phrase:?}"
            );
        }
    };
    b.goto(&app.url("/ui/login?lang=es"));
    check(&b, "login");
    b.fill("input[name=username]", &inv);
    b.fill("input[name=password]", "wrong password, surely");
    b.click("form[data-testid=login] button");
    check(&b, "failed login");
    b.fill("input[name=username]", &inv);
    b.fill("input[name=password]", PASSWORD);
    b.click("form[data-testid=login] button");
    // The language chosen at login stays (cookie) without ?lang=.
    b.goto(&app.url("/ui/cases"));
    check(&b, "queue");
    b.goto(&app.url(&format!("/ui/cases/{case}")));
    check(&b, "case");
    b.goto(&app.url("/ui/alerts"));
    check(&b, "alerts");
    b.goto(&app.url(&format!("/ui/records/{a}")));
    check(&b, "purpose");
    b.fill(
        "form[data-testid=purpose] input[name=purpose]",
        "revisión de caso",
    );
    b.click("form[data-testid=purpose] button");
    check(&b, "record");
    assert!(b.text("[data-testid=record]").contains("Ana"));
    b.click("form.logout button");
    for (user, pages) in [
        (&aud, &["/ui/audit", "/ui/stats"][..]),
        (&adm, &["/ui/admin"][..]),
    ] {
        b.goto(&app.url("/ui/login?lang=es"));
        b.fill("input[name=username]", user);
        b.fill("input[name=password]", PASSWORD);
        b.click("form[data-testid=login] button");
        for p in pages {
            b.goto(&app.url(p));
            check(&b, p);
        }
        b.click("form.logout button");
    }
    // The switch turns the same page English.
    b.goto(&app.url("/ui/login?lang=en"));
    assert_eq!(b.html_lang(), "en");
    assert!(b.text("body").contains("Sign in"));
}

/// Screenshots for the README: `REGISTRO_SCREENSHOTS=docs cargo test --test main console::`
/// writes the queue and a case page at phone and desktop widths. Without the variable the
/// pages are still rendered and checked at both widths.
#[test]
fn queue_and_case_pages_at_phone_and_desktop_widths() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let (_a, _b, case) = duplicate_pair(&app, &scanner, "shots");
    // A short name, as people have (the tests' unique names are 40 characters).
    let inv = "ines.r".to_string();
    create_user(
        &agent(),
        &app.base,
        &app.admin_token,
        &inv,
        "investigator",
        PASSWORD,
    );
    let out = std::env::var("REGISTRO_SCREENSHOTS")
        .ok()
        .map(std::path::PathBuf::from);
    let b = Browser::new(1280, 900);
    b.login(&app, &inv, PASSWORD);
    for (name, w, h) in [("phone", 360u32, 2600u32), ("desktop", 1280, 2000)] {
        b.resize(w, h);
        b.goto(&app.url("/ui/cases?lang=en"));
        assert_eq!(b.count("[data-testid=case-row]"), 1);
        // Nothing is wider than the window.
        b.script(
            "if (document.documentElement.scrollWidth > window.innerWidth + 1) throw 'overflow';",
        );
        if let Some(dir) = &out {
            b.resize(w, if w < 400 { 1000 } else { 600 });
            b.screenshot(&dir.join(format!("console-queue-{name}.png")));
            b.resize(w, h);
        }
        b.goto(&app.url(&format!("/ui/cases/{case}")));
        assert_eq!(b.count("[data-testid=finger-pair] svg"), 2);
        b.script(
            "if (document.documentElement.scrollWidth > window.innerWidth + 1) throw 'overflow';",
        );
        // The two faces are side by side at both widths, as an examiner compares them.
        b.script(
            "const [a, b] = ['face-a', 'face-b'].map(t => document.querySelector(`[data-testid=${t}] img`).getBoundingClientRect());
             if (Math.abs(a.top - b.top) > 1 || a.right > b.left || a.width < 100) throw 'faces not side by side';",
        );
        if let Some(dir) = &out {
            b.script("window.scrollTo(0, 0);");
            b.screenshot(&dir.join(format!("console-case-{name}.png")));
        }
    }
}
