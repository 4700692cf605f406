//! No window: enrollments of one person in flight at the same time find each other (API.md
//! v1.1, "Capture checks") — several scanners on one node, a batch racing single enrollments,
//! and two nodes over one database whose followers are too slow to help.

use crate::common::*;
use diesel::prelude::*;
use registro::biometrics::finger::synthetic::{
    ImpressionParams, MasterFinger, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::{FingerView, MinutiaKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Barrier;

/// The two fingers (right index, left index) of synthetic person `person`.
fn masters(person: u64) -> [MasterFinger; 2] {
    let mut g = SyntheticGenerator::new(0xc0_ffee ^ person, SyntheticConfig::default());
    [g.master(), g.master()]
}

fn finger_json(position: u8, v: &FingerView) -> Value {
    let minutiae: Vec<Value> = v
        .minutiae
        .iter()
        .map(|m| {
            json!({"x": m.x, "y": m.y, "angle_deg": m.angle.to_degrees().rem_euclid(360.0),
                   "type": if matches!(m.kind, MinutiaKind::Bifurcation) { "bifurcation" } else { "ending" },
                   "quality": m.quality.min(100)})
        })
        .collect();
    json!({"position": position, "format": "minutiae-json", "width": v.width, "height": v.height,
           "resolution_dpi": 500, "minutiae": minutiae})
}

/// An enrollment of synthetic `person` with fresh impressions (`visit`) and a new name.
pub fn arrival(capture_id: &str, person: u64, visit: u64) -> Value {
    let [a, b] = masters(person);
    let mut g = SyntheticGenerator::new(
        person.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ visit.wrapping_mul(31) ^ 0xabc,
        SyntheticConfig::default(),
    );
    let p = ImpressionParams::default();
    json!({
        "capture_id": capture_id,
        "captured_at": "2026-11-28T14:03:00Z",
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": {"given_names": format!("Nombre{visit}"), "family_names": "Prueba", "age_estimate": 30},
        "fingerprints": [finger_json(2, &g.render(&a, &p)), finger_json(7, &g.render(&b, &p))]
    })
}

/// Commit order of records: their `seq`.
fn seqs(app: &TestApp) -> HashMap<String, i64> {
    use registro::db::schema::records;
    app.reg
        .db
        .read(
            |c| -> Result<Vec<(String, i64)>, registro::error::ApiError> {
                Ok(records::table.select((records::id, records::seq)).load(c)?)
            },
        )
        .expect("records")
        .into_iter()
        .collect()
}

/// After every answer is in: each record but the first to commit is linked to an earlier one
/// by a `duplicate` in its answer *and* by a `duplicate` match case. (The decision rule is
/// set by FPIR at the number of identities searched, never fewer than the floor of 1 000:
/// two fresh impressions of two synthetic fingers clear it, docs/FUSION.md.)
fn assert_each_later_record_linked(app: &TestApp, answers: &[Value]) {
    let inv = app.user("investigator");
    let cases = app.get("/api/v1/matches?limit=1000", Some(&inv));
    assert_eq!(cases.status, 200, "{}", cases.text);
    let seq = seqs(app);
    let mut ours: Vec<(i64, &Value)> = answers
        .iter()
        .map(|a| (seq[a["record_id"].as_str().expect("record_id")], a))
        .collect();
    ours.sort_by_key(|o| o.0);
    ours.dedup_by_key(|o| o.0);
    assert!(ours.len() >= 2, "at least two records");
    for (s, answer) in ours.iter().skip(1) {
        let me = answer["record_id"].as_str().unwrap();
        let earlier = |other: &str| seq.get(other).is_some_and(|o| o < s);
        let in_answer = answer["duplicates"].as_array().unwrap().iter().any(|d| {
            d["decision"] == "duplicate"
                && d["case_id"].is_string()
                && earlier(d["record_id"].as_str().unwrap())
        });
        let in_cases = cases.body["items"].as_array().unwrap().iter().any(|c| {
            let ids: Vec<&str> = c["record_ids"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            c["decision"] == "duplicate"
                && ids.contains(&me)
                && ids.iter().any(|o| *o != me && earlier(o))
        });
        assert!(
            in_answer && in_cases,
            "record {me} (seq {s}) is not linked to an earlier record by a duplicate (in the answer: {in_answer}, a match case: {in_cases}): {answer}\ncases: {}",
            cases.text
        );
    }
}

/// Sends every body at once (a barrier releases the threads together); returns the answers.
fn all_at_once(targets: &[(&TestApp, &str, &str, Value)]) -> Vec<(u16, Value)> {
    let barrier = Barrier::new(targets.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|(app, token, path, body)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let r = app.post(path, Some(token), body);
                    (r.status, r.body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    })
}

#[test]
fn concurrent_enrollments_of_one_person_on_one_node_are_all_linked() {
    // A follower slower than the test: only the in-flight check can link the records.
    let app = TestApp::start_with(|c| c.follow_interval_ms = 600_000);
    let scanners: Vec<String> = (0..4)
        .map(|_| app.device("PA-DARIEN-LAJASBLANCAS"))
        .collect();
    // Someone else first, so the gallery is not empty.
    let other = app.post(
        "/api/v1/enrollments",
        Some(&scanners[0]),
        &arrival("cc-other", 2, 0),
    );
    assert_eq!(other.status, 201, "{}", other.text);
    let targets: Vec<(&TestApp, &str, &str, Value)> = (0..4u64)
        .map(|i| {
            (
                &app,
                scanners[i as usize].as_str(),
                "/api/v1/enrollments",
                arrival(&format!("cc-{i}"), 1, i),
            )
        })
        .collect();
    let answers = all_at_once(&targets);
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert!(
            body["duplicates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["record_id"] != other.body["record_id"] || d["decision"] != "duplicate"),
            "another person is no duplicate: {body}"
        );
    }
    let bodies: Vec<Value> = answers.into_iter().map(|a| a.1).collect();
    assert_each_later_record_linked(&app, &bodies);
    // Retries of every capture: the first answers again, never a second record.
    let before = app.count("records");
    for (i, b) in bodies.iter().enumerate() {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanners[i]),
            &arrival(&format!("cc-{i}"), 1, i as u64),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["record_id"], b["record_id"]);
        assert_eq!(r.body["duplicates"], b["duplicates"]);
    }
    assert_eq!(app.count("records"), before);
}

#[test]
fn a_batch_repeating_one_person_racing_single_enrollments_links_every_record() {
    let app = TestApp::start_with(|c| c.follow_interval_ms = 600_000);
    let offline = app.device("PA-DARIEN-LAJASBLANCAS");
    let desk = app.device("PA-DARIEN-LAJASBLANCAS");
    let batch = json!({"enrollments": [arrival("bt-0", 3, 0), arrival("bt-1", 3, 1), arrival("bt-2", 3, 2)]});
    let targets: Vec<(&TestApp, &str, &str, Value)> = vec![
        (&app, &offline, "/api/v1/enrollments/batch", batch.clone()),
        (&app, &desk, "/api/v1/enrollments", arrival("bt-s0", 3, 10)),
        (&app, &desk, "/api/v1/enrollments", arrival("bt-s1", 3, 11)),
    ];
    let answers = all_at_once(&targets);
    let mut bodies = Vec::new();
    for (status, body) in answers {
        assert_eq!(
            status,
            if body["results"].is_array() { 200 } else { 201 },
            "{body}"
        );
        match body["results"].as_array() {
            Some(items) => {
                for it in items {
                    assert_eq!(it["status_code"], 201, "{it}");
                    bodies.push(it.clone());
                }
            }
            None => bodies.push(body),
        }
    }
    assert_eq!(bodies.len(), 5);
    assert_each_later_record_linked(&app, &bodies);
    // The batch sent again whole: the same records, nothing new.
    let before = app.count("records");
    let again = app.post("/api/v1/enrollments/batch", Some(&offline), &batch);
    assert_eq!(again.status, 200, "{}", again.text);
    for (it, first) in again.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&bodies)
    {
        assert_eq!(it["status_code"], 200, "{it}");
        assert_eq!(it["record_id"], first["record_id"]);
    }
    assert_eq!(app.count("records"), before);
}

