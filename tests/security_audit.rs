//! Issue 14, the access log: a database-level attacker, signed checkpoints, offline verify,
//! and nothing personal in the log.

use crate::common::*;
use diesel::prelude::*;
use registro::db::models::AuditRow;
use registro::db::schema::{audit_log, meta};
use serde_json::json;

/// Runs raw SQL against the store behind the service's back (an attacker with database access).
pub fn tamper(app: &TestApp, sql: &str) {
    match app.db_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut c = diesel::SqliteConnection::establish(path).unwrap();
            diesel::sql_query(sql).execute(&mut c).unwrap();
        }
        None => {
            let mut c = app.reg.db.conn().unwrap();
            diesel::sql_query(sql).execute(&mut *c).unwrap();
        }
    }
}

fn rows(app: &TestApp) -> Vec<AuditRow> {
    app.reg
        .db
        .read(|c| -> Result<Vec<AuditRow>, registro::error::ApiError> {
            Ok(audit_log::table
                .order(audit_log::seq.asc())
                .select(AuditRow::as_select())
                .load(c)?)
        })
        .unwrap()
}

fn some_traffic(app: &TestApp, tag: &str) {
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    for i in 0..4u64 {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment(&format!("log-{tag}-{i}"), 900 + i, json!({})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for _ in 0..4 {
        app.user("investigator");
    }
}

#[test]
fn cutting_rows_and_the_head_in_the_database_is_detected() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    some_traffic(&app, "t1");
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true, "{}", v.text);
    // The attacker cuts the last ten entries and rewrites the head kept in the database to
    // match what is left: the chain in the database is consistent again.
    let all = rows(&app);
    let n = all.last().unwrap().seq;
    let keep = &all[(n - 11) as usize];
    assert_eq!(keep.seq, n - 10);
    tamper(
        &app,
        &format!("DELETE FROM audit_log WHERE seq > {}", n - 10),
    );
    tamper(
        &app,
        &format!(
            "UPDATE meta SET value = '{}:{}' WHERE key = 'audit_head'",
            keep.seq, keep.hash
        ),
    );
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], false, "{}", v.text);
    assert_eq!(v.body["first_bad_seq"], n - 9, "{}", v.text);
    // It stays detected as the log grows past the cut (the head file keeps its evidence).
    some_traffic(&app, "t2");
    let v = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], false, "{}", v.text);
    // And no checkpoint is signed over a broken chain.
    let cp = app.get("/api/v1/audit/checkpoint", Some(&auditor));
    assert_eq!(cp.status, 409, "{}", cp.text);
    assert_eq!(cp.body["error"]["code"], "audit_chain_broken");
}

