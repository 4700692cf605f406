use crate::common::*;
use serde_json::json;

/// Every (method, route) × role: none → 401, a role API.md does not allow → 403, an allowed
/// role → neither.
#[test]
fn route_role_table() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let investigator = app.user("investigator");
    let auditor = app.user("auditor");
    let admin = app.admin_token.clone();
    let roles: [(&str, &str); 4] = [
        ("scanner", &scanner),
        ("investigator", &investigator),
        ("auditor", &auditor),
        ("admin", &admin),
    ];
    // (method, path, allowed roles); public routes have none and are checked separately.
    let table: &[(&str, &str, &[&str])] = &[
        ("POST", "/api/v1/users", &["admin"]),
        ("POST", "/api/v1/devices", &["admin"]),
        ("POST", "/api/v1/enrollments", &["scanner", "investigator"]),
        (
            "POST",
            "/api/v1/enrollments/batch",
            &["scanner", "investigator"],
        ),
        ("POST", "/api/v1/identify", &["scanner", "investigator"]),
        ("GET", "/api/v1/records/rec_x", &["investigator"]),
        ("GET", "/api/v1/records", &["investigator"]),
        ("POST", "/api/v1/records/rec_x/delete", &["admin"]),
        ("GET", "/api/v1/matches", &["investigator"]),
        ("POST", "/api/v1/matches/case_x/decision", &["investigator"]),
        ("GET", "/api/v1/alerts", &["investigator"]),
        ("GET", "/api/v1/audit", &["auditor"]),
        ("GET", "/api/v1/audit/verify", &["auditor"]),
        ("GET", "/api/v1/stats/flows", &["auditor", "admin"]),
        ("GET", "/api/v1/users", &["admin"]),
        ("GET", "/api/v1/devices", &["admin"]),
        ("POST", "/api/v1/users/usr_x/disable", &["admin"]),
        ("POST", "/api/v1/users/usr_x/password-reset", &["admin"]),
        ("POST", "/api/v1/devices/dev_x/revoke", &["admin"]),
        ("POST", "/api/v1/approvals/apr_x/approve", &["admin"]),
        ("GET", "/api/v1/audit/checkpoint", &["auditor"]),
        ("POST", "/api/v1/sites", &["admin"]),
        (
            "GET",
            "/api/v1/sites",
            &["scanner", "investigator", "auditor", "admin"],
        ),
        (
            "POST",
            "/api/v1/records/rec_x/events",
            &["scanner", "investigator"],
        ),
        ("POST", "/api/v1/events/batch", &["scanner", "investigator"]),
        ("POST", "/api/v1/checkin", &["scanner"]),
        ("GET", "/api/v1/stats/sites", &["auditor", "admin"]),
        ("GET", "/api/v1/stats/transfers", &["auditor", "admin"]),
        ("GET", "/api/v1/stats/vaccinations", &["auditor", "admin"]),
        ("GET", "/api/v1/records/rec_x/photo", &["investigator"]),
        ("GET", "/api/v1/records/rec_x/face", &["investigator"]),
        ("GET", "/api/v1/matches/case_x/evidence", &["investigator"]),
    ];
    // The table covers every authenticated route of the server.
    let authed: Vec<_> = registro::http::ROUTES
        .iter()
        .filter(|(_, p)| {
            p.starts_with("/api/v1/")
                && *p != "/api/v1/auth/login"
                && *p != "/api/v1/openapi.json"
                // No token needed, and logging out would end the role's token: tested in
                // tests/credentials.rs.
                && *p != "/api/v1/auth/password"
                && *p != "/api/v1/auth/logout"
        })
        .collect();
    assert_eq!(
        authed.len(),
        table.len(),
        "every authenticated route is in the table"
    );
    for (method, path, allowed) in table {
        let r = app.request(method, path, None, &[], Some(&json!({})));
        assert_eq!(r.status, 401, "{method} {path} without a token");
        assert_eq!(r.body["error"]["code"], "unauthorized");
        let r = app.request(
            method,
            path,
            Some("rgt_not-a-real-token"),
            &[],
            Some(&json!({})),
        );
        assert_eq!(r.status, 401, "{method} {path} with an unknown token");
        for (role, token) in roles {
            let r = app.request(
                method,
                path,
                Some(token),
                &[("X-Purpose", "role table test")],
                Some(&json!({})),
            );
            if allowed.contains(&role) {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{method} {path} as {role}: got {} {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(r.status, 403, "{method} {path} as {role}: {}", r.text);
                assert_eq!(r.body["error"]["code"], "forbidden");
            }
        }
    }
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert_eq!(app.get(path, None).status, 200, "{path} is public");
    }
}

