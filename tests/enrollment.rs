use crate::common::*;
use serde_json::json;

#[test]
fn a_retried_capture_returns_the_first_answer_and_never_a_second_record() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let body = enrollment(
        "cap-retry-1",
        11,
        json!({"given_names": "Ana", "family_names": "Lopez", "sex": "F"}),
    );
    let first = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["status"], "enrolled");
    assert_eq!(first.body["capture_id"], "cap-retry-1");
    let again = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body, first.body, "a retry gets the very same body");
    assert_eq!(app.count("records"), 1);

    // Many concurrent retries of one new capture: exactly one record.
    let body = enrollment("cap-race-1", 12, json!({}));
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let r = app.post("/api/v1/enrollments", Some(&scanner), &body);
                    (
                        r.status,
                        r.body["record_id"].as_str().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|(s, id)| (*s == 201 || *s == 200) && id == &results[0].1),
        "{results:?}"
    );
    assert_eq!(app.count("records"), 2);
}

#[test]
fn bad_input_gets_a_coded_error_and_changes_nothing() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let ok = enrollment("cap-ok", 3, json!({}));
    assert_eq!(
        app.post("/api/v1/enrollments", Some(&scanner), &ok).status,
        201
    );
    let records = app.count("records");
    let audit = app.count("audit_log");
    let cases = app.count("match_cases");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = enrollment(&unique("cap-"), 99, json!({}));
        f(&mut b);
        b
    };
    let cases_table: Vec<(serde_json::Value, u16, &str)> = vec![
        (
            with(&|b| b["capture_id"] = json!("")),
            422,
            "invalid_capture_id",
        ),
        (
            with(&|b| b["capture_id"] = json!("has spaces")),
            422,
            "invalid_capture_id",
        ),
        (
            with(&|b| b["site"] = json!("bad site!")),
            422,
            "invalid_site",
        ),
        (
            with(&|b| b["captured_at"] = json!("yesterday")),
            422,
            "invalid_captured_at",
        ),
        (
            with(&|b| b["person"]["sex"] = json!("Q")),
            422,
            "invalid_sex",
        ),
        (
            with(&|b| b["person"]["date_of_birth"] = json!("1990-13-40")),
            422,
            "invalid_date_of_birth",
        ),
        (
            with(&|b| b["person"]["date_of_birth"] = json!("2099-01-01")),
            422,
            "invalid_date_of_birth",
        ),
        (
            with(&|b| b["person"]["nationality"] = json!("Venezuela")),
            422,
            "invalid_nationality",
        ),
        (
            with(&|b| b["person"]["age_estimate"] = json!(400)),
            422,
            "invalid_age_estimate",
        ),
        (
            with(&|b| b["person"]["phone"] = json!("call me")),
            422,
            "invalid_phone",
        ),
        (
            with(&|b| b["person"]["document"] = json!({"type": "visa", "number": "1"})),
            422,
            "invalid_document",
        ),
        (
            with(&|b| b["companions"] = json!([{"capture_id": "c1", "relationship": "boss"}])),
            422,
            "invalid_relationship",
        ),
        (
            with(&|b| {
                b["fingerprints"] = json!([]);
            }),
            422,
            "missing_biometrics",
        ),
        (
            with(&|b| b["fingerprints"][0]["position"] = json!(11)),
            422,
            "bad_finger_position",
        ),
        (
            with(&|b| b["fingerprints"][1]["position"] = json!(2)),
            422,
            "duplicate_finger_position",
        ),
        (
            with(&|b| b["fingerprints"][0]["format"] = json!("wsq")),
            422,
            "unknown_template_format",
        ),
        (
            with(&|b| {
                b["fingerprints"][0] =
                    json!({"position": 3, "format": "iso-19794-2-2005", "template": "%%%"})
            }),
            422,
            "template_undecodable",
        ),
        (
            with(&|b| b["photo"] = json!("not base64 at all!")),
            422,
            "photo_undecodable",
        ),
        (
            with(&|b| b["fingerprints"][0]["position"] = json!("two")),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases_table {
        let r = app.post("/api/v1/enrollments", Some(&scanner), &body);
        assert_eq!(r.status, status, "{code}: {}", r.text);
        assert_eq!(r.body["error"]["code"], code, "{}", r.text);
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Not JSON at all.
    let r = app.request("POST", "/api/v1/enrollments", Some(&scanner), &[], None);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(app.count("records"), records);
    assert_eq!(
        app.count("audit_log"),
        audit,
        "rejected input leaves no trace but its error"
    );
    assert_eq!(app.count("match_cases"), cases);
}

#[test]
fn oversized_bodies_are_413() {
    let app = TestApp::start_with(|c| c.body_limit = 64 * 1024);
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let mut body = enrollment("cap-big", 1, json!({}));
    body["photo"] = json!("A".repeat(200 * 1024));
    let r = app.post("/api/v1/enrollments", Some(&scanner), &body);
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "payload_too_large");
    assert_eq!(app.count("records"), 0);
}

#[test]
fn offline_batch_answers_per_item_and_can_be_resent_whole() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let items = vec![
        enrollment("b-1", 21, json!({})),
        json!({"capture_id": "b-bad", "site": "X", "fingerprints": []}),
        enrollment("b-2", 22, json!({})),
    ];
    let r = app.post(
        "/api/v1/enrollments/batch",
        Some(&scanner),
        &json!({"enrollments": items}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let res = r.body["results"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["status_code"], 201);
    assert_eq!(res[1]["status_code"], 422);
    assert_eq!(res[1]["error"]["code"], "missing_biometrics");
    assert_eq!(res[2]["status_code"], 201);
    assert!(
        !r.text.contains("angle_deg") && r.text.len() < 4096,
        "responses do not echo submissions"
    );
    // Resent whole (e.g. the link dropped before the answer arrived).
    let again = app.post(
        "/api/v1/enrollments/batch",
        Some(&scanner),
        &json!({"enrollments": items}),
    );
    let res2 = again.body["results"].as_array().unwrap();
    assert_eq!(res2[0]["status_code"], 200);
    assert_eq!(res2[0]["record_id"], res[0]["record_id"]);
    assert_eq!(res2[2]["record_id"], res[2]["record_id"]);
    assert_eq!(app.count("records"), 2);
    let too_many: Vec<_> = (0..101)
        .map(|i| enrollment(&format!("t-{i}"), i, json!({})))
        .collect();
    let r = app.post(
        "/api/v1/enrollments/batch",
        Some(&scanner),
        &json!({"enrollments": too_many}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"]["code"], "batch_too_large");
    assert_eq!(app.count("records"), 2);
}
