//! The reception flow over HTTP: sites and occupancy, events (idempotent, validated, sealed),
//! check-in by biometrics with due vaccinations, the journey indicators, statistics and
//! deletion.

use crate::common::*;
use serde_json::{json, Value};

const SITE: &str = "PA-DARIEN-LAJASBLANCAS";

fn enroll(app: &TestApp, token: &str, body: &Value) -> String {
    let r = app.post("/api/v1/enrollments", Some(token), body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["record_id"].as_str().expect("record_id").to_string()
}

fn event(app: &TestApp, token: &str, record: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/records/{record}/events"),
        Some(token),
        &body,
    )
}

fn site<'a>(sites: &'a Value, code: &str) -> &'a Value {
    sites["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("site {code} listed: {sites}"))
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn alerts(app: &TestApp, inv: &str, code: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/alerts?code={code}"), Some(inv));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().expect("items").clone()
}

#[test]
fn sites_events_and_occupancy() {
    let app = TestApp::start();
    let admin = app.admin_token.clone();
    let r = app.post(
        "/api/v1/sites",
        Some(&admin),
        &json!({"code": SITE, "name": "Lajas Blancas", "kind": "reception", "country": "PAN", "capacity": 10}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["capacity"], 10);
    let r = app.post(
        "/api/v1/sites",
        Some(&admin),
        &json!({"code": "PA-CHIRIQUI-SANVICENTE", "name": "San Vicente", "kind": "shelter", "country": "PAN", "covered_area_m2": 36.0}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["capacity"], 10, "floor(36 / 3.5): {}", r.text);
    let again = app.post(
        "/api/v1/sites",
        Some(&admin),
        &json!({"code": SITE, "name": "x", "kind": "reception"}),
    );
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["error"]["code"], "site_exists");
    let bad_kind = app.post(
        "/api/v1/sites",
        Some(&admin),
        &json!({"code": "X-1", "name": "x", "kind": "hotel"}),
    );
    assert_eq!(bad_kind.body["error"]["code"], "invalid_site_kind");

    let scanner = app.device(SITE);
    let _elsewhere = app.device("CO-NECOCLI-PUERTO");
    let inv = app.user("investigator");
    let adult = enroll(
        &app,
        &scanner,
        &enrollment(
            "rc-adult",
            11,
            json!({"given_names": "Ana", "date_of_birth": "1990-01-01"}),
        ),
    );
    let minor = enroll(
        &app,
        &scanner,
        &enrollment(
            "rc-minor",
            12,
            json!({"given_names": "Luz", "date_of_birth": "2018-01-01"}),
        ),
    );

    for (rid, eid) in [(&adult, "ev-1"), (&minor, "ev-2")] {
        let r = event(
            &app,
            &scanner,
            rid,
            json!({"event_id": eid, "type": "check_in"}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["type"], "check_in");
    }
    // A resent event answers 200 with the same body and writes nothing.
    let events_before = app.count("events");
    let r = event(
        &app,
        &scanner,
        &adult,
        json!({"event_id": "ev-1", "type": "check_in"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["record_id"], adult.as_str());
    assert_eq!(app.count("events"), events_before);
    // The same event_id for another event is a conflict.
    let r = event(
        &app,
        &scanner,
        &minor,
        json!({"event_id": "ev-1", "type": "check_in"}),
    );
    assert_eq!(r.status, 409, "{}", r.text);

    let sites = app.get("/api/v1/sites", Some(&scanner));
    assert_eq!(sites.status, 200, "{}", sites.text);
    let s = site(&sites.body, SITE);
    assert_eq!(s["occupancy"]["total"], 2, "{}", sites.text);
    assert_eq!(s["occupancy"]["adults"], 1);
    assert_eq!(s["occupancy"]["minors"], 1);
    assert_eq!(s["available"], 8);
    // A site named only by a device is listed with unknown capacity.
    let unregistered = site(&sites.body, "CO-NECOCLI-PUERTO");
    assert!(unregistered["capacity"].is_null(), "{}", sites.text);

    // Bad events are coded 422s and change nothing.
    for (body, code) in [
        (
            json!({"event_id": "b1", "type": "teleport"}),
            "invalid_event_type",
        ),
        (
            json!({"event_id": "b2", "type": "vaccination", "vaccine": "XYZ", "dose": 1}),
            "invalid_vaccine",
        ),
        (
            json!({"event_id": "b3", "type": "vaccination", "vaccine": "MR"}),
            "missing_field",
        ),
        (
            json!({"event_id": "b4", "type": "transfer", "to_site": "PA-CHIRIQUI-SANVICENTE", "transport": "bus"}),
            "missing_field",
        ),
        (
            json!({"event_id": "b5", "type": "medical_referral", "facility": "Centro de salud", "urgency": "whenever"}),
            "invalid_urgency",
        ),
        (
            json!({"event_id": "b6", "type": "check_in", "site": "CO-NECOCLI-PUERTO"}),
            "site_mismatch",
        ),
        (
            json!({"event_id": "b7", "type": "check_in", "at": "2099-01-01T00:00:00Z"}),
            "bad_event_time",
        ),
        (
            json!({"event_id": "b8", "type": "departure", "to_country": "costa rica"}),
            "invalid_country",
        ),
    ] {
        let r = event(&app, &scanner, &adult, body);
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    }
    let r = event(
        &app,
        &scanner,
        "rec_nobody",
        json!({"event_id": "b9", "type": "check_in"}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(app.count("events"), events_before);

    // Check-out closes the stay; a second one has no open check-in.
    let r = event(
        &app,
        &scanner,
        &minor,
        json!({"event_id": "ev-3", "type": "check_out"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = event(
        &app,
        &scanner,
        &minor,
        json!({"event_id": "ev-4", "type": "check_out"}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "no_open_check_in");
    let sites = app.get("/api/v1/sites", Some(&inv));
    assert_eq!(
        site(&sites.body, SITE)["occupancy"]["total"],
        1,
        "{}",
        sites.text
    );

    // Vaccination and referral: personal detail is sealed, investigators see it in the journey.
    let r = event(
        &app,
        &scanner,
        &adult,
        json!({"event_id": "ev-5", "type": "vaccination", "vaccine": "Td", "dose": 2, "lot": "LOT-SECRET-77"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = event(
        &app,
        &scanner,
        &adult,
        json!({"event_id": "ev-6", "type": "medical_referral", "facility": "Hospital Meteti", "urgency": "urgent"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let rec = app.request(
        "GET",
        &format!("/api/v1/records/{adult}"),
        Some(&inv),
        &[("X-Purpose", "shelter follow-up")],
        None,
    );
    assert_eq!(rec.status, 200, "{}", rec.text);
    let journey: Vec<&str> = rec.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(journey, ["check_in", "vaccination", "medical_referral"]);
    assert_eq!(rec.body["events"][1]["lot"], "LOT-SECRET-77");
    assert_eq!(rec.body["events"][2]["facility"], "Hospital Meteti");
    if !is_postgres() {
        let mut bytes = std::fs::read(app.dir.join("registro.db")).unwrap_or_default();
        bytes.extend(std::fs::read(app.dir.join("registro.db-wal")).unwrap_or_default());
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains("LOT-SECRET-77"), "lot stored in clear");
        assert!(!hay.contains("Hospital Meteti"), "facility stored in clear");
    }
}

#[test]
fn checkin_by_biometrics_says_which_vaccinations_are_due() {
    let app = TestApp::start();
    let scanner = app.device(SITE);
    let child = enroll(
        &app,
        &scanner,
        &capture(
            "ck-child",
            Some("amy1.png"),
            Some((101, 1)),
            json!({"given_names": "Niña", "date_of_birth": "2020-03-01", "nationality": "HTI"}),
        ),
    );
    let probe = json!({"photo": face_b64("amy2.png"), "fingerprints": [fvc_finger(2, 101, 2)]});
    let r = app.post("/api/v1/checkin", Some(&scanner), &probe);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["record_id"], child.as_str());
    assert_eq!(r.body["due_vaccinations"], json!(["measles"]), "{}", r.text);
    assert!(!r.text.contains("Niña") && !r.text.contains("2020-03-01"));
    let sites = app.get("/api/v1/sites", Some(&scanner));
    assert_eq!(
        site(&sites.body, SITE)["occupancy"]["minors"],
        1,
        "{}",
        sites.text
    );

    let r = event(
        &app,
        &scanner,
        &child,
        json!({"event_id": "vac-1", "type": "vaccination", "vaccine": "MR", "dose": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.post("/api/v1/checkin", Some(&scanner), &probe);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["due_vaccinations"], json!([]), "{}", r.text);

    // Someone never enrolled: 404 and no event.
    let before = app.count("events");
    let r = app.post(
        "/api/v1/checkin",
        Some(&scanner),
        &json!({"fingerprints": [fvc_finger(2, 104, 1)]}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "not_enrolled");
    assert_eq!(app.count("events"), before);
    // Check-in by biometrics is for devices.
    let inv = app.user("investigator");
    assert_eq!(app.post("/api/v1/checkin", Some(&inv), &probe).status, 403);
}

#[test]
fn a_transfer_without_arrival_raises_missing_after_transfer() {
    let app = TestApp::start();
    let scanner = app.device(SITE);
    let dest = app.device("PA-CHIRIQUI-SANVICENTE");
    let inv = app.user("investigator");
    let gone = enroll(
        &app,
        &scanner,
        &enrollment("tr-1", 21, json!({"date_of_birth": "1985-02-02"})),
    );
    let came = enroll(
        &app,
        &scanner,
        &enrollment("tr-2", 22, json!({"date_of_birth": "1986-02-02"})),
    );
    for (rid, eid) in [(&gone, "t-1"), (&came, "t-2")] {
        let r = event(
            &app,
            &scanner,
            rid,
            json!({"event_id": eid, "type": "transfer", "to_site": "PA-CHIRIQUI-SANVICENTE", "transport": "bus", "at": ago(80), "departs_at": ago(72)}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = event(
        &app,
        &dest,
        &came,
        json!({"event_id": "t-3", "type": "check_in", "at": ago(60)}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let raised = registro::service::reception::presence::sweep(&app.reg, registro::db::now())
        .expect("sweep");
    assert_eq!(raised, 1);
    let found = alerts(&app, &inv, "missing_after_transfer");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["record_ids"], json!([gone]));
    // A second sweep raises nothing new.
    let raised = registro::service::reception::presence::sweep(&app.reg, registro::db::now())
        .expect("sweep");
    assert_eq!(raised, 0);
    // The scanner saw no other person's data; the transfer statistics count both.
    let aud = app.user("auditor");
    let m = app.get("/api/v1/stats/transfers?suppress=true", Some(&aud));
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["cells"][0]["from_site"], SITE);
    assert_eq!(m.body["cells"][0]["count"], "<5");
    let m = app.get(
        "/api/v1/stats/transfers?suppress=false",
        Some(&app.admin_token),
    );
    assert_eq!(m.body["cells"][0]["count"], 2, "{}", m.text);
    // Auditors' windows are whole months on every statistics table with demographics or a
    // total, as for the registration flows; nothing is logged as read when refused.
    for path in [
        "/api/v1/stats/transfers?from=2026-11-20T10:00:00Z",
        "/api/v1/stats/vaccinations?to=2026-11-20T10:00:01Z",
        "/api/v1/stats/flows?kind=arrivals&by=nationality,sex&from=2026-11-20T10:00:00Z",
    ] {
        let r = app.get(path, Some(&aud));
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "window_not_whole_months", "{path}");
    }
    let r = app.get("/api/v1/stats/transfers?from=2026-11-01", Some(&aud));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn a_minor_sent_away_from_their_family_raises_family_separated_in_transfer() {
    let app = TestApp::start();
    let scanner = app.device(SITE);
    let inv = app.user("investigator");
    let mother = enroll(
        &app,
        &scanner,
        &enrollment("fam-m", 31, json!({"date_of_birth": "1990-01-01"})),
    );
    let mut kid = enrollment("fam-k", 32, json!({"date_of_birth": "2016-01-01"}));
    kid["companions"] = json!([{"capture_id": "fam-m", "relationship": "parent"}]);
    let kid = enroll(&app, &scanner, &kid);
    let father = enroll(
        &app,
        &scanner,
        &enrollment("fam-f", 33, json!({"date_of_birth": "1988-01-01"})),
    );
    let mut kid2 = enrollment("fam-k2", 34, json!({"date_of_birth": "2017-01-01"}));
    kid2["companions"] = json!([{"capture_id": "fam-f", "relationship": "parent"}]);
    let kid2 = enroll(&app, &scanner, &kid2);
    let departs = ago(0);
    let transfer = |rid: &str, eid: &str, to: &str| {
        let r = event(
            &app,
            &scanner,
            rid,
            json!({"event_id": eid, "type": "transfer", "to_site": to, "transport": "bus", "departs_at": departs}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    };
    // Family one: the child goes to one site, the mother to another.
    transfer(&kid, "f-1", "PA-CHIRIQUI-SANVICENTE");
    assert!(alerts(&app, &inv, "family_separated_in_transfer").is_empty());
    transfer(&mother, "f-2", "CR-PASOCANOAS");
    // Family two travels together.
    transfer(&kid2, "f-3", "PA-CHIRIQUI-SANVICENTE");
    transfer(&father, "f-4", "PA-CHIRIQUI-SANVICENTE");
    let later = registro::db::now() + chrono::Duration::hours(2);
    registro::service::reception::presence::sweep(&app.reg, later).expect("sweep");
    let found = alerts(&app, &inv, "family_separated_in_transfer");
    assert_eq!(found.len(), 1, "{found:?}");
    let ids = found[0]["record_ids"].as_array().expect("ids");
    assert!(
        ids.contains(&json!(kid)) && ids.contains(&json!(mother)),
        "{found:?}"
    );
    assert!(!ids.contains(&json!(kid2)));
}

#[test]
fn batches_statistics_and_deletion() {
    let app = TestApp::start();
    let scanner = app.device(SITE);
    let aud = app.user("auditor");
    let admin = app.admin_token.clone();
    let inv = app.user("investigator");
    let people: Vec<String> = (0..6)
        .map(|i| {
            enroll(
                &app,
                &scanner,
                &enrollment(
                    &format!("bs-{i}"),
                    40 + i,
                    json!({"date_of_birth": "2015-06-01", "nationality": "VEN", "sex": "F"}),
                ),
            )
        })
        .collect();
    let mut items: Vec<Value> = people
        .iter()
        .enumerate()
        .map(
            |(i, rid)| json!({"record_id": rid, "event_id": format!("bi-{i}"), "type": "check_in"}),
        )
        .collect();
    items.insert(
        2,
        json!({"record_id": people[0], "event_id": "bad", "type": "nap"}),
    );
    items.push(json!({"record_id": people[0], "event_id": "bv-0", "type": "vaccination", "vaccine": "MR", "dose": 1}));
    let r = app.post(
        "/api/v1/events/batch",
        Some(&scanner),
        &json!({"events": items}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let codes: Vec<u64> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["status_code"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(codes, [201, 201, 422, 201, 201, 201, 201, 201]);
    // Resent whole after a cut link: nothing new.
    let r = app.post(
        "/api/v1/events/batch",
        Some(&scanner),
        &json!({"events": items}),
    );
    let codes: Vec<u64> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["status_code"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(codes, [200, 200, 422, 200, 200, 200, 200, 200]);

    let s = app.get("/api/v1/stats/sites", Some(&aud));
    assert_eq!(s.status, 200, "{}", s.text);
    let today = s.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["site"] == SITE)
        .cloned()
        .expect("a day at the site");
    assert_eq!(today["arrivals"], 6, "{}", s.text);
    assert_eq!(today["occupancy"], 6);
    let csv = app.request(
        "GET",
        "/api/v1/stats/sites",
        Some(&aud),
        &[("Accept", "text/csv")],
        None,
    );
    assert!(
        csv.text
            .starts_with("site,day,arrivals,departures,occupancy\n"),
        "{}",
        csv.text
    );
    let v = app.get(
        "/api/v1/stats/vaccinations?by=vaccine,age_group&suppress=false",
        Some(&admin),
    );
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(
        v.body["cells"],
        json!([{"vaccine": "MR", "age_group": "5-11", "count": 1}])
    );
    let f = app.get(
        "/api/v1/stats/flows?kind=arrivals&by=nationality,sex",
        Some(&aud),
    );
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.body["total"], 6);
    assert_eq!(f.body["cells"][0]["count"], 6, "{}", f.text);
    let bad = app.get("/api/v1/stats/flows?kind=births", Some(&aud));
    assert_eq!(bad.status, 400, "{}", bad.text);

    // Deleting a record erases its events; occupancy and statistics count what remains.
    let r = app.post(
        &format!("/api/v1/records/{}/delete", people[0]),
        Some(&admin),
        &json!({"reason": "erasure request"}),
    );
    assert!(r.status == 200 || r.status == 202, "{}", r.text);
    if r.status == 200 {
        let sites = app.get("/api/v1/sites", Some(&inv));
        assert_eq!(
            site(&sites.body, SITE)["occupancy"]["total"],
            5,
            "{}",
            sites.text
        );
        let s = app.get("/api/v1/stats/sites?suppress=false", Some(&admin));
        let day = &s.body["items"][0];
        assert_eq!(day["arrivals"], 5, "{}", s.text);
        assert_eq!(day["occupancy"], 5);
        let v = app.get("/api/v1/stats/vaccinations?suppress=false", Some(&admin));
        assert_eq!(v.body["cells"], json!([]), "{}", v.text);
        let r = event(
            &app,
            &scanner,
            &people[0],
            json!({"event_id": "late", "type": "check_out"}),
        );
        assert_eq!(r.status, 410, "{}", r.text);
    }
}
