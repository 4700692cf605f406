//! Issue 14, authentication side: bounded work before authentication, the credential
//! lifecycle, four eyes, the device's site and clock, headers, forwarded addresses and TLS.
//! Each test failed on the main branch before this work.

use crate::common::*;
use registro::service::auth;
use serde_json::{json, Value};

fn audit_items(app: &TestApp, auditor: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/audit?limit=1000&{query}"), Some(auditor));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn denied_count(e: &Value) -> u64 {
    e["purpose"]
        .as_str()
        .and_then(|p| p.strip_prefix("denied.count="))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn long_usernames_are_a_plain_401_and_nothing_of_them_is_kept() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    let (keys_before, _) = app.reg.auth.failure_map_size();
    let runs_before = app.reg.auth.argon2_runs();
    // 65 characters up to 4 MB: each a plain 401, no Argon2 run, nothing in the failure map.
    for len in [65usize, 1000, 15_000, 4 << 20] {
        let name = "q".repeat(len);
        let r = app.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": name, "password": "whatever it is"}),
        );
        assert_eq!(r.status, 401, "{len}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "invalid_credentials");
    }
    assert_eq!(
        app.reg.auth.argon2_runs(),
        runs_before,
        "no Argon2 for them"
    );
    assert_eq!(app.reg.auth.failure_map_size().0, keys_before);
    // The access log counts them as anonymous failures; no part of the name is in it.
    let log = audit_items(&app, &auditor, "action=auth.login");
    let failed: Vec<_> = log.iter().filter(|e| e["outcome"] == "failed").collect();
    assert!(failed.iter().all(|e| e["actor"] == "anonymous"), "{log:?}");
    assert_eq!(failed.iter().map(|e| denied_count(e)).sum::<u64>(), 4);
    assert!(!serde_json::to_string(&log).unwrap().contains("qqqq"));
}

#[test]
fn denied_requests_are_counted_and_written_in_one_entry_not_one_write_each() {
    let app = TestApp::start_with(|c| c.denied_flush_ms = 3_600_000);
    let auditor = app.user("auditor");
    let investigator = app.user("investigator");
    let rows = app.count("audit_log");
    for _ in 0..30 {
        assert_eq!(app.get("/api/v1/matches", Some("rgt_nope")).status, 401);
    }
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/audit", Some(&investigator)).status, 403);
    }
    assert_eq!(
        app.count("audit_log"),
        rows,
        "nothing written per denied request"
    );
    assert!(app.reg.auth.denied_pending() >= 2);
    // Reading the log writes what was counted first, with the counts.
    let unauth = audit_items(&app, &auditor, "action=GET%20/api/v1/matches");
    assert_eq!(
        unauth.iter().map(denied_count).sum::<u64>(),
        30,
        "{unauth:?}"
    );
    assert!(unauth.len() <= 2, "one entry per minute: {unauth:?}");
    assert!(unauth
        .iter()
        .all(|e| e["status"] == 401 && e["outcome"] == "denied"));
    let forbidden = audit_items(&app, &auditor, "action=GET%20/api/v1/audit");
    let f: Vec<_> = forbidden.iter().filter(|e| e["status"] == 403).collect();
    assert_eq!(f.iter().map(|e| denied_count(e)).sum::<u64>(), 5);
    assert!(f.iter().all(|e| e["role"] == "investigator"));
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true, "{}", v.text);
}

