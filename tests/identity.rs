//! Indicators over the biometric identity: records linked by a biometric `duplicate` are one
//! person for every rule about "one person", and a `different_person` decision that breaks
//! the link withdraws the alerts that rested on it.

use crate::common::*;
use crate::concurrency::arrival;
use serde_json::{json, Value};

fn codes(r: &Resp) -> Vec<String> {
    r.body["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

fn alerts(app: &TestApp, inv: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/alerts?{query}"), Some(inv));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

fn with(mut body: Value, age: i64, companion: Option<(&str, &str)>) -> Value {
    body["person"]["age_estimate"] = json!(age);
    if let Some((cap, rel)) = companion {
        body["companions"] = json!([{"capture_id": cap, "relationship": rel}]);
    }
    body
}

fn duplicate_case(answer: &Value, of: &Value) -> String {
    answer["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["record_id"] == of["record_id"] && d["decision"] == "duplicate")
        .unwrap_or_else(|| panic!("a duplicate of {} in {answer}", of["record_id"]))["case_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn an_adult_arriving_three_times_with_different_minors_is_flagged_before_any_decision() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let mut adults = Vec::new();
    for i in 0..3u64 {
        // The same adult under a new name each time, with an unrelated child.
        let a = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &with(arrival(&format!("am-a{i}"), 50, i), 34, None),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        for earlier in &adults {
            duplicate_case(&a.body, earlier);
        }
        adults.push(a.body.clone());
        let kid = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &with(
                arrival(&format!("am-k{i}"), 60 + i, 0),
                8,
                Some((&format!("am-a{i}"), "unrelated")),
            ),
        );
        assert_eq!(kid.status, 201, "{}", kid.text);
        assert_eq!(
            codes(&kid).contains(&"adult_with_many_minors".into()),
            i == 2,
            "raised with the third minor: {}",
            kid.text
        );
    }
    let raised = alerts(&app, &inv, "code=adult_with_many_minors");
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0]["record_ids"].as_array().unwrap().len(), 6);
    assert_eq!(raised[0]["status"], "active");
    assert_eq!(alerts(&app, &inv, "code=repeat_crossing").len(), 1);

    // The third visit is decided a different person from the first: still linked to the
    // second, so still one person, and the alert stands.
    let decide = |case: &str| {
        let d = app.post(
            &format!("/api/v1/matches/{case}/decision"),
            Some(&inv),
            &json!({"decision": "different_person", "note": "twins"}),
        );
        assert_eq!(d.status, 200, "{}", d.text);
    };
    decide(&duplicate_case(&adults[2], &adults[0]));
    assert_eq!(alerts(&app, &inv, "code=adult_with_many_minors").len(), 1);
    // ... and from the second: the link is broken, two visits with two minors remain, and the
    // alerts that rested on the link are withdrawn (still listed as such).
    decide(&duplicate_case(&adults[2], &adults[1]));
    assert!(alerts(&app, &inv, "code=adult_with_many_minors").is_empty());
    assert!(alerts(&app, &inv, "code=repeat_crossing").is_empty());
    let gone = alerts(&app, &inv, "code=adult_with_many_minors&status=withdrawn");
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["status"], "withdrawn");
    assert_eq!(
        alerts(&app, &inv, "code=adult_with_many_minors&status=all").len(),
        1
    );
    let rec = app.request(
        "GET",
        &format!(
            "/api/v1/records/{}",
            adults[2]["record_id"].as_str().unwrap()
        ),
        Some(&inv),
        &[("X-Purpose", "case review")],
        None,
    );
    assert!(
        rec.body["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["code"] != "adult_with_many_minors"),
        "{}",
        rec.text
    );
    let bad = app.get("/api/v1/alerts?status=gone", Some(&inv));
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["error"]["code"], "invalid_query");
}

#[test]
fn a_minor_arriving_three_times_with_different_adults_is_flagged() {
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    for i in 0..3u64 {
        let adult = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &with(arrival(&format!("mw-a{i}"), 80 + i, 0), 40, None),
        );
        assert_eq!(adult.status, 201, "{}", adult.text);
        let kid = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &with(
                arrival(&format!("mw-k{i}"), 70, i),
                9,
                Some((&format!("mw-a{i}"), "unknown")),
            ),
        );
        assert_eq!(kid.status, 201, "{}", kid.text);
        assert_eq!(
            codes(&kid).contains(&"minor_with_many_adults".into()),
            i == 2,
            "{}",
            kid.text
        );
    }
    assert_eq!(alerts(&app, &inv, "code=minor_with_many_adults").len(), 1);
    // The three adults are three people: no adult is flagged for one child seen thrice.
    assert!(alerts(&app, &inv, "code=adult_with_many_minors").is_empty());
}
