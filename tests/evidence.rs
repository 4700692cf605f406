use crate::common::*;
use serde_json::{json, Value};

/// Two registrations of one test subject (face and two fingers each) under different names:
/// a `duplicate` case between them. Returns (earlier record, newer record, case id).
pub fn duplicate_pair(app: &TestApp, token: &str, tag: &str) -> (String, String, String) {
    let mut first = capture(
        &format!("{tag}-1"),
        Some("amy1.png"),
        None,
        json!({"given_names": "Ana", "family_names": "Prueba", "nationality": "VEN", "sex": "F", "date_of_birth": "1990-05-05"}),
    );
    first["fingerprints"] = json!([fvc_finger(2, 101, 1), fvc_finger(3, 102, 1)]);
    let r = app.post("/api/v1/enrollments", Some(token), &first);
    assert_eq!(r.status, 201, "{}", r.text);
    let a = r.body["record_id"].as_str().unwrap().to_string();
    let mut again = capture(
        &format!("{tag}-2"),
        Some("amy2.png"),
        None,
        json!({"given_names": "Otra", "family_names": "Prueba", "nationality": "COL", "sex": "F", "date_of_birth": "1990-05-05"}),
    );
    again["fingerprints"] = json!([fvc_finger(2, 101, 2), fvc_finger(3, 102, 2)]);
    let r = app.post("/api/v1/enrollments", Some(token), &again);
    assert_eq!(r.status, 201, "{}", r.text);
    let b = r.body["record_id"].as_str().unwrap().to_string();
    let dup = &r.body["duplicates"][0];
    assert_eq!(dup["record_id"], a.as_str(), "{}", r.text);
    assert_eq!(dup["decision"], "duplicate", "{}", r.text);
    (a, b, dup["case_id"].as_str().unwrap().to_string())
}

