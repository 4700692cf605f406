use crate::common::*;
use serde_json::{json, Value};

fn codes(r: &Resp) -> Vec<String> {
    r.body["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

fn alerts(app: &TestApp, inv: &str, code: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/alerts?code={code}"), Some(inv));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[test]
fn declared_protection_needs_and_unaccompanied_minors() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let mut b = enrollment("pr-1", 1, json!({"age_estimate": 30}));
    b["protection"] = json!({"documents_held_by_other": true, "travel_debt": true});
    let r = app.post("/api/v1/enrollments", Some(&scanner), &b);
    let c = codes(&r);
    assert!(
        c.contains(&"documents_held_by_other".into()) && c.contains(&"travel_debt".into()),
        "{}",
        r.text
    );
    assert!(!c.contains(&"unaccompanied_minor".into()));
    // A child with only an unrelated companion, and a child declared unaccompanied.
    let mut child = enrollment("pr-2", 2, json!({"age_estimate": 9}));
    child["companions"] = json!([{"capture_id": "pr-1", "relationship": "unrelated"}]);
    assert!(
        codes(&app.post("/api/v1/enrollments", Some(&scanner), &child))
            .contains(&"unaccompanied_minor".into())
    );
    let mut child2 = enrollment("pr-3", 3, json!({"date_of_birth": "2015-02-01"}));
    child2["companions"] = json!([{"capture_id": "pr-1", "relationship": "parent"}]);
    child2["protection"] = json!({"unaccompanied_minor": true});
    assert!(
        codes(&app.post("/api/v1/enrollments", Some(&scanner), &child2))
            .contains(&"unaccompanied_minor".into())
    );
    // A child with a parent is not flagged.
    let mut child3 = enrollment("pr-4", 4, json!({"age_estimate": 6}));
    child3["companions"] = json!([{"capture_id": "pr-1", "relationship": "parent"}]);
    assert!(codes(&app.post("/api/v1/enrollments", Some(&scanner), &child3)).is_empty());
    assert_eq!(alerts(&app, &inv, "unaccompanied_minor").len(), 2);
    let high = app.get("/api/v1/alerts?severity=high&limit=2", Some(&inv));
    assert_eq!(high.body["items"].as_array().unwrap().len(), 2);
    assert!(high.body["next_cursor"].is_string());
    // Alerts name no personal data.
    let all = app.get("/api/v1/alerts?limit=1000", Some(&inv));
    assert!(!all.text.contains("2015-02-01"));
}

#[test]
fn shared_documents_and_phones_between_different_people() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let doc = json!({"type": "passport", "number": "X1234567", "issuing_country": "VEN"});
    let r1 = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment(
            "dr-1",
            10,
            json!({"document": doc, "phone": "+57 311 000 0001"}),
        ),
    );
    assert!(codes(&r1).is_empty());
    let r2 = app.post("/api/v1/enrollments", Some(&scanner), &enrollment("dr-2", 20, json!({"document": {"type": "passport", "number": "x-123 4567"}, "phone": "573110000001"})));
    assert!(codes(&r2).contains(&"document_reuse".into()), "{}", r2.text);
    let reuse = alerts(&app, &inv, "document_reuse");
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0]["record_ids"].as_array().unwrap().len(), 2);
    // Two people on one phone is not yet the pattern (threshold 3), three is; a fourth is new
    // evidence; a retry adds nothing.
    assert!(alerts(&app, &inv, "shared_phone").is_empty());
    let r3 = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("dr-3", 30, json!({"phone": "+573110000001"})),
    );
    assert!(codes(&r3).contains(&"shared_phone".into()), "{}", r3.text);
    app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("dr-3", 30, json!({"phone": "+573110000001"})),
    );
    assert_eq!(alerts(&app, &inv, "shared_phone").len(), 1);
    app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("dr-4", 40, json!({"phone": "+573110000001"})),
    );
    let shared = alerts(&app, &inv, "shared_phone");
    assert_eq!(shared.len(), 2);
    assert_eq!(shared[0]["record_ids"].as_array().unwrap().len(), 4);
    // Companions sharing a family phone are not "unrelated people".
    let mut fam = enrollment("dr-5", 50, json!({"phone": "+50760000000"}));
    app.post("/api/v1/enrollments", Some(&scanner), &fam);
    for (i, cap) in ["dr-6", "dr-7"].iter().enumerate() {
        fam = enrollment(cap, 60 + i as u64, json!({"phone": "+50760000000"}));
        fam["companions"] = json!([{"capture_id": "dr-5", "relationship": "spouse"}]);
        let r = app.post("/api/v1/enrollments", Some(&scanner), &fam);
        assert!(!codes(&r).contains(&"shared_phone".into()), "{}", r.text);
    }
}