#[test]
fn unknown_malformed_and_revoked_device_keys_cost_no_argon2() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let id = key.split('_').nth(1).unwrap().to_string();
    // The real key works (its one Argon2 run is cached).
    assert_eq!(
        app.post("/api/v1/identify", Some(&key), &json!({})).status,
        422
    );
    let runs = app.reg.auth.argon2_runs();
    let secret43 = "A".repeat(43);
    let other_id = "0123456789abcdef0123456789abcdef";
    for bad in [
        "rgd_junk".to_string(),
        format!("rgd_{id}_short"),
        format!("rgd_{id}_{}", "B".repeat(44)),
        format!("rgd_{}_{secret43}", id.to_uppercase()),
        format!("rgd_{other_id}_{secret43}"),
        format!("rgd_{id}_{secret43}!"),
    ] {
        let r = app.post("/api/v1/identify", Some(&bad), &json!({}));
        assert_eq!(r.status, 401, "{bad}");
    }
    assert_eq!(
        app.reg.auth.argon2_runs(),
        runs,
        "no Argon2 for unknown or malformed keys"
    );
    // Wrong secrets for a known id: Argon2 at most DEVICE_MISS_BUDGET times a minute.
    for i in 0..40 {
        let wrong = format!("rgd_{id}_{:0>43}", i);
        assert_eq!(
            app.post("/api/v1/identify", Some(&wrong), &json!({}))
                .status,
            401
        );
    }
    let spent = app.reg.auth.argon2_runs() - runs;
    let budget = auth::DEVICE_MISS_BUDGET as u64;
    // (Twice the budget at most: the minute may roll over once during the loop.)
    assert!(
        (budget..=2 * budget).contains(&spent),
        "{spent} Argon2 runs for 40 wrong keys"
    );
    // The device itself keeps working during the flood.
    assert_eq!(
        app.post("/api/v1/identify", Some(&key), &json!({})).status,
        422
    );
    // Revoked: refused at once, without Argon2.
    let r = app.post(
        &format!("/api/v1/devices/{id}/revoke"),
        Some(&app.admin_token),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = app.reg.auth.argon2_runs();
    assert_eq!(
        app.post("/api/v1/identify", Some(&key), &json!({})).status,
        401
    );
    assert_eq!(app.reg.auth.argon2_runs(), runs);
}

#[test]
fn users_set_their_own_passwords_and_admin_set_ones_must_be_changed() {
    let app = TestApp::start();
    let admin = app.admin_token.clone();
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "ana.ruiz", "role": "investigator"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let reset = r.body["reset_token"].as_str().unwrap().to_string();
    assert!(r.body["user_id"].as_str().unwrap().starts_with("usr_"));
    // No password yet: nothing logs in.
    let login = |pw: &str| {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "ana.ruiz", "password": pw}),
        )
    };
    assert_eq!(login(TEST_PASSWORD).status, 401);
    let set = |proof: Value, new: &str| {
        let mut b = json!({"username": "ana.ruiz", "new_password": new});
        b.as_object_mut()
            .unwrap()
            .extend(proof.as_object().unwrap().clone());
        app.post("/api/v1/auth/password", None, &b)
    };
    for weak in [
        "short",
        "passwordpassword",
        "QWERTY123456",
        "my-Ana.Ruiz-pass",
        "123456789012",
    ] {
        let r = set(json!({"reset_token": reset}), weak);
        assert_eq!(r.status, 422, "{weak}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "weak_password");
    }
    assert_eq!(
        set(json!({"reset_token": "rgr_wrong"}), TEST_PASSWORD).status,
        401
    );
    assert_eq!(
        set(json!({"reset_token": reset}), TEST_PASSWORD).status,
        204
    );
    assert_eq!(
        set(json!({"reset_token": reset}), "another long passphrase").status,
        401,
        "once"
    );
    let ok = login(TEST_PASSWORD);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["must_change_password"], false);

    // An admin-set password: the first login's token is good only for changing it.
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "ben.diaz", "password": "set by the admin 42", "role": "investigator"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let first = app.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "ben.diaz", "password": "set by the admin 42"}),
    );
    assert_eq!(first.status, 200);
    assert_eq!(first.body["must_change_password"], true);
    let scoped = first.body["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/matches", Some(scoped)).status, 401);
    let r = app.post(
        "/api/v1/auth/password",
        None,
        &json!({"username": "ben.diaz", "current_password": "set by the admin 42", "new_password": "ben chose this one"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let token = app.login("ben.diaz", "ben chose this one");
    assert_eq!(app.get("/api/v1/matches", Some(&token)).status, 200);
    assert_eq!(
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "ben.diaz", "password": "set by the admin 42"})
        )
        .status,
        401
    );
}

