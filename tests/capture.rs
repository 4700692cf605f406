//! Capture checks (API.md v1.1): several faces, the same finger twice, quality measures with
//! soft and hard limits — in enrollment, batch items and identification.

use crate::common::*;
use serde_json::{json, Value};

/// Two fixture faces pasted side by side on a grey canvas (with room around them, as in a
/// photo), as base64 PNG; the boxes of the two faces in pixels.
fn two_faces() -> (String, [[u32; 4]; 2]) {
    use base64::Engine;
    let load = |name: &str| {
        image::open(fixture(&format!("faces/{name}")))
            .expect("face fixture")
            .to_rgb8()
    };
    let (a, b) = (load("amy1.png"), load("penny1.png"));
    let mut canvas = image::RgbImage::from_pixel(640, 320, image::Rgb([128, 128, 128]));
    let boxes = [
        [80, 85, a.width(), a.height()],
        [400, 85, b.width(), b.height()],
    ];
    image::imageops::overlay(&mut canvas, &a, 80, 85);
    image::imageops::overlay(&mut canvas, &b, 400, 85);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(canvas)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    (base64::engine::general_purpose::STANDARD.encode(png), boxes)
}

fn error_code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

/// An FVC finger with its minutiae cut to `keep` spread over the print and shrunk towards
/// their centre by `scale`: fewer minutiae, on a smaller area.
fn cut_finger(position: u8, finger: u32, keep: usize, scale: f64) -> Value {
    let mut f = fvc_finger(position, finger, 1);
    let all = f["minutiae"].as_array().unwrap().clone();
    let step = all.len() / keep;
    let ms: Vec<Value> = all.into_iter().step_by(step).take(keep).collect();
    let n = ms.len() as f64;
    let cx = ms.iter().map(|m| m["x"].as_f64().unwrap()).sum::<f64>() / n;
    let cy = ms.iter().map(|m| m["y"].as_f64().unwrap()).sum::<f64>() / n;
    f["minutiae"] = ms
        .into_iter()
        .map(|mut m| {
            m["x"] = json!(cx + (m["x"].as_f64().unwrap() - cx) * scale);
            m["y"] = json!(cy + (m["y"].as_f64().unwrap() - cy) * scale);
            m
        })
        .collect();
    f
}

