//! The fuzz targets: every parser of registro that reads bytes from outside. Each returns a
//! typed outcome signature, or a violation when an invariant fails (an untyped or 5xx error,
//! a decoded size past its limit, an accepted value out of range). Panics are caught by the
//! engine.
#![allow(dead_code)]

use super::engine::{bucket, shape, Target, Verdict};
use registro::biometrics::face::intake;
use registro::biometrics::finger::{self, FingerError};
use registro::error::ApiError;
use registro::service::enrollment::{self, EnrollmentRequest};
use registro::service::identify::IdentifyRequest;
use registro::service::matching::{self, FingerInput, Matcher};
use registro::service::reception::{self, BatchEvent, CheckinRequest, EventRequest};
use registro::service::{Principal, Role};

const MIB: usize = 1 << 20;

/// A typed API error must be a client error (4xx) with a snake_case code.
fn api_error(e: &ApiError) -> Verdict {
    let code = e.code();
    let status = registro::error::status_for_code(code);
    let snake = !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !snake || !status.is_client_error() || matches!(e, ApiError::Internal(_)) {
        return Err(format!("untyped or server error {code} ({status}): {e}"));
    }
    Ok(shape(code, &e.to_string()))
}

fn finger_error(e: &FingerError) -> Verdict {
    Ok(shape(e.code(), &e.to_string()))
}

fn json_error(e: &serde_json::Error) -> Verdict {
    Ok(format!("json:{:?}", e.classify()))
}

/// A parsed record is bounded by its input: each minutia takes at least 5 bytes on the wire,
/// every minutia lies inside its view, and each view has at most 255 minutiae.
fn check_record(rec: &finger::FingerRecord, len: usize) -> Verdict {
    let total: usize = rec.views.iter().map(|v| v.minutiae.len()).sum();
    if total * 5 > len {
        return Err(format!("{total} minutiae from {len} bytes"));
    }
    for v in &rec.views {
        if v.minutiae.len() > 255 || v.position > 10 {
            return Err("view out of range".into());
        }
        for m in &v.minutiae {
            let inside = m.x >= 0.0
                && m.y >= 0.0
                && m.x < f32::from(v.width.max(1))
                && m.y < f32::from(v.height.max(1));
            if !inside || !m.angle.is_finite() {
                return Err(format!("minutia ({}, {}) outside its view", m.x, m.y));
            }
        }
    }
    Ok(format!(
        "ok:views={} minutiae={}",
        rec.views.len(),
        bucket(total)
    ))
}

fn template(format: &str, data: &[u8]) -> Verdict {
    match finger::parse_template(format, data) {
        Ok(rec) => check_record(&rec, data.len()),
        Err(e) => finger_error(&e),
    }
}

fn iso2005(data: &[u8]) -> Verdict {
    template("iso-19794-2-2005", data)
}
fn iso2011(data: &[u8]) -> Verdict {
    template("iso-19794-2-2011", data)
}
fn ansi2004(data: &[u8]) -> Verdict {
    template("ansi-378-2004", data)
}
fn ansi2009(data: &[u8]) -> Verdict {
    template("ansi-378-2009", data)
}

fn check_view(v: &finger::FingerView) -> Verdict {
    if v.minutiae.len() < finger::MIN_MINUTIAE || v.minutiae.len() > 255 || v.position > 10 {
        return Err(format!("view with {} minutiae accepted", v.minutiae.len()));
    }
    Ok(format!("ok:minutiae={}", bucket(v.minutiae.len())))
}

/// One finger of a request body, from JSON through base64 to the parser: the path of
/// `minutiae-json`, of the scanner formats and of `image`.
fn finger_input(data: &[u8]) -> Verdict {
    let f: FingerInput = match serde_json::from_slice(data) {
        Ok(f) => f,
        Err(e) => return json_error(&e),
    };
    finger_of(&f)
}

