//! The OpenAPI document, generated from the handlers' annotations.

use super::audit_routes::*;
use super::evidence::*;
use super::handlers::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;
impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "registro", description = "Registration and biometric de-duplication of migrants at first arrival (API.md v1)."),
    paths(login, create_user, create_device, enroll, enroll_batch, identify_route, get_record, search_records,
          delete_record, list_matches, decide_match, list_alerts, list_audit, verify_audit, flows, healthz, readyz,
          metrics, openapi_doc, audit_checkpoint, record_photo, record_face, case_evidence),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(<super::credentials::CredentialsDoc as OpenApi>::openapi());
    doc.merge(<super::reception::ReceptionDoc as OpenApi>::openapi());
    doc
}