#[test]
fn login_answers_unknown_user_and_wrong_password_alike_and_rate_limits() {
    let app = TestApp::start();
    let username = unique("inv");
    let r = app.post(
        "/api/v1/users",
        Some(&app.admin_token),
        &json!({"username": username, "password": "a long enough password", "role": "investigator"}),
    );
    assert_eq!(r.status, 201);
    let wrong = app.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": username, "password": "wrong password!!"}),
    );
    let unknown = app.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "nobody-here", "password": "wrong password!!"}),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.body, unknown.body,
        "same answer whether the user exists or not"
    );
    let ok = app.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": username, "password": "a long enough password"}),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["role"], "investigator");
    assert!(ok.body["expires_at"].as_str().unwrap().ends_with('Z'));
    // Five failures for one username lock it for the window, even with the right password.
    for _ in 0..5 {
        let r = app.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": username, "password": "still wrong!!"}),
        );
        assert!(r.status == 401 || r.status == 429);
    }
    let locked = app.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": username, "password": "a long enough password"}),
    );
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert_eq!(locked.body["error"]["code"], "too_many_attempts");
}

#[test]
fn users_and_devices_validate_input_and_device_keys_are_scanner_tokens() {
    let app = TestApp::start();
    let admin = app.admin_token.clone();
    let before = app.count("users");
    for (body, code) in [
        (
            json!({"username": "x", "password": "short", "role": "investigator"}),
            "weak_password",
        ),
        (
            json!({"username": "x", "password": "a long enough password", "role": "emperor"}),
            "invalid_role",
        ),
        (
            json!({"username": "bad name!", "password": "a long enough password", "role": "auditor"}),
            "invalid_username",
        ),
    ] {
        let r = app.post("/api/v1/users", Some(&admin), &body);
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["error"]["code"], code);
    }
    assert_eq!(
        app.count("users"),
        before,
        "rejected requests create nothing"
    );
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "dup", "password": "a long enough password", "role": "auditor"}),
    );
    assert_eq!(r.status, 201);
    let r = app.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "dup", "password": "a long enough password", "role": "auditor"}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "username_taken");

    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    assert!(key.starts_with("rgd_"));
    let stored: String = {
        use diesel::prelude::*;
        use registro::db::schema::devices;
        app.reg
            .db
            .read(|c| -> Result<String, registro::error::ApiError> {
                Ok(devices::table.select(devices::key_hash).first(c)?)
            })
            .unwrap()
    };
    assert!(
        stored.starts_with("$argon2id$"),
        "device keys are stored as Argon2id hashes"
    );
    let secret = key.splitn(3, '_').nth(2).unwrap();
    assert!(
        secret.len() > 20 && !stored.contains(secret),
        "the secret itself is never stored"
    );
    // A device may enroll but not read records.
    let r = app.post(
        "/api/v1/enrollments",
        Some(&key),
        &enrollment("dev-cap-1", 1, json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.get("/api/v1/records", Some(&key)).status, 403);
    // A tampered key is unknown.
    let mut bad = key.clone();
    bad.push('x');
    assert_eq!(
        app.post(
            "/api/v1/enrollments",
            Some(&bad),
            &enrollment("dev-cap-2", 2, json!({}))
        )
        .status,
        401
    );
}
