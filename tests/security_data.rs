//! Issue 14, the data: purpose-bound reading, need to know for scanners, deletion that
//! deletes, statistics without disclosure, backups.

use crate::common::*;
use serde_json::json;

fn with_purpose(app: &TestApp, path: &str, token: &str) -> Resp {
    app.request(
        "GET",
        path,
        Some(token),
        &[("X-Purpose", "case 41 review")],
        None,
    )
}

#[test]
fn searches_need_a_purpose_at_most_100_a_page_and_the_log_names_each_record() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment(
            "pur-1",
            41,
            json!({"nationality": "VEN", "family_names": "Rojas"}),
        ),
    );
    let rid = r.body["record_id"].as_str().unwrap().to_string();
    let bare = app.get("/api/v1/records?nationality=VEN", Some(&inv));
    assert_eq!(bare.status, 400, "{}", bare.text);
    assert_eq!(bare.body["error"]["code"], "purpose_required");
    assert!(!bare.text.contains("Rojas"));
    assert_eq!(
        with_purpose(&app, "/api/v1/records?limit=101", &inv).status,
        400
    );
    let ok = with_purpose(&app, "/api/v1/records?nationality=VEN&limit=100", &inv);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["items"][0]["record_id"], rid.as_str());
    let log = app.get(&format!("/api/v1/audit?record_id={rid}"), Some(&auditor));
    let search = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "record.search")
        .cloned()
        .expect("the search names the record it returned");
    assert_eq!(search["purpose"], "case 41 review");
}

#[test]
fn a_scanner_sees_indicator_codes_never_other_records() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let doc = json!({"type": "passport", "number": "NK4411902", "issuing_country": "VEN"});
    let first = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("ntk-1", 61, json!({"family_names": "Uno", "document": doc})),
    );
    let first_id = first.body["record_id"].as_str().unwrap().to_string();
    let second = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("ntk-2", 62, json!({"family_names": "Dos", "document": doc})),
    );
    assert_eq!(second.status, 201, "{}", second.text);
    let reuse = second.body["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "document_reuse")
        .cloned()
        .expect("document_reuse raised");
    assert_eq!(reuse["severity"], "high");
    assert_eq!(reuse["related_records"], json!([]));
    assert!(!second.text.contains(&first_id), "{}", second.text);
    // A replay of the same capture is cut the same way.
    let again = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("ntk-2", 62, json!({"family_names": "Dos", "document": doc})),
    );
    assert_eq!(again.status, 200);
    assert!(!again.text.contains(&first_id), "{}", again.text);
    // An investigator enrolling sees the related records.
    let third = app.post(
        "/api/v1/enrollments",
        Some(&inv),
        &enrollment(
            "ntk-3",
            63,
            json!({"family_names": "Tres", "document": doc}),
        ),
    );
    assert_eq!(third.status, 201, "{}", third.text);
    assert!(third.text.contains(&first_id), "{}", third.text);
}

fn sealed_bytes(app: &TestApp, rid: &str) -> (Vec<u8>, Vec<u8>) {
    use diesel::prelude::*;
    use registro::db::schema::records;
    app.reg
        .db
        .read(|c| -> Result<_, registro::error::ApiError> {
            Ok(records::table
                .filter(records::id.eq(rid))
                .select((records::person_enc, records::biometrics_enc))
                .first::<(Vec<u8>, Vec<u8>)>(c)?)
        })
        .unwrap()
}