#[test]
fn logout_and_a_password_change_end_sessions() {
    let app = TestApp::start();
    let username = unique("inv");
    create_user(
        &agent(),
        &app.base,
        &app.admin_token,
        &username,
        "investigator",
        TEST_PASSWORD,
    );
    let t1 = app.login(&username, TEST_PASSWORD);
    let t2 = app.login(&username, TEST_PASSWORD);
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&t1), &json!({}))
            .status,
        204
    );
    assert_eq!(app.get("/api/v1/matches", Some(&t1)).status, 401);
    assert_eq!(app.get("/api/v1/matches", Some(&t2)).status, 200);
    let r = app.post(
        "/api/v1/auth/password",
        None,
        &json!({"username": username, "current_password": TEST_PASSWORD, "new_password": "a different passphrase"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/matches", Some(&t2)).status,
        401,
        "other tokens end"
    );
    let wrong = app.post(
        "/api/v1/auth/password",
        None,
        &json!({"username": username, "current_password": "not the password", "new_password": "yet another passphrase"}),
    );
    assert_eq!(wrong.status, 401);
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let r = app.post("/api/v1/auth/logout", Some(&key), &json!({}));
    assert_eq!(r.body["error"]["code"], "not_a_session");
}

#[test]
fn disabling_resetting_and_revoking_take_effect_at_once_on_every_node() {
    let a = TestApp::start();
    let cfg = test_config(&a.dir, &a.db_url);
    let b = TestApp::start_on(a.dir.clone(), a.db_url.clone(), cfg);
    let admin = a.admin_token.clone();
    let r = a.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "carla.vega", "role": "investigator"}),
    );
    let user_id = r.body["user_id"].as_str().unwrap().to_string();
    let reset = r.body["reset_token"].as_str().unwrap();
    let r = b.post(
        "/api/v1/auth/password",
        None,
        &json!({"username": "carla.vega", "reset_token": reset, "new_password": TEST_PASSWORD}),
    );
    assert_eq!(r.status, 204, "a reset token works on any node: {}", r.text);
    let on_a = a.login("carla.vega", TEST_PASSWORD);
    let on_b = b.login("carla.vega", TEST_PASSWORD);
    let r = a.post(
        &format!("/api/v1/users/{user_id}/password-reset"),
        Some(&admin),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let reset2 = r.body["reset_token"].as_str().unwrap().to_string();
    let r = a.post(
        &format!("/api/v1/users/{user_id}/disable"),
        Some(&admin),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(a.get("/api/v1/matches", Some(&on_a)).status, 401);
    assert_eq!(
        b.get("/api/v1/matches", Some(&on_b)).status,
        401,
        "at once on node B too"
    );
    assert_eq!(
        b.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "carla.vega", "password": TEST_PASSWORD})
        )
        .status,
        401
    );
    let r = b.post(
        "/api/v1/auth/password",
        None,
        &json!({"username": "carla.vega", "reset_token": reset2, "new_password": "another long passphrase"}),
    );
    assert_eq!(r.status, 401, "a disabled user's reset token is void");
    let users = a.get("/api/v1/users", Some(&admin));
    assert_eq!(users.status, 200);
    let carla = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(carla["disabled"], true);
    assert_eq!(carla["role"], "investigator");
    assert!(carla.get("password_hash").is_none());

    // A device used on node B, revoked on node A.
    let r = a.post(
        "/api/v1/devices",
        Some(&admin),
        &json!({"name": "van", "site": "PA-METETI", "mobile_sites": ["PA-DARIEN-LAJASBLANCAS"]}),
    );
    let key = r.body["api_key"].as_str().unwrap().to_string();
    let device_id = r.body["device_id"].as_str().unwrap().to_string();
    assert_eq!(
        b.post("/api/v1/identify", Some(&key), &json!({})).status,
        422
    );
    let r = a.post(
        &format!("/api/v1/devices/{device_id}/revoke"),
        Some(&admin),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        b.post("/api/v1/identify", Some(&key), &json!({})).status,
        401
    );
    let devices = a.get("/api/v1/devices", Some(&admin));
    let van = devices.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(van["revoked"], true);
    assert_eq!(van["mobile_sites"], json!(["PA-DARIEN-LAJASBLANCAS"]));
    assert_eq!(
        a.post("/api/v1/users/usr_none/disable", Some(&admin), &json!({}))
            .status,
        404
    );
}