fn finger_of(f: &FingerInput) -> Verdict {
    // As the service does: the request's checks (position, counts) come before the parser.
    if let Err(e) = matching::validate_biometrics(None, std::slice::from_ref(f)) {
        return api_error(&e);
    }
    match Matcher::finger_view(f) {
        Ok((_, view, _)) => check_view(&view).map(|s| format!("{}:{s}", f.format)),
        Err(e) => api_error(&e),
    }
}

fn photo(data: &[u8]) -> Verdict {
    match intake::decode(data) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            if w > intake::MAX_SIDE
                || h > intake::MAX_SIDE
                || u64::from(w) * u64::from(h) > intake::MAX_PIXELS
                || w < intake::MIN_SIDE
                || h < intake::MIN_SIDE
            {
                return Err(format!("{w}x{h} photo accepted"));
            }
            Ok(format!("ok:{}x{}", bucket(w as usize), bucket(h as usize)))
        }
        Err(e) => Ok(shape(e.code(), &e.to_string())),
    }
}

/// The finger image decoder at 500 dpi, and at 250 and 1000 dpi for one input in four each
/// (the rescaling path).
fn finger_image(data: &[u8]) -> Verdict {
    let dpi = match data.len() % 4 {
        2 => 250,
        3 => 1000,
        _ => 500,
    };
    match finger::decode_gray(data, dpi) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            let max = finger::MAX_IMAGE_PIXELS_SIDE;
            if w > max || h > max {
                return Err(format!("{w}x{h} finger image accepted"));
            }
            Ok(format!(
                "ok:{dpi}:{}x{}",
                bucket(w as usize),
                bucket(h as usize)
            ))
        }
        Err(e) => finger_error(&e),
    }
}

fn investigator() -> Principal {
    Principal {
        actor: "fuzz".into(),
        role: Role::Investigator,
        device_id: None,
        site: None,
        remote_addr: "127.0.0.1".into(),
    }
}

fn scanner() -> Principal {
    Principal {
        actor: "device:fuzz".into(),
        role: Role::Scanner,
        device_id: Some("fuzz".into()),
        site: Some("SITE-A".into()),
        remote_addr: "127.0.0.1".into(),
    }
}

/// The biometric part of a request: photo (base64, then the photo decoder), face box,
/// fingers, as enrollment, identify and check-in run it before any engine work.
fn biometrics(
    photo_b64: Option<&str>,
    face_box: Option<&registro::service::capture::FaceBox>,
    fingers: &[FingerInput],
) -> Verdict {
    let photo_bytes = match matching::validate_biometrics(photo_b64, fingers) {
        Ok(p) => p,
        Err(e) => return api_error(&e),
    };
    if let Err(e) = registro::service::capture::face_box(face_box, photo_bytes.is_some()) {
        return api_error(&e);
    }
    let mut sig = String::from("ok");
    if let Some(p) = &photo_bytes {
        sig = photo(p)?;
    }
    for f in fingers {
        sig.push('|');
        sig.push_str(&finger_of(f)?);
    }
    Ok(sig)
}

fn enrollment_value(req: EnrollmentRequest) -> Verdict {
    let photo_b64 = req.photo.clone();
    let face_box = req.face_box;
    let fingers = req.fingerprints.clone();
    if let Err(e) = enrollment::validate(req, &investigator()) {
        return api_error(&e);
    }
    biometrics(photo_b64.as_deref(), face_box.as_ref(), &fingers).map(|s| format!("valid:{s}"))
}

fn enrollment(data: &[u8]) -> Verdict {
    match serde_json::from_slice::<EnrollmentRequest>(data) {
        Ok(req) => enrollment_value(req),
        Err(e) => json_error(&e),
    }
}

fn identify(data: &[u8]) -> Verdict {
    let req: IdentifyRequest = match serde_json::from_slice(data) {
        Ok(r) => r,
        Err(e) => return json_error(&e),
    };
    if let Err(e) = matching::validate_biometrics(req.photo.as_deref(), &req.fingerprints) {
        return api_error(&e);
    }
    if let Err(e) = registro::service::clamp_limit(req.limit) {
        return api_error(&e);
    }
    biometrics(
        req.photo.as_deref(),
        req.face_box.as_ref(),
        &req.fingerprints,
    )
}

