use crate::common::*;
use serde_json::json;

#[test]
fn openapi_lists_every_route_and_ops_endpoints_answer() {
    let app = TestApp::start();
    let doc = app.get("/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    for (method, path) in registro::http::ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from OpenAPI"));
        assert!(
            item.get(method.to_lowercase()).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert_eq!(app.get("/healthz", None).status, 200);
    let ready = app.get("/readyz", None);
    assert_eq!(ready.body["ready"], true);
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    assert_eq!(
        app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment("m-1", 1, json!({}))
        )
        .status,
        201
    );
    let m = app.get("/metrics", None);
    assert!(m.text.contains("registro_http_requests_total{method=\"POST\",route=\"/api/v1/enrollments\",status=\"201\"} 1"), "{}", m.text);
    assert!(m.text.contains("registro_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/enrollments\",le=\"+Inf\"} 1"));
    assert!(m.text.contains("registro_enrollments_total 1"));
    assert!(m.text.contains("registro_gallery_records 1"));
    let nf = app.get("/nope", None);
    assert_eq!(nf.status, 404);
    assert_eq!(nf.body["error"]["code"], "not_found");
    // Compressed answers for clients that ask (weak links).
    let r = app.request(
        "GET",
        "/api/v1/openapi.json",
        None,
        &[("Accept-Encoding", "gzip")],
        None,
    );
    assert_eq!(r.status, 200);
}