#[test]
fn a_photo_with_two_faces_is_refused_unless_face_box_names_one() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let (photo, boxes) = two_faces();
    let mut body = json!({"capture_id": "two-faces-1", "photo": photo, "fingerprints": []});

    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(error_code(&r), "multiple_faces");
    assert_eq!(app.count("records"), 0, "nothing written");
    assert_eq!(app.count("changes"), 0);
    let r = app.post("/api/v1/identify", Some(&key), &json!({"photo": photo}));
    assert_eq!((r.status, error_code(&r)), (422, "multiple_faces"));

    // A box that covers no face is a no_face, and still writes nothing.
    body["face_box"] = json!({"x": 0, "y": 0, "width": 40, "height": 40});
    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!((r.status, error_code(&r)), (422, "no_face"), "{}", r.text);
    body["face_box"] = json!({"x": 0, "y": 0, "width": -4, "height": 40});
    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!((r.status, error_code(&r)), (422, "invalid_face_box"));
    assert_eq!(app.count("records"), 0);

    // Naming the second face (penny) enrolls it.
    let [x, y, w, h] = boxes[1];
    body["face_box"] = json!({"x": x, "y": y, "width": w, "height": h});
    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let fm = &r.body["quality"]["face_measures"];
    assert_eq!(fm["faces_found"], 2);
    let record = r.body["record_id"].as_str().unwrap().to_string();
    assert_eq!(app.count("records"), 1);

    // It is penny's face that was described: another photo of her finds the record first.
    let r = app.post(
        "/api/v1/identify",
        Some(&key),
        &json!({"photo": face_b64("penny2.png"), "limit": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["candidates"][0]["record_id"], record.as_str());
    assert!(r.body["candidates"][0]["face_score"].as_f64().unwrap() > 0.5);
    let r = app.post(
        "/api/v1/identify",
        Some(&key),
        &json!({"photo": face_b64("amy2.png"), "limit": 1}),
    );
    let amy_score = r.body["candidates"][0]["face_score"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(amy_score < 0.5, "amy is not the face enrolled: {amy_score}");
}

#[test]
fn the_same_finger_twice_in_one_submission_is_refused() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let cases = [
        // The same impression at two positions, and at position 0 twice.
        (
            vec![fvc_finger(2, 101, 1), fvc_finger(7, 101, 1)],
            "positions 2 and 7",
        ),
        (
            vec![fvc_finger(0, 102, 1), fvc_finger(0, 102, 1)],
            "positions 0 and 0",
        ),
        // Fresh impressions of one finger, beside another finger.
        (
            vec![
                fvc_finger(1, 103, 1),
                fvc_finger(2, 104, 1),
                fvc_finger(3, 104, 3),
            ],
            "positions 2 and 3",
        ),
    ];
    for (i, (fingers, named)) in cases.iter().enumerate() {
        let body = json!({"capture_id": format!("dup-{i}"), "fingerprints": fingers});
        let r = app.post("/api/v1/enrollments", Some(&key), &body);
        assert_eq!(
            (r.status, error_code(&r)),
            (422, "duplicate_finger"),
            "{}",
            r.text
        );
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(named), "{msg}");
        let r = app.post(
            "/api/v1/identify",
            Some(&key),
            &json!({"fingerprints": fingers}),
        );
        assert_eq!((r.status, error_code(&r)), (422, "duplicate_finger"));
    }
    // In a batch, the item is refused and its neighbour enrolled.
    let r = app.post(
        "/api/v1/enrollments/batch",
        Some(&key),
        &json!({"enrollments": [
            {"capture_id": "dup-b1", "fingerprints": [fvc_finger(2, 104, 1), fvc_finger(3, 104, 2)]},
            {"capture_id": "dup-b2", "fingerprints": [fvc_finger(2, 104, 1), fvc_finger(3, 105, 1)]},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status_code"], 422, "{}", results[0]);
    assert_eq!(results[0]["error"]["code"], "duplicate_finger");
    assert_eq!(results[1]["status_code"], 201, "{}", results[1]);
    assert_eq!(app.count("records"), 1, "only the good item is written");
}

#[test]
fn quality_measures_flag_or_refuse_a_poor_finger() {
    let app = TestApp::start();
    let key = app.device("PA-DARIEN-LAJASBLANCAS");

    // A good capture: every measure present and passing, nothing to retake.
    let r = app.post(
        "/api/v1/enrollments",
        Some(&key),
        &capture("q-good", Some("amy1.png"), Some((101, 1)), json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let q = &r.body["quality"];
    assert!(q["face"].as_f64().unwrap() > 0.0, "v1 field kept");
    assert_eq!(q["fingers"][0]["position"], 2);
    assert!(
        q["fingers"][0]["minutiae"].as_u64().unwrap() > 12,
        "v1 field kept"
    );
    let fm = &q["face_measures"];
    for m in [
        "inter_eye_px",
        "yaw_deg",
        "pitch_deg",
        "sharpness",
        "exposure_mean",
        "exposure_clipped",
    ] {
        assert!(fm[m]["value"].is_number(), "{m}: {fm}");
        assert_eq!(fm[m]["pass"], true, "{m}: {fm}");
    }
    assert_eq!(fm["faces_found"], 1);
    let f = &q["fingers"][0]["measures"];
    assert!(f["area_mm2"]["value"].as_f64().unwrap() > 25.0, "{f}");
    assert_eq!(f["minutiae"]["pass"], true);
    assert!(f["minutia_quality"]["median"].is_number(), "{f}");
    assert_eq!(q["retake"], json!([]));
    assert_eq!(q["fingers"][0]["low_quality"], false);

    // Ten minutiae (between the hard 8 and the soft 12): accepted, flagged, retake asked.
    let body = json!({"capture_id": "q-flagged", "fingerprints": [fvc_finger(3, 102, 1), cut_finger(7, 103, 10, 1.0)]});
    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let q = &r.body["quality"];
    assert_eq!(q["retake"], json!(["finger:7"]), "{q}");
    assert_eq!(q["fingers"][1]["low_quality"], true);
    assert_eq!(q["fingers"][1]["measures"]["minutiae"]["pass"], false);
    assert_eq!(q["fingers"][0]["low_quality"], false);
    assert_eq!(app.count("records"), 2);

    // The same minutiae crowded into a few mm²: below the hard minimum, refused, nothing written.
    let body = json!({"capture_id": "q-refused", "fingerprints": [fvc_finger(3, 104, 1), cut_finger(8, 105, 12, 0.1)]});
    let r = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(
        (r.status, error_code(&r)),
        (422, "low_quality"),
        "{}",
        r.text
    );
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("finger:8") && msg.contains("area_mm2"),
        "{msg}"
    );
    assert_eq!(app.count("records"), 2, "nothing written");
    let r = app.post(
        "/api/v1/identify",
        Some(&key),
        &json!({"fingerprints": [cut_finger(8, 105, 12, 0.1)]}),
    );
    assert_eq!((r.status, error_code(&r)), (422, "low_quality"));

    // Identify answers carry the same quality part.
    let r = app.post(
        "/api/v1/identify",
        Some(&key),
        &json!({"photo": face_b64("amy2.png"), "fingerprints": [cut_finger(2, 101, 10, 1.0)]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let q = &r.body["quality"];
    assert!(
        q["face_measures"]["inter_eye_px"]["value"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{q}"
    );
    assert_eq!(q["retake"], json!(["finger:2"]));
    assert_eq!(q["fingers"][0]["measures"]["minutiae"]["value"], 10.0);
}

#[test]
fn hard_limits_are_configurable() {
    // With a stricter area minimum, a normal finger is refused: the limits come from Config.
    let app = TestApp::start_with(|c| c.capture_limits.finger.area_mm2.hard = 1000.0);
    let key = app.device("PA-DARIEN-LAJASBLANCAS");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&key),
        &capture("q-strict", None, Some((101, 1)), json!({})),
    );
    assert_eq!(
        (r.status, error_code(&r)),
        (422, "low_quality"),
        "{}",
        r.text
    );
    assert_eq!(app.count("records"), 0);
}

#[test]
fn capture_checks_are_in_the_openapi_document() {
    let app = TestApp::start();
    let r = app.get("/api/v1/openapi.json", None);
    assert_eq!(r.status, 200);
    let schemas = &r.body["components"]["schemas"];
    for s in [
        "FaceBox",
        "FaceQualityView",
        "FingerMeasuresView",
        "MeasureView",
    ] {
        assert!(
            schemas[s].is_object(),
            "{s} missing from the OpenAPI document"
        );
    }
    let quality = &schemas["Quality"]["properties"];
    assert!(quality["retake"].is_object() && quality["face_measures"].is_object());
    assert!(schemas["EnrollmentRequest"]["properties"]["face_box"].is_object());
    assert!(schemas["IdentifyResponse"]["properties"]["quality"].is_object());
}