fn checkin(data: &[u8]) -> Verdict {
    let req: CheckinRequest = match serde_json::from_slice(data) {
        Ok(r) => r,
        Err(e) => return json_error(&e),
    };
    biometrics(req.photo.as_deref(), None, &req.fingerprints)
}

fn event_value(req: &EventRequest) -> Verdict {
    // As a device (its site is authoritative) and as an investigator.
    let a = match reception::validate_event(&scanner(), req) {
        Ok(_) => "ok".to_string(),
        Err(e) => api_error(&e)?,
    };
    let b = match reception::validate_event(&investigator(), req) {
        Ok(_) => "ok".to_string(),
        Err(e) => api_error(&e)?,
    };
    Ok(format!("{a}/{b}"))
}

fn event(data: &[u8]) -> Verdict {
    match serde_json::from_slice::<EventRequest>(data) {
        Ok(req) => event_value(&req),
        Err(e) => json_error(&e),
    }
}

/// `POST /enrollments/batch`: the envelope, then each item as the handler reads it.
fn enrollment_batch(data: &[u8]) -> Verdict {
    let req: registro::http::handlers::BatchRequest = match serde_json::from_slice(data) {
        Ok(r) => r,
        Err(e) => return json_error(&e),
    };
    let mut sig = format!("items={}", bucket(req.enrollments.len()));
    for item in req.enrollments.into_iter().take(100) {
        sig.push('|');
        match serde_json::from_value::<EnrollmentRequest>(item) {
            Ok(r) => sig.push_str(&enrollment_value(r)?),
            Err(e) => sig.push_str(&json_error(&e)?),
        }
    }
    Ok(sig)
}

fn event_batch(data: &[u8]) -> Verdict {
    let req: registro::http::reception::EventBatchRequest = match serde_json::from_slice(data) {
        Ok(r) => r,
        Err(e) => return json_error(&e),
    };
    let mut sig = format!("items={}", bucket(req.events.len()));
    for item in req.events.into_iter().take(100) {
        sig.push('|');
        match serde_json::from_value::<BatchEvent>(item) {
            Ok(b) => {
                if let Err(e) = reception::validate_event_id(&b.record_id) {
                    sig.push_str(&api_error(&e)?);
                }
                sig.push_str(&event_value(&b.event)?)
            }
            Err(e) => sig.push_str(&json_error(&e)?),
        }
    }
    Ok(sig)
}

/// The small bodies: login, new user, decision, deletion, new device.
fn credentials(data: &[u8]) -> Verdict {
    use registro::http::handlers::{DecisionRequest, DeleteRequest, LoginRequest, NewUserRequest};
    let a = serde_json::from_slice::<LoginRequest>(data).is_ok();
    let b = serde_json::from_slice::<NewUserRequest>(data).is_ok();
    let c = serde_json::from_slice::<DecisionRequest>(data).is_ok();
    let d = serde_json::from_slice::<DeleteRequest>(data).is_ok();
    Ok(format!("{a}{b}{c}{d}"))
}

/// Query strings: pagination cursors, limits and instants.
fn cursor(data: &[u8]) -> Verdict {
    let Ok(s) = std::str::from_utf8(data) else {
        return Ok("not_utf8".into());
    };
    let a = match registro::service::parse_cursor(Some(s)) {
        Ok(Some(v)) if v <= 0 => return Err(format!("cursor {v} accepted")),
        Ok(v) => format!("cursor:{}", v.is_some()),
        Err(e) => api_error(&e)?,
    };
    let b = match registro::service::parse_instant("from", Some(s)) {
        Ok(v) => format!("instant:{}", v.is_some()),
        Err(e) => api_error(&e)?,
    };
    let c = match s.parse::<i64>() {
        Ok(l) => match registro::service::clamp_limit(Some(l)) {
            Ok(v) if !(1..=1000).contains(&v) => return Err(format!("limit {v} accepted")),
            Ok(_) => "limit:ok".into(),
            Err(e) => api_error(&e)?,
        },
        Err(_) => "limit:nan".into(),
    };
    Ok(format!("{a}/{b}/{c}"))
}