fn audit_count(app: &TestApp, auditor: &str, action: &str, record: &str) -> usize {
    let r = app.get(
        &format!("/api/v1/audit?action={action}&record_id={record}&limit=1000"),
        Some(auditor),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().len()
}

/// Photos and crops are kept sealed, served to investigators with a purpose, logged, and
/// erased with the record.
#[test]
fn photos_are_kept_served_logged_and_erased() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let (a, _b, _case) = duplicate_pair(&app, &scanner, "ev");
    assert_eq!(app.count("evidence"), 4, "photo and crop of both records");

    // The purpose is required; scanners and auditors may not look.
    let path = format!("/api/v1/records/{a}/photo");
    assert_eq!(
        app.get(&path, Some(&inv)).body["error"]["code"],
        "purpose_required"
    );
    for t in [&scanner, &auditor] {
        let r = app.request("GET", &path, Some(t), &[("X-Purpose", "x")], None);
        assert_eq!(r.status, 403);
    }
    let r = app.request(
        "GET",
        &path,
        Some(&inv),
        &[("X-Purpose", "case check")],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.text.len() > 1000 || r.headers.iter().any(|(k, _)| k == "content-length"));
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "image/jpeg"));
    let face = app.request(
        "GET",
        &format!("/api/v1/records/{a}/face"),
        Some(&inv),
        &[("X-Purpose", "case check")],
        None,
    );
    assert_eq!(face.status, 200);
    assert_eq!(audit_count(&app, &auditor, "record.photo", &a), 1);
    assert_eq!(audit_count(&app, &auditor, "record.face", &a), 1);
    let entries = app.get(
        &format!("/api/v1/audit?action=record.photo&record_id={a}"),
        Some(&auditor),
    );
    assert_eq!(entries.body["items"][0]["purpose"], "case check");

    // What is stored is sealed: no row starts like a JPEG or holds the served bytes.
    let rows: Vec<Vec<u8>> = {
        use diesel::prelude::*;
        use registro::db::schema::evidence;
        app.reg
            .db
            .read(|c| -> Result<_, registro::error::ApiError> {
                Ok(evidence::table.select(evidence::data).load::<Vec<u8>>(c)?)
            })
            .unwrap()
    };
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert!(!row.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(!row.windows(4).any(|w| w == b"JFIF"));
    }

    // A record without a photo answers no_photo.
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("ev-fingers-only", 77, json!({})),
    );
    let only_fingers = r.body["record_id"].as_str().unwrap().to_string();
    let r = app.request(
        "GET",
        &format!("/api/v1/records/{only_fingers}/photo"),
        Some(&inv),
        &[("X-Purpose", "check")],
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "no_photo");

    // Deletion erases the evidence.
    let r = app.post(
        &format!("/api/v1/records/{a}/delete"),
        Some(&app.admin_token),
        &json!({"reason": "test erasure"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("evidence"), 2);
    let r = app.request("GET", &path, Some(&inv), &[("X-Purpose", "x")], None);
    assert_ne!(r.status, 200);
}

/// The case evidence of API.md: both records, scores and FMRs, each finger pair with both
/// minutiae lists and aligned pairs that index into them.
#[test]
fn case_evidence_shows_what_stands_behind_the_score() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let auditor = app.user("auditor");
    let (a, b, case) = duplicate_pair(&app, &scanner, "ce");
    let path = format!("/api/v1/matches/{case}/evidence");
    assert_eq!(app.get(&path, Some(&inv)).status, 400);
    assert_eq!(
        app.request("GET", &path, Some(&scanner), &[("X-Purpose", "x")], None)
            .status,
        403
    );
    let r = app.request("GET", &path, Some(&inv), &[("X-Purpose", "review")], None);
    assert_eq!(r.status, 200, "{}", r.text);
    let ev: &Value = &r.body;
    assert_eq!(ev["case_id"], case.as_str());
    assert_eq!(ev["records"][0]["record_id"], a.as_str());
    assert_eq!(ev["records"][1]["record_id"], b.as_str());
    assert_eq!(ev["records"][0]["person"]["given_names"], "Ana");
    assert_eq!(ev["records"][1]["person"]["nationality"], "COL");
    assert_eq!(ev["records"][0]["has_photo"], true);
    assert!(ev["score"].as_f64().unwrap() > 0.0);
    let face = &ev["face"];
    assert!(face["score"].as_f64().unwrap() > 0.5, "{face}");
    assert!(face["fmr"].as_f64().unwrap() < 0.01, "{face}");
    let fingers = ev["fingers"].as_array().unwrap();
    assert_eq!(fingers.len(), 2);
    for f in fingers {
        assert_eq!(f["probe_position"], f["gallery_position"]);
        let (na, nb) = (
            f["minutiae_a"].as_array().unwrap().len(),
            f["minutiae_b"].as_array().unwrap().len(),
        );
        assert!(na >= 8 && nb >= 8);
        let m = &f["minutiae_a"][0];
        assert!(m["x"].is_number() && m["angle_deg"].is_number());
        assert!(["ending", "bifurcation", "other"].contains(&m["type"].as_str().unwrap()));
        let pairs = f["pairs"].as_array().unwrap();
        // Impressions of one finger: the alignment pairs a good share of the minutiae.
        assert!(pairs.len() >= 6, "{} pairs of {na}/{nb}", pairs.len());
        for p in pairs {
            assert!((p[0].as_u64().unwrap() as usize) < na);
            assert!((p[1].as_u64().unwrap() as usize) < nb);
        }
        assert!(f["fmr"].as_f64().unwrap() < 0.01);
    }
    // One access-log entry per record, with the purpose.
    assert_eq!(audit_count(&app, &auditor, "match.evidence", &a), 1);
    assert_eq!(audit_count(&app, &auditor, "match.evidence", &b), 1);
    let unknown = app.request(
        "GET",
        "/api/v1/matches/case_nope/evidence",
        Some(&inv),
        &[("X-Purpose", "x")],
        None,
    );
    assert_eq!(unknown.status, 404);
}
