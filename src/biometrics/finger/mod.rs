//! Fingerprint engine: template parsing, minutiae extraction from images, a Minutia
//! Cylinder-Code matcher and an indexed 1:N gallery.
//!
//! This module is pure computation: no I/O frameworks, no database, no async runtime.
//! See `docs/FINGER.md` for the design, the measured figures and the meaning of scores.
//!
//! Conventions used everywhere in this module (the ISO/IEC 19794-2 convention):
//! origin at the top-left pixel, `x` to the right, `y` downwards, minutia angle in radians in
//! `[0, 2π)`, counter-clockwise as seen on the image, pointing into the ridge (for an ending)
//! — i.e. the direction `(cos θ, -sin θ)` in pixel coordinates.

mod calib;
pub mod explain;
mod gallery;
mod image_input;
mod mcc;
mod parse;
mod select;
pub mod synthetic;

pub use calib::{
    false_match_rate_at, fuse_scores, ln_false_match_rate_at, score_at_false_match_rate,
    score_at_ln_false_match_rate,
};
pub use gallery::{FingerCandidate, FingerGallery, IndexConfig};
pub use image_input::{
    decode_gray, extract_from_image, extract_from_image_at, MAX_IMAGE_PIXELS_SIDE, MIN_RIDGE_BLOCKS,
};
pub use mcc::{compare, FingerFeatures};
pub use parse::parse_template;
pub use select::PLAUSIBLE_DPI;

/// Kind of a minutia as recorded by the capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MinutiaKind {
    /// Ridge ending.
    Ending,
    /// Ridge bifurcation.
    Bifurcation,
    /// Unknown or "other" (ISO type 00).
    Other,
}

/// One minutia in ISO convention (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minutia {
    /// Column in pixels, origin at the left.
    pub x: f32,
    /// Row in pixels, origin at the top (y grows downwards).
    pub y: f32,
    /// Radians in `[0, 2π)`, counter-clockwise as seen on the image.
    pub angle: f32,
    /// Ending, bifurcation or other.
    pub kind: MinutiaKind,
    /// Quality 0–100 (0 = unknown / not reported).
    pub quality: u8,
}

/// One impression (view) of one finger.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerView {
    /// ISO/ANSI finger position code: 0 unknown, 1–5 right thumb…little, 6–10 left thumb…little.
    pub position: u8,
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Horizontal resolution in dots per inch (records store pixels per cm; converted).
    pub resolution_dpi: u16,
    /// Finger (impression) quality 0–100, as reported by the record.
    pub quality: u8,
    /// The minutiae, in record order.
    pub minutiae: Vec<Minutia>,
}

/// A decoded template record: every view it carries, in record order.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerRecord {
    /// All finger views of the record (multi-view records keep every view).
    pub views: Vec<FingerView>,
}

