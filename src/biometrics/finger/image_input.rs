//! Minutiae extraction from raw finger images (PNG, TIFF, JPEG at 500 dpi) with the pure-Rust
//! MINDTCT port `fprint-mindtct` (NIST NBIS).

use super::{normalize_angle, FingerError, FingerView, Minutia, MinutiaKind, MIN_MINUTIAE};
use std::io::Cursor;

/// Largest accepted image side in pixels (both width and height).
pub const MAX_IMAGE_PIXELS_SIDE: u32 = 2000;

/// Decodes a finger image, checks its size, and extracts minutiae with MINDTCT.
///
/// The image is assumed to be 500 dpi (the resolution MINDTCT and the matcher are tuned for).
/// MINDTCT reports `x, y` with the origin bottom-left and `theta` pointing away from the ridge;
/// both are converted to the ISO convention of this module.
pub fn extract_from_image(position: u8, image_bytes: &[u8]) -> Result<FingerView, FingerError> {
    if position > 10 {
        return Err(FingerError::BadFingerPosition(position as u32));
    }
    let reader = image::ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .map_err(|_| FingerError::FingerImageUndecodable)?;
    if reader.format().is_none() {
        return Err(FingerError::FingerImageUndecodable);
    }
    // Read the header only, so that an oversized image is rejected before any pixel buffer.
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| FingerError::FingerImageUndecodable)?;
    if w > MAX_IMAGE_PIXELS_SIDE || h > MAX_IMAGE_PIXELS_SIDE {
        return Err(FingerError::FingerImageTooLarge {
            width: w,
            height: h,
            max: MAX_IMAGE_PIXELS_SIDE,
        });
    }
    let mut reader = image::ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .map_err(|_| FingerError::FingerImageUndecodable)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_PIXELS_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_PIXELS_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => FingerError::FingerImageTooLarge {
            width: w,
            height: h,
            max: MAX_IMAGE_PIXELS_SIDE,
        },
        _ => FingerError::FingerImageUndecodable,
    })?;
    let gray = img.into_luma8();
    let (w, h) = gray.dimensions();
    let gi = fprint_mindtct::GrayImage::new(gray.as_raw(), w as usize, h as usize, 500).map_err(
        |_| FingerError::FingerImageTooSmall {
            width: w,
            height: h,
        },
    )?;
    let found = fprint_mindtct::detect_minutiae(gi);
    let minutiae: Vec<Minutia> = found
        .iter()
        .filter(|m| m.x >= 0 && m.y >= 0 && (m.x as u32) < w && (m.y as u32) < h)
        .map(|m| Minutia {
            x: m.x as f32,
            y: (h as i32 - 1 - m.y) as f32,
            angle: normalize_angle(((m.theta + 180) as f32).to_radians()),
            kind: MinutiaKind::Other,
            quality: m.quality.clamp(0, 100) as u8,
        })
        .collect();
    if minutiae.len() < MIN_MINUTIAE {
        return Err(FingerError::TooFewMinutiae {
            found: minutiae.len(),
            required: MIN_MINUTIAE,
        });
    }
    Ok(FingerView {
        position,
        width: w.min(u16::MAX as u32) as u16,
        height: h.min(u16::MAX as u32) as u16,
        resolution_dpi: 500,
        quality: 0,
        minutiae,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn rejects_garbage_oversized_and_bad_position() {
        assert_eq!(
            extract_from_image(1, b"not an image").unwrap_err().code(),
            "finger_image_undecodable"
        );
        assert_eq!(
            extract_from_image(1, &[]).unwrap_err().code(),
            "finger_image_undecodable"
        );
        let big = png(2001, 40, |_, _| 255);
        assert_eq!(
            extract_from_image(1, &big).unwrap_err().code(),
            "finger_image_too_large"
        );
        let tiny = png(10, 10, |_, _| 255);
        assert_eq!(
            extract_from_image(1, &tiny).unwrap_err().code(),
            "finger_image_too_small"
        );
        assert_eq!(
            extract_from_image(12, &tiny).unwrap_err().code(),
            "bad_finger_position"
        );
        let mut cut = png(200, 200, |x, y| ((x * 7 + y * 3) % 256) as u8);
        cut.truncate(cut.len() / 2);
        assert_eq!(
            extract_from_image(1, &cut).unwrap_err().code(),
            "finger_image_undecodable"
        );
    }

    #[test]
    fn blank_image_has_too_few_minutiae() {
        let blank = png(128, 128, |_, _| 255);
        assert_eq!(
            extract_from_image(2, &blank).unwrap_err().code(),
            "too_few_minutiae"
        );
    }

    /// Full pipeline on a real FVC2002 image (read from the shared data; skipped if absent).
    #[test]
    fn fvc_image_matches_reference_minutiae() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/fingers/fvc2002_db1_b");
        let Ok(bytes) = std::fs::read(dir.join("images/101_1.tif")) else {
            return;
        };
        let v = extract_from_image(2, &bytes).unwrap();
        let xyt = std::fs::read_to_string(dir.join("minutiae_mindtct/101_1.xyt")).unwrap();
        let lines: Vec<Vec<i32>> = xyt
            .lines()
            .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
            .collect();
        // fprint-mindtct extracts (nearly) the same minutiae as NIST's MINDTCT.
        let n = lines.len() as f32;
        assert!((v.minutiae.len() as f32 - n).abs() <= 0.1 * n + 2.0);
        let first = &lines[0];
        let y_iso = v.height as i32 - 1 - first[1];
        assert!(v
            .minutiae
            .iter()
            .any(|m| (m.x as i32 - first[0]).abs() <= 2 && (m.y as i32 - y_iso).abs() <= 2));
    }
}