#[test]
fn a_deleted_record_is_gone_from_answers_links_alerts_cases_and_the_file() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let doc = json!({"type": "passport", "number": "DL5550123", "issuing_country": "COL"});
    let mut body = capture2(
        "del-1",
        102,
        101,
        1,
        json!({"family_names": "Ospina", "nationality": "COL", "document": doc}),
    );
    body["companions"] = json!([{"capture_id": "del-2", "relationship": "sibling"}]);
    let a = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(a.status, 201, "{}", a.text);
    let rid = a.body["record_id"].as_str().unwrap().to_string();
    // A second registration of the same fingers (a case), same document (an alert), and the
    // declared companion.
    let b = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture2(
            "del-2",
            102,
            101,
            2,
            json!({"family_names": "Otro", "nationality": "COL", "document": doc}),
        ),
    );
    assert_eq!(b.status, 201, "{}", b.text);
    let bid = b.body["record_id"].as_str().unwrap().to_string();
    let case = b.body["duplicates"][0]["case_id"]
        .as_str()
        .expect("a case")
        .to_string();
    // A third person (other fingers) with the same document: an alert naming the record.
    let c = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("del-3", 77, json!({"nationality": "COL", "document": doc})),
    );
    assert_eq!(c.status, 201, "{}", c.text);
    let alerts = app.get("/api/v1/alerts?code=document_reuse", Some(&inv));
    assert!(alerts.text.contains(&rid), "{}", alerts.text);
    let d = app.post(
        &format!("/api/v1/matches/{case}/decision"),
        Some(&inv),
        &json!({"decision": "different_person", "note": "siblings, looked alike"}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    let before = with_purpose(&app, &format!("/api/v1/records/{bid}"), &inv);
    assert!(before.text.contains(&rid), "linked before: {}", before.text);
    let (person_enc, bio_enc) = sealed_bytes(&app, &rid);
    let stats_before = app.get("/api/v1/stats/flows?by=nationality", Some(&auditor));

    let del = app.post(
        &format!("/api/v1/records/{rid}/delete"),
        Some(&app.admin_token),
        &json!({"reason": "erasure request 7"}),
    );
    assert_eq!(del.status, 200, "{}", del.text);

    let gone = with_purpose(&app, &format!("/api/v1/records/{rid}"), &inv);
    assert_eq!(gone.status, 410, "{}", gone.text);
    assert_eq!(gone.body["error"]["code"], "record_deleted");
    let replay = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(replay.status, 410, "{}", replay.text);
    assert_eq!(replay.body["error"]["code"], "record_deleted");
    let after = with_purpose(&app, &format!("/api/v1/records/{bid}"), &inv);
    assert_eq!(after.status, 200);
    assert!(!after.text.contains(&rid), "still linked: {}", after.text);
    let alerts = app.get("/api/v1/alerts?limit=1000", Some(&inv));
    assert!(alerts.text.contains("document_reuse"), "{}", alerts.text);
    assert!(!alerts.text.contains(&rid), "{}", alerts.text);
    let cases = app.get("/api/v1/matches?limit=1000", Some(&inv));
    assert!(!cases.text.contains(&rid), "{}", cases.text);
    let found = with_purpose(&app, "/api/v1/records?nationality=COL", &inv);
    assert!(!found.text.contains(&rid));
    let stats_after = app.get("/api/v1/stats/flows?by=nationality", Some(&auditor));
    assert_eq!(stats_before.body["total"], 3);
    assert_eq!(stats_after.body["total"], 2);
    assert_eq!(
        app.count("match_cases WHERE note_enc IS NOT NULL"),
        0,
        "decided cases keep no note"
    );
    let (p, b) = sealed_bytes(&app, &rid);
    assert!(p.is_empty() && b.is_empty());
    assert_eq!(
        app.count(&format!(
            "records WHERE id = '{rid}' AND (nationality IS NOT NULL OR response_json <> '')"
        )),
        0
    );
    if let Some(path) = app.db_url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        for (name, ct) in [("person", &person_enc), ("biometrics", &bio_enc)] {
            // Any 32-byte run of the old ciphertext would show it survived somewhere.
            let probe = &ct[ct.len() / 2..ct.len() / 2 + 32];
            assert!(
                !bytes.windows(32).any(|w| w == probe),
                "the old {name} ciphertext is still in the database files"
            );
        }
    }
}

#[test]
fn rotation_beside_deletions_leaves_deleted_records_deleted() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let mut ids = Vec::new();
    for i in 0..30u64 {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment(
                &format!("rot-{i}"),
                700 + i,
                json!({"family_names": "Mena"}),
            ),
        );
        ids.push(r.body["record_id"].as_str().unwrap().to_string());
    }
    std::thread::scope(|s| {
        let rot = s.spawn(|| registro::service::keys::rotate(&app.reg.db, &app.reg.keys()));
        for rid in ids.iter().step_by(2) {
            let d = app.post(
                &format!("/api/v1/records/{rid}/delete"),
                Some(&app.admin_token),
                &json!({"reason": "erasure"}),
            );
            assert_eq!(d.status, 200, "{}", d.text);
        }
        rot.join().unwrap().unwrap();
    });
    for rid in ids.iter().step_by(2) {
        let (p, b) = sealed_bytes(&app, rid);
        assert!(p.is_empty() && b.is_empty(), "{rid} came back");
    }
    // The rest were re-sealed under the new key and still read.
    let inv = app.user("investigator");
    let r = with_purpose(&app, &format!("/api/v1/records/{}", ids[1]), &inv);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["person"]["family_names"], "Mena");
}

