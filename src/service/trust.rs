//! Trust the device (API.md v1.1 "Capture checks", site and time): a scanner's registered site
//! is authoritative, and a capture time may not lie in the future or before the device existed.
//!
//! * A request naming another `site` than its device's is `422 site_mismatch`, unless the admin
//!   registered the device with that site in `mobile_sites`. No `site` means the device's.
//! * `captured_at` more than [`MAX_FUTURE_SECS`] ahead of the server's clock, or (for a device)
//!   before the device was registered, is `422 bad_captured_at`. No `captured_at` means now.
//! * Investigators have no device: their `site` is taken as given, the future bound applies.
//!
//! Events and check-ins use [`resolve_site`] and [`check_captured_at`] the same way.

use super::{Principal, Registro};
use crate::db::schema::devices;
use crate::error::{ApiError, ApiResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// How far ahead of the server's clock a capture time may be (device clocks drift).
pub const MAX_FUTURE_SECS: i64 = 300;

/// What the server knows of the calling device.
#[derive(Debug, Clone)]
pub struct DeviceTrust {
    pub site: String,
    pub mobile_sites: Vec<String>,
    pub registered_at: NaiveDateTime,
}

/// The calling device's registration, or `None` for a user.
pub fn device_trust(reg: &Registro, who: &Principal) -> ApiResult<Option<DeviceTrust>> {
    let Some(id) = who.device_id.as_deref() else {
        return Ok(None);
    };
    let row: Option<(String, String, NaiveDateTime)> = reg.db.read(|c| -> ApiResult<_> {
        Ok(devices::table
            .filter(devices::id.eq(id))
            .select((devices::site, devices::mobile_sites, devices::created_at))
            .first(c)
            .optional()?)
    })?;
    Ok(row.map(|(site, mobile, registered_at)| DeviceTrust {
        site,
        mobile_sites: serde_json::from_str(&mobile).unwrap_or_default(),
        registered_at,
    }))
}

fn mismatch() -> ApiError {
    ApiError::client(
        "site_mismatch",
        "the site is not this device's site nor one of its mobile sites",
    )
}

fn bad_time(msg: &str) -> ApiError {
    ApiError::client("bad_captured_at", msg.to_string())
}

/// Checks a named site against the device; `Ok(site)` is the site to record.
pub fn site_for(trust: Option<&DeviceTrust>, named: Option<&str>) -> ApiResult<Option<String>> {
    let named = named.filter(|s| !s.is_empty());
    match (trust, named) {
        (Some(t), None) => Ok(Some(t.site.clone())),
        (Some(t), Some(s)) if s == t.site || t.mobile_sites.iter().any(|m| m == s) => {
            Ok(Some(s.to_string()))
        }
        (Some(_), Some(_)) => Err(mismatch()),
        (None, s) => Ok(s.map(str::to_string)),
    }
}

/// Checks a capture time against the clock and the device's registration.
pub fn time_ok(
    trust: Option<&DeviceTrust>,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if at > now + chrono::Duration::seconds(MAX_FUTURE_SECS) {
        return Err(bad_time("captured_at is more than 5 minutes in the future"));
    }
    if let Some(t) = trust {
        if at < t.registered_at {
            return Err(bad_time("captured_at is before the device was registered"));
        }
    }
    Ok(())
}

/// The site a request from `who` is recorded at: the device's when none is named; an error if
/// a device names a site it is not registered for.
pub fn resolve_site(
    reg: &Registro,
    who: &Principal,
    named: Option<&str>,
) -> ApiResult<Option<String>> {
    site_for(device_trust(reg, who)?.as_ref(), named)
}

/// Checks `at` for a request from `who` (see the module docs).
pub fn check_captured_at(reg: &Registro, who: &Principal, at: NaiveDateTime) -> ApiResult<()> {
    time_ok(device_trust(reg, who)?.as_ref(), at, crate::db::now())
}

/// Both checks for a validated capture: `site` as recorded and its `captured_at`.
pub fn check_capture(
    reg: &Registro,
    who: &Principal,
    site: &str,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let trust = device_trust(reg, who)?;
    site_for(trust.as_ref(), Some(site))?;
    time_ok(trust.as_ref(), at, crate::db::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc()
    }

    #[test]
    fn the_device_site_is_authoritative_unless_mobile() {
        let dev = DeviceTrust {
            site: "PA-METETI".into(),
            mobile_sites: vec!["PA-DARIEN-LAJASBLANCAS".into()],
            registered_at: t("2026-11-01T00:00:00Z"),
        };
        assert_eq!(site_for(Some(&dev), None).unwrap().unwrap(), "PA-METETI");
        assert_eq!(
            site_for(Some(&dev), Some("PA-METETI")).unwrap().unwrap(),
            "PA-METETI"
        );
        assert_eq!(
            site_for(Some(&dev), Some("PA-DARIEN-LAJASBLANCAS"))
                .unwrap()
                .unwrap(),
            "PA-DARIEN-LAJASBLANCAS"
        );
        assert_eq!(
            site_for(Some(&dev), Some("CO-NECOCLI")).unwrap_err().code(),
            "site_mismatch"
        );
        assert_eq!(
            site_for(None, Some("CO-NECOCLI")).unwrap().unwrap(),
            "CO-NECOCLI"
        );
    }

    #[test]
    fn capture_times_are_bounded_by_the_clock_and_the_registration() {
        let dev = DeviceTrust {
            site: "PA-METETI".into(),
            mobile_sites: vec![],
            registered_at: t("2026-11-01T00:00:00Z"),
        };
        let now = t("2026-12-01T12:00:00Z");
        assert!(time_ok(Some(&dev), t("2026-12-01T12:05:00Z"), now).is_ok());
        assert_eq!(
            time_ok(Some(&dev), t("2026-12-01T12:05:01Z"), now)
                .unwrap_err()
                .code(),
            "bad_captured_at"
        );
        assert!(time_ok(Some(&dev), t("2026-11-01T00:00:00Z"), now).is_ok());
        assert_eq!(
            time_ok(Some(&dev), t("2026-10-31T23:59:59Z"), now)
                .unwrap_err()
                .code(),
            "bad_captured_at"
        );
        assert!(time_ok(None, t("2020-01-01T00:00:00Z"), now).is_ok());
        assert!(time_ok(None, t("2026-12-01T12:06:00Z"), now).is_err());
    }
}