#[test]
fn once_two_admins_exist_admins_and_deletions_need_a_second_one() {
    let app = TestApp::start();
    let admin1 = app.admin_token.clone();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    // One admin: a second one is created at once.
    let name2 = unique("admin");
    create_user(&agent(), &app.base, &admin1, &name2, "admin", TEST_PASSWORD);
    let admin2 = app.login(&name2, TEST_PASSWORD);
    // Two admins: a third needs approval.
    let users_before = app.count("users");
    let r = app.post(
        "/api/v1/users",
        Some(&admin1),
        &json!({"username": "third.admin", "role": "admin"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let approval = r.body["approval_id"].as_str().unwrap().to_string();
    assert_eq!(app.count("users"), users_before, "nothing created yet");
    let own = app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(&admin1),
        &json!({}),
    );
    assert_eq!(own.status, 403);
    assert_eq!(own.body["error"]["code"], "self_approval");
    let ok = app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(&admin2),
        &json!({}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.body["reset_token"].as_str().is_some());
    assert_eq!(app.count("users"), users_before + 1);
    let again = app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(&admin2),
        &json!({}),
    );
    assert_eq!(again.status, 409);
    // Other roles still at once.
    let r = app.post(
        "/api/v1/users",
        Some(&admin1),
        &json!({"username": "dora.inv", "role": "investigator"}),
    );
    assert_eq!(r.status, 201);

    // A deletion waits for the second admin.
    let e = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("fe-1", 4242, json!({"family_names": "Soto"})),
    );
    assert_eq!(e.status, 201, "{}", e.text);
    let rid = e.body["record_id"].as_str().unwrap().to_string();
    let d = app.post(
        &format!("/api/v1/records/{rid}/delete"),
        Some(&admin1),
        &json!({"reason": "erasure request 7"}),
    );
    assert_eq!(d.status, 202, "{}", d.text);
    let approval = d.body["approval_id"].as_str().unwrap().to_string();
    let read = |token: &str| {
        app.request(
            "GET",
            &format!("/api/v1/records/{rid}"),
            Some(token),
            &[("X-Purpose", "four eyes test")],
            None,
        )
    };
    assert_eq!(read(&inv).status, 200, "still there until approved");
    let ok = app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(&admin2),
        &json!({}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["record_id"], rid.as_str());
    assert!(read(&inv).status >= 400, "deleted after approval");
    let log = audit_items(&app, &auditor, &format!("record_id={rid}"));
    let actions: Vec<&str> = log.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(
        actions.contains(&"approval.request:record.delete"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"approval.approve:record.delete"),
        "{actions:?}"
    );
}

fn without_time(mut b: Value) -> Value {
    b.as_object_mut().unwrap().remove("captured_at");
    b.as_object_mut().unwrap().remove("site");
    b
}

