use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// Two registro nodes over one database: each finds the other's enrollments through the
/// change sequence, and a deletion on one leaves the other's gallery.
#[test]
fn two_nodes_see_each_others_enrollments_and_deletions() {
    let a = TestApp::start();
    let mut cfg = test_config(&a.dir, &a.db_url);
    cfg.follow_interval_ms = 200;
    let b = TestApp::start_on(a.dir.clone(), a.db_url.clone(), cfg);
    let scan_a = a.device("PA-DARIEN-LAJASBLANCAS");
    let scan_b = b.device("PA-DARIEN-LAJASBLANCAS");
    let r = a.post(
        "/api/v1/enrollments",
        Some(&scan_a),
        &capture2("n-1", 102, 101, 1, json!({})),
    );
    assert_eq!(r.status, 201);
    let rid = r.body["record_id"].as_str().unwrap().to_string();
    let probe = json!({"fingerprints": [fvc_finger(2, 102, 2), fvc_finger(3, 101, 2)]});
    let found_on_b = || {
        b.post("/api/v1/identify", Some(&scan_b), &probe).body["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["record_id"] == rid.as_str())
    };
    let t0 = Instant::now();
    while !found_on_b() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "node B never saw node A's enrollment"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And a re-registration on B is a duplicate of A's record.
    let again = b.post(
        "/api/v1/enrollments",
        Some(&scan_b),
        &capture2("n-2", 102, 101, 2, json!({})),
    );
    assert_eq!(
        again.body["duplicates"][0]["record_id"],
        rid.as_str(),
        "{}",
        again.text
    );
    assert_eq!(
        again.body["duplicates"][0]["decision"], "duplicate",
        "{}",
        again.text
    );
    // Deleted on A (each node bootstrapped an admin, so B's admin approves): gone from B.
    let d = a.post(
        &format!("/api/v1/records/{rid}/delete"),
        Some(&a.admin_token),
        &json!({"reason": "erasure request"}),
    );
    assert_eq!(d.status, 202, "{}", d.text);
    let approval = d.body["approval_id"].as_str().unwrap();
    let d = b.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(&b.admin_token),
        &json!({}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    let t0 = Instant::now();
    while found_on_b() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "node B kept a deleted record"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