#[test]
fn a_kept_checkpoint_detects_a_rewrite_of_the_whole_chain() {
    use base64::Engine;
    let app = TestApp::start();
    let auditor = app.user("auditor");
    some_traffic(&app, "t3");
    let cp = app.get("/api/v1/audit/checkpoint", Some(&auditor));
    assert_eq!(cp.status, 200, "{}", cp.text);
    let b64 = base64::engine::general_purpose::STANDARD;
    let seq = cp.body["seq"].as_i64().unwrap();
    let hash = cp.body["hash"].as_str().unwrap().to_string();
    let msg = format!(
        "registro-audit-checkpoint\n{seq}\n{hash}\n{}",
        cp.body["at"].as_str().unwrap()
    );
    let pk = b64.decode(cp.body["public_key"].as_str().unwrap()).unwrap();
    let sig = b64.decode(cp.body["signature"].as_str().unwrap()).unwrap();
    assert_eq!(pk.len(), 32);
    assert!(registro::crypto::verify_signature(
        &pk,
        msg.as_bytes(),
        &sig
    ));
    assert!(!registro::crypto::verify_signature(
        &pk,
        msg.replace(&hash, &"0".repeat(64)).as_bytes(),
        &sig
    ));
    let ok = app.get(
        &format!("/api/v1/audit/verify?seq={seq}&hash={hash}"),
        Some(&auditor),
    );
    assert_eq!(ok.body["chain_ok"], true, "{}", ok.text);
    assert_eq!(ok.body["checkpoint_ok"], true, "{}", ok.text);

    // Someone holding the key file rewrites history: entry 2 edited and every later entry
    // re-chained, the heads in the database and beside the key file updated. The chain alone
    // verifies again; the auditor's checkpoint does not.
    let keys = app.reg.keys();
    let mut all = rows(&app);
    let mut prev = all[0].hash.clone();
    for row in all.iter_mut().skip(1) {
        if row.seq == 2 {
            row.purpose = Some("rewritten".into());
        }
        row.prev_hash = prev.clone();
        row.hash = registro::service::audit::entry_hash(&keys, row);
        prev = row.hash.clone();
    }
    app.reg
        .db
        .write(|c| -> Result<(), registro::error::ApiError> {
            for row in &all {
                diesel::update(audit_log::table.filter(audit_log::seq.eq(row.seq)))
                    .set((
                        audit_log::purpose.eq(&row.purpose),
                        audit_log::prev_hash.eq(&row.prev_hash),
                        audit_log::hash.eq(&row.hash),
                    ))
                    .execute(c)?;
            }
            let last = all.last().unwrap();
            diesel::update(meta::table.filter(meta::key.eq("audit_head")))
                .set(meta::value.eq(format!("{}:{}", last.seq, last.hash)))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
    let head = registro::service::audit::head_file(&keys).unwrap();
    let last = all.last().unwrap();
    std::fs::write(&head, format!("{}:{}\n", last.seq, last.hash)).unwrap();
    let plain = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(plain.body["chain_ok"], true, "{}", plain.text);
    let kept = app.get(
        &format!("/api/v1/audit/verify?seq={seq}&hash={hash}"),
        Some(&auditor),
    );
    assert_eq!(kept.body["checkpoint_ok"], false, "{}", kept.text);
    assert_eq!(kept.body["chain_ok"], false, "{}", kept.text);
    assert_eq!(kept.body["first_bad_seq"], seq, "{}", kept.text);
    assert_eq!(
        app.get("/api/v1/audit/verify?seq=3", Some(&auditor)).status,
        400
    );
}

#[test]
fn incremental_verification_still_finds_an_edit_of_an_old_entry() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    some_traffic(&app, "t4");
    let first = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(first.body["chain_ok"], true);
    let total = first.body["entries"].as_i64().unwrap();
    // The next call re-checks only the new entries plus the rolling window (here: all, as the
    // log is shorter than the window); an old entry edited in between is found.
    tamper(&app, "UPDATE audit_log SET actor = 'someone' WHERE seq = 2");
    let second = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(second.body["chain_ok"], false, "{}", second.text);
    assert_eq!(second.body["first_bad_seq"], 2);
    assert!(second.body["checked"].as_i64().unwrap() >= 1);
    assert!(total > 10);
}

#[test]
fn offline_verify_checks_the_chain_and_a_checkpoint_file() {
    let app = TestApp::start();
    let auditor = app.user("auditor");
    some_traffic(&app, "t5");
    let cp = app.get("/api/v1/audit/checkpoint", Some(&auditor));
    assert_eq!(cp.status, 200, "{}", cp.text);
    let cp_file = app.dir.join("checkpoint.json");
    std::fs::write(&cp_file, &cp.text).unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_registro"));
        cmd.args(["--database", &app.db_url, "--key-file"])
            .arg(app.dir.join("registro.key"))
            .args(["audit", "verify", "--checkpoint"])
            .arg(&cp_file)
            .args(extra)
            .env("REGISTRO_LOG", "error");
        let out = cmd.output().unwrap();
        let line: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), line)
    };
    let (code, line) = run(&[]);
    assert_eq!(code, Some(0), "{line}");
    assert_eq!(line["chain_ok"], true);
    assert_eq!(line["signature_ok"], true);
    // A checkpoint whose signature does not match is refused.
    let mut forged: serde_json::Value = cp.body.clone();
    forged["hash"] = json!("0".repeat(64));
    std::fs::write(&cp_file, forged.to_string()).unwrap();
    let (code, line) = run(&[]);
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(line["signature_ok"], false);
    std::fs::write(&cp_file, &cp.text).unwrap();
    tamper(&app, "UPDATE audit_log SET status = 500 WHERE seq = 3");
    let (code, line) = run(&[]);
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(line["first_bad_seq"], 3);
}

#[test]
fn case_notes_and_deletion_reasons_are_not_in_the_log() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let a = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture2("note-1", 102, 101, 1, json!({})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let b = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture2("note-2", 102, 101, 2, json!({})),
    );
    let case = b.body["duplicates"][0]["case_id"]
        .as_str()
        .expect("a case")
        .to_string();
    let note = "Brother of Wilmarys Quintero per officer interview";
    let d = app.post(
        &format!("/api/v1/matches/{case}/decision"),
        Some(&inv),
        &json!({"decision": "same_person", "note": note}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["note"], note, "the case itself shows its note");
    // Lists show that there is a note, not the note.
    let list = app.get("/api/v1/matches?status=same_person", Some(&inv));
    let item = &list.body["items"][0];
    assert_eq!(item["case_id"], case.as_str(), "{}", list.text);
    assert!(item["note"].is_null(), "{}", list.text);
    assert_eq!(item["has_note"], true);
    let rid = a.body["record_id"].as_str().unwrap();
    let reason = "Erasure requested by Wilmarys Quintero, passport PZ7781234";
    let del = app.post(
        &format!("/api/v1/records/{rid}/delete"),
        Some(&app.admin_token),
        &json!({"reason": reason}),
    );
    assert_eq!(del.status, 200, "{}", del.text);
    let log = app.get("/api/v1/audit?limit=1000", Some(&auditor));
    assert_eq!(log.status, 200);
    assert!(!log.text.contains("Wilmarys"), "{}", log.text);
    assert!(!log.text.contains("PZ7781234"));
    assert!(log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "record.delete"
            && e["purpose"].as_str().unwrap_or("").contains("del_")));
    assert!(log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "match.decide:same_person"
            && e["purpose"].as_str().unwrap_or("").contains(&case)));
}