fn base64_field(data: &[u8]) -> Verdict {
    let Ok(s) = std::str::from_utf8(data) else {
        return Ok("not_utf8".into());
    };
    match matching::decode_b64("template_undecodable", s) {
        Ok(v) if v.len() > s.len() => Err(format!("{} bytes from {} characters", v.len(), s.len())),
        Ok(v) => Ok(format!("ok:{}", bucket(v.len()))),
        Err(e) => api_error(&e),
    }
}

/// Key files and the audit head file: what an operator (or an attacker with file access)
/// puts on disk.
fn key_file(data: &[u8]) -> Verdict {
    let Ok(s) = std::str::from_utf8(data) else {
        return Ok("not_utf8".into());
    };
    let a = match registro::crypto::parse_key_file(s) {
        Ok(keys) if keys.is_empty() => return Err("empty key list accepted".into()),
        Ok(keys) => format!("keys:{}", bucket(keys.len())),
        Err(e) => shape("key_file", &e),
    };
    let b = match registro::crypto::parse_audit_key_file(s) {
        Ok(k) => format!("audit:{}", bucket(k.signing_keys())),
        Err(e) => shape("audit_key_file", &e),
    };
    let c = match registro::service::audit::parse_head(s) {
        Some((seq, h)) if h.len() != 64 => return Err(format!("head {seq} with a short hash")),
        Some(_) => "head:ok".to_string(),
        None => "head:bad".into(),
    };
    Ok(format!("{a}/{b}/{c}"))
}

/// An auditor's checkpoint file: JSON, base64 signature and key, Ed25519 verification.
fn checkpoint(data: &[u8]) -> Verdict {
    match serde_json::from_slice::<registro::service::audit::Checkpoint>(data) {
        Ok(cp) => Ok(format!(
            "checkpoint:{}",
            registro::service::audit::checkpoint_signature_ok(&cp, None)
        )),
        Err(e) => json_error(&e),
    }
}

fn small(len: usize) -> usize {
    MIB + 64 * len
}
fn json_budget(len: usize) -> usize {
    // JSON values and base64 take a few times their text; the images inside are tiny seeds,
    // but a mutant may declare more: the photo decoder's own limit bounds it.
    4 * MIB + 64 * len + photo_budget(len)
}
fn photo_budget(_len: usize) -> usize {
    // intake::decode: the decoder limit (RGBA16 of the largest image plus 64 MiB), then the
    // RGB copy of the largest image.
    (intake::MAX_PIXELS as usize) * (8 + 3) + 64 * MIB + 16 * MIB
}
fn finger_image_budget(_len: usize) -> usize {
    // decode_gray: the 64 MiB decoder limit and the grey copy, or a rescale to at most
    // 2,000 px a side (a one-channel f32 pass and the output).
    64 * MIB + 2 * (2000 * 2000) + 4 * (2000 * 2000) + 16 * MIB
}

const TEMPLATE_DICT: &[&[u8]] = &[
    b"FMR\0",
    b" 20\0",
    b"030\0",
    b"\0\0",
    b"\xff\xff",
    b"\x01",
    b"\x00\x00\x00\x00",
];

const JSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"65536",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"\"\"",
    b"{}",
    b"[]",
    b"\"capture_id\":",
    b"\"fingerprints\":",
    b"\"format\":",
    b"\"template\":",
    b"\"minutiae\":",
    b"\"image\":",
    b"\"photo\":",
    b"\"position\":",
    b"\"width\":",
    b"\"height\":",
    b"\"resolution_dpi\":",
    b"\"face_box\":",
    b"\"captured_at\":",
    b"\"2030-01-01T00:00:00Z\"",
    b"\"1999-12-31T23:59:59Z\"",
    b"\"site\":",
    b"\"type\":",
    b"\"event_id\":",
    b"\"record_id\":",
    b"\"enrollments\":",
    b"\"events\":",
    b"\"iso-19794-2-2005\"",
    b"\"iso-19794-2-2011\"",
    b"\"ansi-378-2004\"",
    b"\"ansi-378-2009\"",
    b"\"minutiae-json\"",
    b"\"image\"",
    b"\"data:image/png;base64,\"",
    b"\"person\":",
    b"\"date_of_birth\":",
    b"\"companions\":",
];

const TEXT_DICT: &[&[u8]] = &[
    b"-",
    b"+",
    b"0",
    b"9223372036854775807",
    b"9223372036854775808",
    b":",
    b"T",
    b"Z",
    b"=",
    b";base64,",
    b"\n",
    b"#",
    b"1:",
    b"chain:",
    b"sign:",
    b"\xc3\xa9",
    b" ",
];

const IMAGE_DICT: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"IHDR",
    b"IDAT",
    b"IEND",
    b"PLTE",
    b"tRNS",
    b"\xff\xd8\xff",
    b"\xff\xc0",
    b"\xff\xc4",
    b"\xff\xda",
    b"\xff\xdb",
    b"\xff\xe1",
    b"Exif\0\0",
    b"II*\0",
    b"MM\0*",
];

pub const TARGETS: &[Target] = &[
    Target {
        name: "iso-2005",
        run: iso2005,
        max_len: 4096,
        dict: TEMPLATE_DICT,
        alloc_budget: small,
    },
    Target {
        name: "iso-2011",
        run: iso2011,
        max_len: 4096,
        dict: TEMPLATE_DICT,
        alloc_budget: small,
    },
    Target {
        name: "ansi-2004",
        run: ansi2004,
        max_len: 4096,
        dict: TEMPLATE_DICT,
        alloc_budget: small,
    },
    Target {
        name: "ansi-2009",
        run: ansi2009,
        max_len: 4096,
        dict: TEMPLATE_DICT,
        alloc_budget: small,
    },
    Target {
        name: "finger-input",
        run: finger_input,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: json_budget,
    },
    Target {
        name: "photo",
        run: photo,
        max_len: 2048,
        dict: IMAGE_DICT,
        alloc_budget: photo_budget,
    },
    Target {
        name: "finger-image",
        run: finger_image,
        max_len: 2048,
        dict: IMAGE_DICT,
        alloc_budget: finger_image_budget,
    },
    Target {
        name: "enrollment",
        run: enrollment,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: json_budget,
    },
    Target {
        name: "enrollment-batch",
        run: enrollment_batch,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: json_budget,
    },
    Target {
        name: "identify",
        run: identify,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: json_budget,
    },
    Target {
        name: "checkin",
        run: checkin,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: json_budget,
    },
    Target {
        name: "event",
        run: event,
        max_len: 4096,
        dict: JSON_DICT,
        alloc_budget: small,
    },
    Target {
        name: "event-batch",
        run: event_batch,
        max_len: 8192,
        dict: JSON_DICT,
        alloc_budget: small,
    },
    Target {
        name: "credentials",
        run: credentials,
        max_len: 4096,
        dict: JSON_DICT,
        alloc_budget: small,
    },
    Target {
        name: "cursor",
        run: cursor,
        max_len: 256,
        dict: TEXT_DICT,
        alloc_budget: small,
    },
    Target {
        name: "base64",
        run: base64_field,
        max_len: 2048,
        dict: TEXT_DICT,
        alloc_budget: small,
    },
    Target {
        name: "key-file",
        run: key_file,
        max_len: 2048,
        dict: TEXT_DICT,
        alloc_budget: small,
    },
    Target {
        name: "checkpoint",
        run: checkpoint,
        max_len: 2048,
        dict: JSON_DICT,
        alloc_budget: small,
    },
];

pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