#[test]
fn two_nodes_enrolling_one_person_at_once_link_every_record() {
    let a = TestApp::start_with(|c| c.follow_interval_ms = 600_000);
    let mut cfg = test_config(&a.dir, &a.db_url);
    cfg.follow_interval_ms = 600_000;
    let b = TestApp::start_on(a.dir.clone(), a.db_url.clone(), cfg);
    let scan_a = a.device("PA-DARIEN-LAJASBLANCAS");
    let scan_b = b.device("PA-METETI");
    let mut targets: Vec<(&TestApp, &str, &str, Value)> = Vec::new();
    for i in 0..3u64 {
        targets.push((
            &a,
            &scan_a,
            "/api/v1/enrollments",
            arrival(&format!("tn-a{i}"), 4, i),
        ));
        let mut on_b = arrival(&format!("tn-b{i}"), 4, 10 + i);
        on_b["site"] = json!("PA-METETI");
        targets.push((&b, &scan_b, "/api/v1/enrollments", on_b));
    }
    let answers = all_at_once(&targets);
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    let bodies: Vec<Value> = answers.into_iter().map(|a| a.1).collect();
    assert_each_later_record_linked(&a, &bodies);
    // Without any follower poll, each node's gallery now holds every record (the window
    // added the other node's), so a later arrival on either node finds the person.
    for (app, scanner, cap) in [(&a, &scan_a, "tn-later-a"), (&b, &scan_b, "tn-later-b")] {
        let mut body = arrival(cap, 4, 99);
        body["site"] = json!(if cap.ends_with('a') {
            "PA-DARIEN-LAJASBLANCAS"
        } else {
            "PA-METETI"
        });
        let r = app.post("/api/v1/enrollments", Some(scanner), &body);
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(
            r.body["duplicates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["decision"] == "duplicate"),
            "{}",
            r.text
        );
    }
}
