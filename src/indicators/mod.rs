//! Trafficking and smuggling indicators (filled in by the indicators work).

use crate::db::DbConn;
use crate::error::ApiResult;
use crate::service::enrollment::EnrollmentResponse;
use crate::service::Registro;

/// Thresholds of the indicators, from configuration.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub shared_phone_people: usize,
    pub adult_minors: usize,
    pub minor_adults: usize,
    pub repeat_crossings: usize,
    pub repeat_window_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { shared_phone_people: 3, adult_minors: 3, minor_adults: 3, repeat_crossings: 3, repeat_window_days: 90 }
    }
}

pub fn on_enrollment(
    _reg: &Registro,
    _conn: &mut DbConn,
    _record_id: &str,
    response: EnrollmentResponse,
) -> ApiResult<EnrollmentResponse> {
    Ok(response)
}

pub fn after_decision(_reg: &Registro, _conn: &mut DbConn, _a: &str, _b: &str, _decision: &str) -> ApiResult<()> {
    Ok(())
}