#[test]
fn the_devices_site_and_registration_bound_what_it_may_claim() {
    let app = TestApp::start();
    let inv = app.user("investigator");
    // Registered now (not back-dated as the shared helper does).
    let r = app.post(
        "/api/v1/devices",
        Some(&app.admin_token),
        &json!({"name": "desk", "site": "PA-METETI"}),
    );
    let fixed = r.body["api_key"].as_str().unwrap().to_string();
    let r = app.post(
        "/api/v1/devices",
        Some(&app.admin_token),
        &json!({"name": "van", "site": "PA-METETI", "mobile_sites": ["PA-DARIEN-LAJASBLANCAS"]}),
    );
    let mobile = r.body["api_key"].as_str().unwrap().to_string();
    let before = app.count("records");
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let cases = [
        (json!({"site": "PA-DARIEN-LAJASBLANCAS"}), "site_mismatch"),
        (json!({"captured_at": future}), "bad_captured_at"),
        (
            json!({"captured_at": "2026-11-28T14:03:00Z"}),
            "bad_captured_at",
        ),
    ];
    for (i, (extra, code)) in cases.iter().enumerate() {
        let mut b = without_time(enrollment(&format!("tr-{i}"), 900 + i as u64, json!({})));
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.post("/api/v1/enrollments", Some(&fixed), &b);
        assert_eq!(r.status, 422, "{extra}: {}", r.text);
        assert_eq!(r.body["error"]["code"], *code, "{}", r.text);
    }
    let r = app.post(
        "/api/v1/identify",
        Some(&fixed),
        &json!({"site": "CO-NECOCLI", "fingerprints": [synthetic_finger(2, 1)]}),
    );
    assert_eq!(r.body["error"]["code"], "site_mismatch", "{}", r.text);
    let batch = app.post(
        "/api/v1/enrollments/batch",
        Some(&fixed),
        &json!({"enrollments": [{"capture_id": "tr-b", "site": "CO-NECOCLI", "fingerprints": [synthetic_finger(2, 77)]}]}),
    );
    assert_eq!(
        batch.body["results"][0]["error"]["code"], "site_mismatch",
        "{}",
        batch.text
    );
    assert_eq!(app.count("records"), before, "nothing written");
    // No site: the device's; a mobile device at one of its sites; a clock a little ahead.
    let mut b = without_time(enrollment("tr-ok-1", 950, json!({})));
    b["captured_at"] = json!(soon);
    assert_eq!(
        app.post("/api/v1/enrollments", Some(&fixed), &b).status,
        201
    );
    let mut b = without_time(enrollment("tr-ok-2", 960, json!({})));
    b["site"] = json!("PA-DARIEN-LAJASBLANCAS");
    let r = app.post("/api/v1/enrollments", Some(&mobile), &b);
    assert_eq!(r.status, 201, "{}", r.text);
    let rec = app.request(
        "GET",
        &format!("/api/v1/records/{}", r.body["record_id"].as_str().unwrap()),
        Some(&inv),
        &[("X-Purpose", "site check")],
        None,
    );
    assert_eq!(
        rec.body["enrollments"][0]["site"], "PA-DARIEN-LAJASBLANCAS",
        "{}",
        rec.text
    );
    // Investigators keep naming sites and past times, but not the future.
    let r = app.post(
        "/api/v1/enrollments",
        Some(&inv),
        &enrollment("tr-inv-1", 970, json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let mut b = enrollment("tr-inv-2", 980, json!({}));
    b["captured_at"] = json!(future);
    assert_eq!(
        app.post("/api/v1/enrollments", Some(&inv), &b).body["error"]["code"],
        "bad_captured_at"
    );
}

#[test]
fn answers_carry_no_store_and_nosniff_and_forwarded_for_needs_a_trusted_proxy() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    let h = |r: &Resp, name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    for (path, token) in [
        ("/api/v1/users", Some(app.admin_token.as_str())),
        ("/api/v1/matches", None),
    ] {
        let r = app.get(path, token);
        assert_eq!(
            h(&r, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            h(&r, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
    assert_eq!(
        h(&app.get("/healthz", None), "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let login_from = |app: &TestApp, name: &str| {
        create_user(
            &agent(),
            &app.base,
            &app.admin_token,
            name,
            "investigator",
            TEST_PASSWORD,
        );
        let r = app.request(
            "POST",
            "/api/v1/auth/login",
            None,
            &[("X-Forwarded-For", "203.0.113.9")],
            Some(&json!({"username": name, "password": TEST_PASSWORD})),
        );
        assert_eq!(r.status, 200);
    };
    login_from(&app, "xff.untrusted");
    let e = audit_items(&app, &auditor, "actor=xff.untrusted&action=auth.login");
    assert_eq!(
        e[0]["remote_addr"], "127.0.0.1",
        "the header is ignored from anyone"
    );

    let proxied = TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".into()]);
    let auditor = proxied.user("auditor");
    login_from(&proxied, "xff.trusted");
    let e = audit_items(&proxied, &auditor, "actor=xff.trusted&action=auth.login");
    assert_eq!(
        e[0]["remote_addr"], "203.0.113.9",
        "believed from a trusted proxy"
    );
}

#[test]
fn serves_https_with_the_configured_certificate() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("self-signed certificate");
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let mut cfg = test_config(&dir, &url);
    cfg.tls_cert = Some(dir.join("cert.pem"));
    cfg.tls_key = Some(dir.join("key.pem"));
    let reg = registro::service::Registro::open(cfg).expect("open");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = registro::http::server(reg, listener, 1).expect("TLS server");
            tx.send(server.handle()).ok();
            server.await.ok();
        })
    });
    let handle = rx.recv().unwrap();
    let root = ureq::tls::Certificate::from_der(ck.cert.der().as_ref()).to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
            root,
        ])))
        .build();
    let https: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into();
    let r = https
        .get(&format!("https://localhost:{port}/healthz"))
        .call()
        .expect("HTTPS");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    // Plain HTTP on the TLS port gets no HTTP answer, and an unknown certificate is refused.
    assert!(agent()
        .get(&format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .map(|r| r.status().as_u16() != 200)
        .unwrap_or(true));
    assert!(agent()
        .get(&format!("https://localhost:{port}/healthz"))
        .call()
        .is_err());
    std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
}
