use crate::common::*;
use serde_json::json;

/// A person registered again under another name, with fresh impressions and another photo, is
/// found as a `duplicate`, a case opens, and deciding it links the identity.
#[test]
fn re_registration_under_a_new_name_is_found_and_cases_link_identities() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    // Three different people.
    let people = [("amy1.png", 101), ("penny1.png", 102), ("raj1.png", 103)];
    let mut first_ids = vec![];
    for (i, (face, finger)) in people.iter().enumerate() {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &capture(&format!("p-{i}"), Some(face), Some((*finger, 1)), json!({"given_names": format!("Person{i}"), "family_names": "Uno", "nationality": "VEN", "sex": "F", "date_of_birth": "1990-05-05"})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.body["quality"]["face"].as_f64().unwrap() > 0.0);
        assert!(
            r.body["quality"]["fingers"][0]["minutiae"]
                .as_u64()
                .unwrap()
                >= 8
        );
        assert!(
            r.body["duplicates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["decision"] != "duplicate"),
            "no false duplicate: {}",
            r.text
        );
        first_ids.push(r.body["record_id"].as_str().unwrap().to_string());
    }
    // Person 0 again: another photo, another impression, another name.
    let again = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture("p-0-again", Some("amy2.png"), Some((101, 2)), json!({"given_names": "Otra", "family_names": "Persona", "nationality": "COL", "sex": "F"})),
    );
    assert_eq!(again.status, 201, "{}", again.text);
    let dups = again.body["duplicates"].as_array().unwrap();
    assert_eq!(
        dups[0]["record_id"],
        first_ids[0].as_str(),
        "{}",
        again.text
    );
    assert_eq!(dups[0]["decision"], "duplicate", "{}", again.text);
    assert!(dups[0]["face_score"].as_f64().unwrap() > 0.5);
    assert!(dups[0]["finger_score"].as_f64().unwrap() > 0.0);
    assert!(dups.iter().skip(1).all(|d| d["decision"] != "duplicate"));
    let case_id = dups[0]["case_id"].as_str().unwrap().to_string();
    let new_id = again.body["record_id"].as_str().unwrap().to_string();

    // Identify (nothing stored) finds the same person with a face alone, and with a finger alone.
    let before = app.count("records");
    let id = app.post(
        "/api/v1/identify",
        Some(&scanner),
        &json!({"photo": face_b64("amy3.png")}),
    );
    assert_eq!(id.status, 200, "{}", id.text);
    let top = &id.body["candidates"][0];
    assert!(
        top["record_id"] == first_ids[0].as_str() || top["record_id"] == new_id.as_str(),
        "{}",
        id.text
    );
    assert!(
        top["finger_score"].is_null(),
        "no finger submitted, so none scored"
    );
    let id = app.post(
        "/api/v1/identify",
        Some(&scanner),
        &json!({"fingerprints": [fvc_finger(2, 102, 3)], "limit": 3}),
    );
    assert_eq!(
        id.body["candidates"][0]["record_id"],
        first_ids[1].as_str(),
        "{}",
        id.text
    );
    assert!(id.body["candidates"].as_array().unwrap().len() <= 3);
    assert_eq!(app.count("records"), before, "identify stores nothing");
    // Identify checks its biometrics as enrollment does.
    let f = fvc_finger(2, 102, 3);
    for (body, code) in [
        (
            json!({"fingerprints": [f.clone(), f.clone()]}),
            "duplicate_finger_position",
        ),
        (
            json!({"fingerprints": vec![f.clone(); 11]}),
            "too_many_fingers",
        ),
        (json!({"limit": 3}), "missing_biometrics"),
        (json!({"photo": "%%"}), "photo_undecodable"),
    ] {
        let r = app.post("/api/v1/identify", Some(&scanner), &body);
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    }

    // The case is listed, decided, and logged with its note.
    let cases = app.get("/api/v1/matches?status=pending", Some(&inv));
    assert!(
        cases.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["case_id"] == case_id.as_str()),
        "{}",
        cases.text
    );
    let d = app.post(
        &format!("/api/v1/matches/{case_id}/decision"),
        Some(&inv),
        &json!({"decision": "same_person", "note": "same fingerprints and face"}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "same_person");
    let again_d = app.post(
        &format!("/api/v1/matches/{case_id}/decision"),
        Some(&inv),
        &json!({"decision": "different_person"}),
    );
    assert_eq!(again_d.status, 409);
    let bad = app.post(
        &format!("/api/v1/matches/{case_id}/decision"),
        Some(&inv),
        &json!({"decision": "maybe"}),
    );
    assert_eq!(bad.status, 422);

    // One identity now: the record shows the link, and identify returns the identity once.
    let rec = app.request(
        "GET",
        &format!("/api/v1/records/{new_id}"),
        Some(&inv),
        &[("X-Purpose", "case review")],
        None,
    );
    assert_eq!(
        rec.body["enrollments"].as_array().unwrap().len(),
        2,
        "{}",
        rec.text
    );
    assert!(rec.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["record_id"] == first_ids[0].as_str() && l["kind"] == "same_person"));
    // The names, nationality and date of birth differ: identity_change.
    assert!(
        rec.body["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "identity_change"),
        "{}",
        rec.text
    );
    let id = app.post(
        "/api/v1/identify",
        Some(&inv),
        &json!({"photo": face_b64("amy3.png"), "fingerprints": [fvc_finger(2, 101, 3)]}),
    );
    let hits: Vec<&serde_json::Value> = id.body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["record_id"] == first_ids[0].as_str() || c["record_id"] == new_id.as_str())
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "the linked identity is returned once: {}",
        id.text
    );
    assert_eq!(hits[0]["decision"], "duplicate");

    let auditor = app.user("auditor");
    let log = app.get(
        &format!("/api/v1/audit?record_id={new_id}&action=match.decide:same_person"),
        Some(&auditor),
    );
    // Logged by case id; the note itself stays sealed in the case (issue 14).
    assert!(
        log.body["items"][0]["purpose"]
            .as_str()
            .unwrap()
            .contains(&case_id),
        "{}",
        log.text
    );
    assert!(
        !log.text.contains("same fingerprints and face"),
        "{}",
        log.text
    );
}