/// Errors of the fingerprint engine. `code()` gives a stable snake_case identifier.
///
/// Messages describe positions and counts only; they never echo template or image bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerError {
    /// The record ends before a field that its structure requires.
    #[error(
        "template truncated: needed {needed} bytes at offset {offset}, only {available} available"
    )]
    TemplateTruncated {
        /// Offset where the missing field starts.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left from that offset.
        available: usize,
    },
    /// Wrong magic number or version for the declared format.
    #[error("template header invalid: {0}")]
    TemplateBadHeader(&'static str),
    /// The length field disagrees with the structure of the record.
    #[error("template length field says {declared} bytes but the record structure needs {actual}")]
    TemplateLengthMismatch {
        /// Value of the record-length field.
        declared: usize,
        /// Length implied by the decoded structure.
        actual: usize,
    },
    /// A minutia lies outside the image declared by the record.
    #[error(
        "minutia {index} of view {view} at ({x}, {y}) lies outside the {width}x{height} image"
    )]
    MinutiaOutOfBounds {
        /// View index in the record.
        view: usize,
        /// Minutia index in the view.
        index: usize,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// The record carries no finger view.
    #[error("template has no finger views")]
    TemplateNoViews,
    /// Finger position code outside 0–10.
    #[error("finger position {0} is not a valid code (0-10)")]
    BadFingerPosition(u32),
    /// A field value is impossible (angle out of range, zero resolution, unknown minutia type...).
    #[error("template field invalid: {0}")]
    TemplateBadField(&'static str),
    /// The format name is not one this engine knows.
    #[error("unknown template format (expected one of iso-19794-2-2005, iso-19794-2-2011, ansi-378-2004, ansi-378-2009, minutiae-json, image)")]
    UnknownTemplateFormat,
    /// The image bytes could not be decoded as PNG, TIFF or JPEG.
    #[error("finger image could not be decoded as PNG, TIFF or JPEG")]
    FingerImageUndecodable,
    /// The image is larger than the engine accepts.
    #[error("finger image {width}x{height} exceeds the {max}x{max} limit")]
    FingerImageTooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Largest accepted side.
        max: u32,
    },
    /// The image is too small for minutiae detection.
    #[error("finger image {width}x{height} is too small for minutiae detection")]
    FingerImageTooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Fewer minutiae than the matcher needs for a meaningful comparison.
    #[error("only {found} minutiae, at least {required} required")]
    TooFewMinutiae {
        /// Minutiae present.
        found: usize,
        /// Minimum required.
        required: usize,
    },
    /// The image has too little ridge pattern to extract a print from (blank, flat or tiny).
    #[error("finger image has {blocks} ridge blocks, at least {required} are needed")]
    NoRidgeArea {
        /// Blocks of 16×16 px (500 dpi) with ridge contrast.
        blocks: usize,
        /// The minimum.
        required: usize,
    },
    /// Serialised features are corrupt or of an unknown version.
    #[error("stored finger features invalid: {0}")]
    FeaturesCorrupt(&'static str),
}

impl FingerError {
    /// Stable snake_case code for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            FingerError::TemplateTruncated { .. } => "template_truncated",
            FingerError::TemplateBadHeader(_) => "template_bad_header",
            FingerError::TemplateLengthMismatch { .. } => "template_length_mismatch",
            FingerError::MinutiaOutOfBounds { .. } => "minutia_out_of_bounds",
            FingerError::TemplateNoViews => "template_no_views",
            FingerError::BadFingerPosition(_) => "bad_finger_position",
            FingerError::TemplateBadField(_) => "template_bad_field",
            FingerError::UnknownTemplateFormat => "unknown_template_format",
            FingerError::FingerImageUndecodable => "finger_image_undecodable",
            FingerError::FingerImageTooLarge { .. } => "finger_image_too_large",
            FingerError::FingerImageTooSmall { .. } => "finger_image_too_small",
            FingerError::TooFewMinutiae { .. } => "too_few_minutiae",
            FingerError::FeaturesCorrupt(_) => "features_corrupt",
            FingerError::NoRidgeArea { .. } => "no_ridge_area",
        }
    }
}

/// Minimum number of minutiae a view must carry to be enrolled or searched
/// (checked by [`from_minutiae_json`] and [`extract_from_image`]; parsers accept any count).
pub const MIN_MINUTIAE: usize = 8;

/// Largest accepted image side for records and JSON (ISO 2011 allows 14-bit sizes).
pub const MAX_TEMPLATE_SIDE: u16 = 16383;

/// One minutia of the `minutiae-json` input form.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct JsonMinutia {
    /// Column in pixels (origin top-left).
    pub x: f32,
    /// Row in pixels (y grows downwards).
    pub y: f32,
    /// Degrees, counter-clockwise as seen on the image (ISO convention).
    pub angle_deg: f32,
    /// "ending" or "bifurcation" (anything else is accepted as "other").
    #[serde(rename = "type")]
    pub kind: String,
    /// Optional quality 0–100.
    pub quality: Option<u8>,
}