#[test]
fn adults_with_many_minors_and_minors_with_many_adults() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("ad-1", 100, json!({"age_estimate": 35})),
    );
    for i in 0..3u64 {
        let mut c = enrollment(
            &format!("ad-minor-{i}"),
            200 + i,
            json!({"age_estimate": 10 + i as i64}),
        );
        c["companions"] = json!([{"capture_id": "ad-1", "relationship": "other_relative"}]);
        let r = app.post("/api/v1/enrollments", Some(&scanner), &c);
        assert_eq!(r.status, 201);
        let raised = codes(&r).contains(&"adult_with_many_minors".into());
        assert_eq!(raised, i == 2, "raised at the third minor only: {}", r.text);
    }
    let a = alerts(&app, &inv, "adult_with_many_minors");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["record_ids"].as_array().unwrap().len(), 4);
    assert_eq!(a[0]["severity"], "high");
    // Declared children do not count.
    app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("pa-1", 300, json!({"age_estimate": 40})),
    );
    for i in 0..3u64 {
        let mut c = enrollment(
            &format!("pa-kid-{i}"),
            400 + i,
            json!({"age_estimate": 5 + i as i64}),
        );
        c["companions"] = json!([{"capture_id": "pa-1", "relationship": "parent"}]);
        app.post("/api/v1/enrollments", Some(&scanner), &c);
    }
    assert_eq!(alerts(&app, &inv, "adult_with_many_minors").len(), 1);
    // One child, three different adults.
    for i in 0..3u64 {
        app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment(
                &format!("mm-adult-{i}"),
                500 + i,
                json!({"age_estimate": 25 + i as i64}),
            ),
        );
    }
    let mut kid = enrollment("mm-kid", 600, json!({"age_estimate": 8}));
    kid["companions"] = json!([
        {"capture_id": "mm-adult-0", "relationship": "guardian"},
        {"capture_id": "mm-adult-1", "relationship": "unknown"},
        {"capture_id": "mm-adult-2", "relationship": "unrelated"}
    ]);
    let r = app.post("/api/v1/enrollments", Some(&scanner), &kid);
    assert!(
        codes(&r).contains(&"minor_with_many_adults".into()),
        "{}",
        r.text
    );
}

#[test]
fn repeat_crossings_age_inconsistency_and_identity_change_over_linked_records() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let p = |dob: &str| json!({"given_names": "Luis", "family_names": "Mora", "date_of_birth": dob, "sex": "M", "nationality": "ECU"});
    let mut ids = vec![];
    let mut last = serde_json::Value::Null;
    for imp in 1..=3u32 {
        let dob = if imp == 3 { "2011-06-01" } else { "1995-06-01" };
        let mut b = capture2(&format!("rc-{imp}"), 104, 105, imp, p(dob));
        b["captured_at"] = json!(format!("2026-{:02}-10T10:00:00Z", 7 + imp));
        let r = app.post("/api/v1/enrollments", Some(&scanner), &b);
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["record_id"].as_str().unwrap().to_string());
        last = r.body.clone();
    }
    // The third visit within 90 days: the biometric duplicates already count as the same person.
    assert!(
        last["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["code"] == "repeat_crossing"),
        "{last}"
    );
    // Confirm the third record as the first person: age and date of birth disagree.
    let case = last["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["record_id"] == ids[0].as_str())
        .expect("case against the first")["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = app.post(
        &format!("/api/v1/matches/{case}/decision"),
        Some(&inv),
        &json!({"decision": "same_person", "note": "fingerprints"}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    let ic = alerts(&app, &inv, "identity_change");
    assert_eq!(ic.len(), 1);
    assert!(ic[0]["detail"].as_str().unwrap().contains("date of birth"));
    assert!(!ic[0]["detail"].as_str().unwrap().contains("1995"));
    let ai = alerts(&app, &inv, "age_inconsistency");
    assert_eq!(ai.len(), 1, "adult in July, a minor in October");
    assert_eq!(
        alerts(&app, &inv, "repeat_crossing").len(),
        1,
        "the same evidence is not raised twice"
    );
    let filtered = app.get(
        "/api/v1/alerts?site=PA-DARIEN-LAJASBLANCAS&from=2020-01-01&to=2099-01-01",
        Some(&inv),
    );
    assert!(filtered.body["items"].as_array().unwrap().len() >= 3);
    assert_eq!(
        app.get("/api/v1/alerts?site=NOWHERE", Some(&inv)).body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