#[test]
fn different_person_decisions_keep_the_pair_out_of_later_candidates_and_deletion_leaves_the_gallery(
) {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let a = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture("d-1", Some("sheldon1.png"), Some((104, 1)), json!({})),
    );
    let a_id = a.body["record_id"].as_str().unwrap().to_string();
    let b = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture("d-2", Some("sheldon2.png"), Some((104, 2)), json!({})),
    );
    let case = b.body["duplicates"][0]["case_id"]
        .as_str()
        .expect("a case")
        .to_string();
    let d = app.post(
        &format!("/api/v1/matches/{case}/decision"),
        Some(&inv),
        &json!({"decision": "different_person", "note": "twins"}),
    );
    assert_eq!(d.status, 200);
    let b_id = b.body["record_id"].as_str().unwrap().to_string();
    // A third capture of the same person still matches both; the decided pair is not re-opened.
    let c = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &capture("d-3", Some("sheldon1.png"), Some((104, 3)), json!({})),
    );
    let ids: Vec<&str> = c.body["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["record_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&a_id.as_str()) && ids.contains(&b_id.as_str()),
        "{}",
        c.text
    );
    let pending = app.get("/api/v1/matches?status=pending", Some(&inv));
    assert!(pending.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["record_ids"] != json!([a_id, b_id])));

    // An admin deletes a record with a reason: it leaves every answer.
    let r = app.post(
        &format!("/api/v1/records/{a_id}/delete"),
        Some(&app.admin_token),
        &json!({"reason": ""}),
    );
    assert_eq!(r.status, 422);
    let r = app.post(
        &format!("/api/v1/records/{a_id}/delete"),
        Some(&app.admin_token),
        &json!({"reason": "court order 44/2026"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let id = app.post(
        "/api/v1/identify",
        Some(&scanner),
        &json!({"fingerprints": [fvc_finger(2, 104, 1)]}),
    );
    assert!(
        id.body["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["record_id"] != a_id.as_str()),
        "{}",
        id.text
    );
    assert_eq!(
        app.request(
            "GET",
            &format!("/api/v1/records/{a_id}"),
            Some(&inv),
            &[("X-Purpose", "x")],
            None
        )
        .status,
        410,
        "a deleted record answers 410 record_deleted (API v1.1)"
    );
}

#[test]
fn bad_biometrics_are_coded_422s() {
    let app = TestApp::start();
    let scanner = app.device("PA-METETI");
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let cases = [
        (
            json!({"capture_id": "x1", "photo": b64(b"GIF89a not a photo")}),
            "photo_unsupported_format",
        ),
        (
            json!({"capture_id": "x2", "photo": b64(&std::fs::read(fixture("fingers/fvc/101_1.xyt")).unwrap())}),
            "photo_undecodable",
        ),
        (
            json!({"capture_id": "x3", "fingerprints": [{"position": 2, "format": "iso-19794-2-2005", "template": b64(b"FMR\0 20\0\0\0")}]}),
            "template_truncated",
        ),
        (
            json!({"capture_id": "x4", "fingerprints": [{"position": 2, "format": "minutiae-json", "width": 500, "height": 500, "minutiae": [{"x": 10, "y": 10, "angle_deg": 0, "type": "ending"}]}]}),
            "too_few_minutiae",
        ),
    ];
    let before = app.count("records");
    for (mut body, code) in cases {
        body["site"] = json!("PA-METETI");
        let r = app.post("/api/v1/enrollments", Some(&scanner), &body);
        assert_eq!(r.status, 422, "{code}: {}", r.text);
        assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    }
    // A photo without a face (a fingerprint image re-encoded as PNG).
    let img = image::open(fixture("fingers/fvc/101_1.tif")).unwrap();
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &json!({"capture_id": "x5", "site": "PA-METETI", "photo": b64(&png)}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "no_face");
    // The same fingerprint image as a finger: minutiae are extracted from it.
    let r = app.post("/api/v1/enrollments", Some(&scanner), &json!({"capture_id": "x6", "site": "PA-METETI",
        "fingerprints": [{"position": 2, "format": "image", "image": b64(&std::fs::read(fixture("fingers/fvc/101_1.tif")).unwrap())}]}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body["quality"]["fingers"][0]["minutiae"]
            .as_u64()
            .unwrap()
            >= 8
    );
    let id = app.post(
        "/api/v1/identify",
        Some(&scanner),
        &json!({"fingerprints": [fvc_finger(2, 101, 2)]}),
    );
    assert_eq!(
        id.body["candidates"][0]["record_id"], r.body["record_id"],
        "{}",
        id.text
    );
    assert_eq!(app.count("records"), before + 1);
    // The declared resolution is honoured: the same pixels declared at 250 dpi are twice the
    // size at 500 and give other minutiae; an implausible resolution is taken as 500.
    let minutiae_at = |capture: &str, dpi: u16| {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &json!({"capture_id": capture, "site": "PA-METETI",
            "fingerprints": [{"position": 2, "format": "image", "resolution_dpi": dpi,
                "image": b64(&std::fs::read(fixture("fingers/fvc/101_1.tif")).unwrap())}]}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["quality"]["fingers"][0]["minutiae"]
            .as_u64()
            .unwrap()
    };
    let at_500 = r.body["quality"]["fingers"][0]["minutiae"]
        .as_u64()
        .unwrap();
    assert_eq!(minutiae_at("x7", 100), at_500);
    assert_ne!(minutiae_at("x8", 250), at_500);
}
