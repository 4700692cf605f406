//! Evidence images kept for review: the photo re-encoded as a bounded JPEG with nothing but
//! pixels in it (no EXIF, no comments, no colour profile), and the aligned face crop the
//! embedding was computed from. Pure: bytes in, bytes out.

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;
use ndarray::Array3;

use super::{align, intake, FaceError};

/// Longer side of the kept photo, in pixels: enough to recognise a face on a review screen
/// (the crop is 150 px), small enough that a person costs tens of kilobytes.
pub const PHOTO_MAX_SIDE: u32 = 640;
/// JPEG quality of the kept photo.
pub const PHOTO_QUALITY: u8 = 80;
/// JPEG quality of the face crop (small, so kept sharper).
pub const CROP_QUALITY: u8 = 90;

/// The two evidence images of one photo.
#[derive(Debug, Clone)]
pub struct PhotoEvidence {
    /// The photo, oriented, at most [`PHOTO_MAX_SIDE`] on its longer side, JPEG.
    pub photo_jpeg: Vec<u8>,
    /// The aligned 150x150 face crop, JPEG; `None` without 68 landmarks.
    pub face_jpeg: Option<Vec<u8>>,
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, FaceError> {
    let mut out = Vec::new();
    // The encoder writes JFIF and the scan only: no metadata can survive re-encoding.
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| FaceError::PhotoUndecodable(format!("re-encoding: {e}")))?;
    Ok(out)
}

/// The aligned crop of `img` for the 68 `landmarks` (image pixels), as [`super::FaceEngine`]
/// computes it for the embedding, sampled from a region around the face only.
pub fn aligned_crop(img: &RgbImage, landmarks: &[[f32; 2]]) -> Option<RgbImage> {
    if landmarks.len() != 68 {
        return None;
    }
    let (w, h) = img.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in landmarks {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    if !(x0.is_finite() && y1.is_finite()) {
        return None;
    }
    // The chip's padding reaches about half a face beyond the landmarks on every side.
    let m = (x1 - x0).max(y1 - y0);
    let cx0 = (x0 - m).floor().clamp(0.0, w as f32) as u32;
    let cy0 = (y0 - m).floor().clamp(0.0, h as f32) as u32;
    let cx1 = (x1 + m).ceil().clamp(0.0, w as f32) as u32;
    let cy1 = (y1 + m).ceil().clamp(0.0, h as f32) as u32;
    if cx1 <= cx0 + 1 || cy1 <= cy0 + 1 {
        return None;
    }
    let (cw, ch) = (cx1 - cx0, cy1 - cy0);
    let act = Array3::from_shape_fn((ch as usize, cw as usize, 3), |(y, x, c)| {
        f32::from(img.get_pixel(cx0 + x as u32, cy0 + y as u32)[c])
    });
    let local: Vec<[f32; 2]> = landmarks
        .iter()
        .map(|p| [p[0] - cx0 as f32, p[1] - cy0 as f32])
        .collect();
    let chip = align::extract_chip(&act, &align::chip_transform(&local));
    let side = align::CHIP_SIZE as u32;
    Some(RgbImage::from_fn(side, side, |x, y| {
        let p = |c| chip[[y as usize, x as usize, c]].round().clamp(0.0, 255.0) as u8;
        image::Rgb([p(0), p(1), p(2)])
    }))
}

/// Decodes `photo` (as the engine does: limits, EXIF orientation) and makes its evidence
/// images; `landmarks` are those of [`super::FaceAnalysis`] on the same photo.
pub fn prepare(photo: &[u8], landmarks: &[[f32; 2]]) -> Result<PhotoEvidence, FaceError> {
    let img = intake::decode(photo)?;
    let face_jpeg = match aligned_crop(&img, landmarks) {
        Some(c) => Some(jpeg(&c, CROP_QUALITY)?),
        None => None,
    };
    let (w, h) = img.dimensions();
    let kept = if w.max(h) > PHOTO_MAX_SIDE {
        let s = PHOTO_MAX_SIDE as f32 / w.max(h) as f32;
        let nw = ((w as f32 * s).round() as u32).max(1);
        let nh = ((h as f32 * s).round() as u32).max(1);
        image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    Ok(PhotoEvidence {
        photo_jpeg: jpeg(&kept, PHOTO_QUALITY)?,
        face_jpeg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG with an EXIF segment (APP1) carrying a marker string, 1200x800.
    fn jpeg_with_exif() -> Vec<u8> {
        let img = RgbImage::from_fn(1200, 800, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let plain = jpeg(&img, 85).unwrap();
        let payload = b"Exif\0\0GPS-SECRET-MARKER";
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(payload);
        // After SOI.
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn kept_photo_is_bounded_and_carries_no_metadata() {
        let src = jpeg_with_exif();
        assert!(src.windows(17).any(|w| w == b"GPS-SECRET-MARKER"));
        let ev = prepare(&src, &[]).unwrap();
        assert!(!ev.photo_jpeg.windows(4).any(|w| w == b"Exif"));
        assert!(!ev.photo_jpeg.windows(17).any(|w| w == b"GPS-SECRET-MARKER"));
        let back = image::load_from_memory(&ev.photo_jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (640, 427));
        // No landmarks, no crop.
        assert!(ev.face_jpeg.is_none());
    }

    #[test]
    fn crop_is_the_chip_size_and_follows_the_landmarks() {
        // Landmarks of a frontal face laid out as the chip template expects, on a flat image:
        // the crop exists and has the chip's size.
        let img = RgbImage::from_pixel(400, 400, image::Rgb([120, 100, 80]));
        let lm: Vec<[f32; 2]> = (0..68)
            .map(|i| {
                [
                    150.0 + (i % 10) as f32 * 10.0,
                    150.0 + (i / 10) as f32 * 12.0,
                ]
            })
            .collect();
        let c = aligned_crop(&img, &lm).unwrap();
        assert_eq!(c.dimensions(), (150, 150));
        assert!(aligned_crop(&img, &lm[..10]).is_none());
    }
}