/// Builds a view from the `minutiae-json` form, validating position, bounds, angles and count.
pub fn from_minutiae_json(
    position: u8,
    width: u16,
    height: u16,
    resolution_dpi: u16,
    minutiae: &[JsonMinutia],
) -> Result<FingerView, FingerError> {
    if position > 10 {
        return Err(FingerError::BadFingerPosition(position as u32));
    }
    if width == 0 || height == 0 || width > MAX_TEMPLATE_SIDE || height > MAX_TEMPLATE_SIDE {
        return Err(FingerError::TemplateBadField(
            "image size must be 1..=16383",
        ));
    }
    if resolution_dpi == 0 {
        return Err(FingerError::TemplateBadField("resolution must be non-zero"));
    }
    if minutiae.len() > 255 {
        return Err(FingerError::TemplateBadField("at most 255 minutiae"));
    }
    let mut out = Vec::with_capacity(minutiae.len());
    for (i, m) in minutiae.iter().enumerate() {
        if !(m.x.is_finite() && m.y.is_finite() && m.angle_deg.is_finite()) {
            return Err(FingerError::TemplateBadField("non-finite minutia value"));
        }
        if m.x < 0.0 || m.y < 0.0 || m.x >= width as f32 || m.y >= height as f32 {
            return Err(FingerError::MinutiaOutOfBounds {
                view: 0,
                index: i,
                x: m.x.max(0.0) as u32,
                y: m.y.max(0.0) as u32,
                width: width as u32,
                height: height as u32,
            });
        }
        if !(-360.0..=720.0).contains(&m.angle_deg) {
            return Err(FingerError::TemplateBadField("angle_deg out of range"));
        }
        let kind = match m.kind.to_ascii_lowercase().as_str() {
            "ending" => MinutiaKind::Ending,
            "bifurcation" => MinutiaKind::Bifurcation,
            _ => MinutiaKind::Other,
        };
        out.push(Minutia {
            x: m.x,
            y: m.y,
            angle: normalize_angle(m.angle_deg.to_radians()),
            kind,
            quality: m.quality.unwrap_or(0).min(100),
        });
    }
    if out.len() < MIN_MINUTIAE {
        return Err(FingerError::TooFewMinutiae {
            found: out.len(),
            required: MIN_MINUTIAE,
        });
    }
    Ok(FingerView {
        position,
        width,
        height,
        resolution_dpi,
        quality: 0,
        minutiae: out,
    })
}

/// Area (square pixels) of the convex hull of `points`; 0 for fewer than three points or
/// collinear ones.
pub fn hull_area(points: &[(f32, f32)]) -> f32 {
    let h = mcc::cylinders::convex_hull(points);
    if h.len() < 3 {
        return 0.0;
    }
    let twice: f32 = (0..h.len())
        .map(|i| {
            let (a, b) = (h[i], h[(i + 1) % h.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice.abs() / 2.0
}

/// Wraps an angle into `[0, 2π)`.
pub(crate) fn normalize_angle(a: f32) -> f32 {
    let t = std::f32::consts::TAU;
    let r = a.rem_euclid(t);
    if r >= t {
        0.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jm(x: f32, y: f32, a: f32, k: &str) -> JsonMinutia {
        JsonMinutia {
            x,
            y,
            angle_deg: a,
            kind: k.to_string(),
            quality: Some(60),
        }
    }

    #[test]
    fn json_form_converts_and_validates() {
        let ms: Vec<JsonMinutia> = (0..10)
            .map(|i| jm(10.0 + i as f32 * 20.0, 30.0, 90.0, "ending"))
            .collect();
        let v = from_minutiae_json(2, 400, 400, 500, &ms).unwrap();
        assert_eq!(v.minutiae.len(), 10);
        assert!((v.minutiae[0].angle - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert_eq!(v.minutiae[0].kind, MinutiaKind::Ending);

        let mut bad = ms.clone();
        bad[3].x = 400.0;
        assert_eq!(
            from_minutiae_json(2, 400, 400, 500, &bad)
                .unwrap_err()
                .code(),
            "minutia_out_of_bounds"
        );
        assert_eq!(
            from_minutiae_json(11, 400, 400, 500, &ms)
                .unwrap_err()
                .code(),
            "bad_finger_position"
        );
        assert_eq!(
            from_minutiae_json(2, 400, 400, 500, &ms[..3])
                .unwrap_err()
                .code(),
            "too_few_minutiae"
        );
        let mut nan = ms.clone();
        nan[0].angle_deg = f32::NAN;
        assert_eq!(
            from_minutiae_json(2, 400, 400, 500, &nan)
                .unwrap_err()
                .code(),
            "template_bad_field"
        );
    }

    #[test]
    fn json_deserialises_type_field() {
        let v: Vec<JsonMinutia> =
            serde_json::from_str(r#"[{"x":1,"y":2,"angle_deg":45,"type":"bifurcation"}]"#).unwrap();
        assert_eq!(v[0].kind, "bifurcation");
        assert_eq!(v[0].quality, None);
    }

    #[test]
    fn error_messages_do_not_leak_bytes_and_codes_are_stable() {
        let e = FingerError::TemplateTruncated {
            offset: 3,
            needed: 4,
            available: 1,
        };
        assert_eq!(e.code(), "template_truncated");
        assert!(e.to_string().contains("offset 3"));
    }
}