#[test]
fn auditors_get_whole_month_windows_and_no_derivable_cell() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let auditor = app.user("auditor");
    for (i, nat) in ["VEN", "VEN", "VEN", "VEN", "VEN", "VEN", "HTI"]
        .iter()
        .enumerate()
    {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment(
                &format!("st-{i}"),
                800 + i as u64,
                json!({"nationality": nat}),
            ),
        );
        assert_eq!(r.status, 201);
    }
    let second = app.get(
        "/api/v1/stats/flows?by=nationality&from=2026-11-28T14:03:00Z&to=2026-11-28T14:03:01Z",
        Some(&auditor),
    );
    assert_eq!(second.status, 400, "{}", second.text);
    assert_eq!(second.body["error"]["code"], "window_not_whole_months");
    let month = app.get(
        "/api/v1/stats/flows?by=nationality&from=2026-11-01&to=2026-12-01",
        Some(&auditor),
    );
    assert_eq!(month.status, 200, "{}", month.text);
    assert_eq!(month.body["total"], 7);
    // HTI (1) is hidden; VEN is hidden too, or 7 - VEN would give HTI away.
    for c in month.body["cells"].as_array().unwrap() {
        assert!(c["count"].is_string(), "{}", month.text);
    }
    // An admin may still ask any window.
    let admin = app.get(
        "/api/v1/stats/flows?by=nationality&from=2026-11-28T14:03:00Z&to=2026-11-28T14:03:01Z",
        Some(&app.admin_token),
    );
    assert_eq!(admin.status, 200, "{}", admin.text);
}

#[test]
fn an_online_backup_restores_to_a_store_that_verifies() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("bk-1", 51, json!({"family_names": "Lozano"})),
    );
    let rid = r.body["record_id"].as_str().unwrap().to_string();
    let out = temp_dir().join("backup");
    let keys = app.reg.keys();
    let res = registro::service::backup::backup(&app.reg.db, &keys, &out);
    if is_postgres() {
        let err = res
            .expect_err("PostgreSQL backups are pg_dump's")
            .to_string();
        assert!(err.contains("pg_dump"), "{err}");
        return;
    }
    let report = res.unwrap();
    // Traffic after the backup does not reach it.
    app.user("auditor");
    // Restore: the database copy, the key files (kept apart, copied here for the test) and the
    // backup's head file beside them.
    let restored = temp_dir();
    std::fs::copy(&report.database, restored.join("registro.db")).unwrap();
    let key = restored.join("registro.key");
    std::fs::copy(keys.path(), &key).unwrap();
    // …and the blind-index and access-log key files, which live apart from the data key too.
    let paths = registro::crypto::KeyPaths::beside(keys.path());
    std::fs::copy(&paths.index, restored.join("registro.key.index")).unwrap();
    std::fs::copy(&paths.audit, restored.join("registro.key.audit")).unwrap();
    std::fs::copy(
        report.audit_head.expect("a head file"),
        restored.join("registro.key.audit-head"),
    )
    .unwrap();
    let url = format!("sqlite://{}", restored.join("registro.db").display());
    let back = TestApp::start_on(restored.clone(), url.clone(), test_config(&restored, &url));
    let auditor = back.user("auditor");
    let v = back.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(v.body["chain_ok"], true, "{}", v.text);
    let inv2 = back.user("investigator");
    let rec = with_purpose(&back, &format!("/api/v1/records/{rid}"), &inv2);
    assert_eq!(rec.status, 200, "{}", rec.text);
    assert_eq!(rec.body["person"]["family_names"], "Lozano");
    drop(inv);
}
