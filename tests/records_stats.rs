use crate::common::*;
use serde_json::json;

#[test]
fn records_read_and_exact_search_through_blind_indexes() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let person = json!({
        "given_names": "Yusleidy", "family_names": "Marquez Toro", "sex": "F", "date_of_birth": "1994-03-02",
        "nationality": "VEN", "document": {"type": "passport", "number": "V-123.456", "issuing_country": "VEN"},
        "phone": "+57 300 555 0101"
    });
    let mut body = enrollment("r-1", 31, person);
    body["companions"] = json!([{"capture_id": "r-2", "relationship": "parent"}]);
    let r = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = r.body["record_id"].as_str().unwrap().to_string();
    let child = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("r-2", 32, json!({"age_estimate": 7, "nationality": "VEN"})),
    );
    let child_id = child.body["record_id"].as_str().unwrap().to_string();

    let rec = app.request(
        "GET",
        &format!("/api/v1/records/{rid}"),
        Some(&inv),
        &[("X-Purpose", "identity check")],
        None,
    );
    assert_eq!(rec.status, 200, "{}", rec.text);
    assert_eq!(rec.body["person"]["given_names"], "Yusleidy");
    assert_eq!(rec.body["person"]["document"]["number"], "V-123.456");
    assert_eq!(rec.body["enrollments"][0]["site"], "PA-DARIEN-LAJASBLANCAS");
    assert!(rec.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["record_id"] == child_id.as_str() && l["relationship"] == "parent"));
    assert_eq!(
        app.request(
            "GET",
            "/api/v1/records/rec_nope",
            Some(&inv),
            &[("X-Purpose", "x")],
            None
        )
        .status,
        404
    );

    // Normalised exact search: separators and case do not matter.
    for q in [
        "document_number=v123456",
        "phone=573005550101",
        "family_names=marquez%20%20toro",
        "nationality=VEN&site=PA-DARIEN-LAJASBLANCAS",
    ] {
        let s = app.request(
            "GET",
            &format!("/api/v1/records?{q}"),
            Some(&inv),
            &[("X-Purpose", "identity check")],
            None,
        );
        assert_eq!(s.status, 200, "{q}: {}", s.text);
        assert!(
            s.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["record_id"] == rid.as_str()),
            "{q}: {}",
            s.text
        );
    }
    let none = app.request(
        "GET",
        "/api/v1/records?document_number=V999",
        Some(&inv),
        &[("X-Purpose", "identity check")],
        None,
    );
    assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    // Pagination.
    let p1 = app.request(
        "GET",
        "/api/v1/records?nationality=VEN&limit=1",
        Some(&inv),
        &[("X-Purpose", "identity check")],
        None,
    );
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 1);
    let cur = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app.request(
        "GET",
        &format!("/api/v1/records?nationality=VEN&limit=1&cursor={cur}"),
        Some(&inv),
        &[("X-Purpose", "identity check")],
        None,
    );
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(
        p1.body["items"][0]["record_id"],
        p2.body["items"][0]["record_id"]
    );
    assert!(p2.body["next_cursor"].is_null());
    assert_eq!(
        app.request(
            "GET",
            "/api/v1/records?limit=5000",
            Some(&inv),
            &[("X-Purpose", "identity check")],
            None
        )
        .status,
        400
    );
    assert_eq!(
        app.request(
            "GET",
            "/api/v1/records?cursor=zzz",
            Some(&inv),
            &[("X-Purpose", "identity check")],
            None
        )
        .status,
        400
    );
}

#[test]
fn flow_statistics_suppress_small_cells_and_export_csv() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let auditor = app.user("auditor");
    for i in 0..7u64 {
        let p = json!({"nationality": "VEN", "sex": "F", "date_of_birth": "1990-01-01"});
        assert_eq!(
            app.post(
                "/api/v1/enrollments",
                Some(&scanner),
                &enrollment(&format!("s-v-{i}"), 500 + i, p)
            )
            .status,
            201
        );
    }
    for i in 0..2u64 {
        let p = json!({"nationality": "HTI", "sex": "M", "age_estimate": 8});
        assert_eq!(
            app.post(
                "/api/v1/enrollments",
                Some(&scanner),
                &enrollment(&format!("s-h-{i}"), 600 + i, p)
            )
            .status,
            201
        );
    }
    let m = app.get(
        "/api/v1/stats/flows?by=nationality,sex,age_group,month",
        Some(&auditor),
    );
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["total"], 9);
    assert_eq!(
        m.body["by"],
        json!(["nationality", "sex", "age_group", "month"])
    );
    let cells = m.body["cells"].as_array().unwrap();
    let ven = cells.iter().find(|c| c["nationality"] == "VEN").unwrap();
    // VEN (7) is hidden too: with the exact total, one hidden cell would give itself away.
    assert_eq!(ven["count"], "suppressed");
    assert_eq!(ven["age_group"], "18-59");
    assert_eq!(ven["month"], "2026-11");
    let hti = cells.iter().find(|c| c["nationality"] == "HTI").unwrap();
    assert_eq!(hti["count"], "<5");
    assert_eq!(hti["age_group"], "5-11");
    // Only an admin may lift suppression.
    assert_eq!(
        app.get(
            "/api/v1/stats/flows?by=nationality&suppress=false",
            Some(&auditor)
        )
        .status,
        403
    );
    let raw = app.get(
        "/api/v1/stats/flows?by=nationality&suppress=false",
        Some(&app.admin_token),
    );
    assert!(raw.body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["nationality"] == "HTI" && c["count"] == 2));
    let csv = app.request(
        "GET",
        "/api/v1/stats/flows?by=nationality",
        Some(&auditor),
        &[("Accept", "text/csv")],
        None,
    );
    assert_eq!(csv.status, 200);
    assert!(csv.text.starts_with("nationality,count\n"), "{}", csv.text);
    assert!(
        csv.text.contains("HTI,<5\n") && csv.text.contains("VEN,suppressed\n"),
        "{}",
        csv.text
    );
    let window = app.get(
        "/api/v1/stats/flows?by=site&from=2026-12-01",
        Some(&auditor),
    );
    assert_eq!(window.body["total"], 0);
    assert_eq!(
        app.get("/api/v1/stats/flows?by=eye_colour", Some(&auditor))
            .status,
        400
    );
}
