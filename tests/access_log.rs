use crate::common::*;
use serde_json::json;

fn sqlite_path(app: &TestApp) -> Option<String> {
    app.db_url.strip_prefix("sqlite://").map(str::to_string)
}

/// Runs raw SQL against the store behind the service's back (an attacker with file access).
fn tamper(app: &TestApp, sql: &str) {
    use diesel::prelude::*;
    match sqlite_path(app) {
        Some(path) => {
            let mut c = diesel::SqliteConnection::establish(&path).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
        None => {
            let mut c = app.reg.db.conn().unwrap();
            diesel::sql_query(sql).execute(&mut *c).unwrap();
        }
    }
}

#[test]
fn every_read_is_logged_and_the_chain_detects_edits_deletions_and_reordering() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("a-1", 5, json!({"family_names": "Ruiz"})),
    );
    let rid = r.body["record_id"].as_str().unwrap().to_string();
    let no_purpose = app.get(&format!("/api/v1/records/{rid}"), Some(&inv));
    assert_eq!(no_purpose.status, 400);
    assert_eq!(no_purpose.body["error"]["code"], "purpose_required");
    let read = app.request(
        "GET",
        &format!("/api/v1/records/{rid}"),
        Some(&inv),
        &[("X-Purpose", "case 17 follow-up")],
        None,
    );
    assert_eq!(read.status, 200);
    // A denied request is logged too.
    assert_eq!(app.get("/api/v1/audit", Some(&inv)).status, 403);

    let log = app.get(
        &format!("/api/v1/audit?record_id={rid}&action=record.read"),
        Some(&auditor),
    );
    assert_eq!(log.status, 200, "{}", log.text);
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["purpose"], "case 17 follow-up");
    assert_eq!(items[0]["outcome"], "ok");
    assert_eq!(items[0]["status"], 200);
    let denied = app.get("/api/v1/audit?action=GET%20/api/v1/audit", Some(&auditor));
    assert!(
        denied.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "denied" && e["status"] == 403),
        "{}",
        denied.text
    );
    let logins = app.get("/api/v1/audit?action=auth.login&limit=2", Some(&auditor));
    assert_eq!(logins.body["items"].as_array().unwrap().len(), 2);
    let cursor = logins.body["next_cursor"]
        .as_str()
        .expect("more logins")
        .to_string();
    let next = app.get(
        &format!("/api/v1/audit?action=auth.login&limit=2&cursor={cursor}"),
        Some(&auditor),
    );
    assert!(
        next.body["items"][0]["seq"].as_i64().unwrap()
            < logins.body["items"][1]["seq"].as_i64().unwrap()
    );

    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true, "{}", v.text);
    assert!(v.body["entries"].as_i64().unwrap() > 5);
    assert!(v.body["first_bad_seq"].is_null());

    // Edit one entry in the database: verify names it.
    tamper(
        &app,
        "UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 4",
    );
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], false);
    assert_eq!(v.body["first_bad_seq"], 4);
}

#[test]
fn a_deleted_or_reordered_entry_is_found() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    for _ in 0..3 {
        app.user("investigator");
    }
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true);
    tamper(&app, "DELETE FROM audit_log WHERE seq = 3");
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["first_bad_seq"], 3, "{}", v.text);

    let app = TestApp::start();
    let auditor = app.user("auditor");
    app.user("investigator");
    // Swap the contents of two entries (a reordering that keeps seq contiguous).
    tamper(&app, "UPDATE audit_log SET seq = -2 WHERE seq = 2");
    tamper(&app, "UPDATE audit_log SET seq = 2 WHERE seq = 3");
    tamper(&app, "UPDATE audit_log SET seq = 3 WHERE seq = -2");
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["first_bad_seq"], 2, "{}", v.text);

    // Truncating the tail is caught against the mirrored head.
    let app = TestApp::start();
    let auditor = app.user("auditor");
    let n = app.count("audit_log");
    tamper(&app, &format!("DELETE FROM audit_log WHERE seq = {n}"));
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], false, "{}", v.text);
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let auditor = app.user("auditor");
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let app = &app;
            let scanner = &scanner;
            s.spawn(move || {
                for i in 0..5u64 {
                    let r = app.post(
                        "/api/v1/enrollments",
                        Some(scanner),
                        &enrollment(&format!("cc-{t}-{i}"), t * 100 + i, json!({})),
                    );
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            });
        }
    });
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true, "{}", v.text);
    assert_eq!(app.count("records"), 30);
}
