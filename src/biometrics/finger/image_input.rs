//! Minutiae extraction from raw finger images (PNG, TIFF, JPEG) with the pure-Rust MINDTCT port
//! `fprint-mindtct` (NIST NBIS).
//!
//! Before extraction the image is brought to 500 dpi (MINDTCT's block sizes and the matcher's
//! distances are tuned for it) when another resolution is declared, its usable ridge area is
//! checked (an image without one is rejected with `no_ridge_area` instead of yielding a handful
//! of spurious minutiae), and a faint image's contrast is stretched to the full grey range.

use super::select::{MATCHER_DPI, PLAUSIBLE_DPI};
use super::{normalize_angle, FingerError, FingerView, Minutia, MinutiaKind, MIN_MINUTIAE};
use std::io::Cursor;

/// Largest accepted image side in pixels (both width and height).
pub const MAX_IMAGE_PIXELS_SIDE: u32 = 2000;

/// Side of the blocks in which the ridge area is measured, in 500-dpi pixels.
const BLOCK: u32 = 16;
/// A block belongs to the ridge area when its grey levels have at least this standard
/// deviation (ridges and valleys alternate; a blank or flat block has almost none).
const RIDGE_STD: f32 = 8.0;
/// Fewest ridge blocks an image needs: 40 blocks of 16×16 px ≈ 10,000 px² ≈ 26 mm² at
/// 500 dpi. The smallest print of the six shared FVC sets has 75 such blocks.
pub const MIN_RIDGE_BLOCKS: usize = 40;

/// Decodes a finger image taken as 500 dpi and extracts minutiae with MINDTCT; see
/// [`extract_from_image_at`].
pub fn extract_from_image(position: u8, image_bytes: &[u8]) -> Result<FingerView, FingerError> {
    extract_from_image_at(position, image_bytes, None)
}

/// Decodes a finger image, checks its size and ridge area, rescales it from `resolution_dpi`
/// (`None` = 500) to 500 dpi, stretches the contrast of a faint image and extracts minutiae with
/// MINDTCT.
///
/// The returned view is in the rescaled image's pixels (`resolution_dpi` 500). MINDTCT reports
/// `x, y` with the origin bottom-left and `theta` pointing away from the ridge; both are
/// converted to the ISO convention of this module.
pub fn extract_from_image_at(
    position: u8,
    image_bytes: &[u8],
    resolution_dpi: Option<u16>,
) -> Result<FingerView, FingerError> {
    if position > 10 {
        return Err(FingerError::BadFingerPosition(position as u32));
    }
    let dpi = resolution_dpi.unwrap_or(MATCHER_DPI);
    if !PLAUSIBLE_DPI.contains(&dpi) {
        return Err(FingerError::TemplateBadField(
            "image resolution_dpi must be 250..=1000",
        ));
    }
    let mut gray = decode_gray(image_bytes, dpi)?;
    let (w, h) = gray.dimensions();
    let blocks = ridge_blocks(gray.as_raw(), w, h);
    if blocks < MIN_RIDGE_BLOCKS {
        return Err(FingerError::NoRidgeArea {
            blocks,
            required: MIN_RIDGE_BLOCKS,
        });
    }
    stretch_contrast(gray.as_mut());
    let gi = fprint_mindtct::GrayImage::new(gray.as_raw(), w as usize, h as usize, MATCHER_DPI)
        .map_err(|_| FingerError::FingerImageTooSmall {
            width: w,
            height: h,
        })?;
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
        resolution_dpi: MATCHER_DPI,
        quality: 0,
        minutiae,
    })
}

/// The decoding step of [`extract_from_image_at`], on bytes from outside: the header is read
/// first and an image past [`MAX_IMAGE_PIXELS_SIDE`] on either side is refused before any pixel
/// buffer exists; the decoder runs under the same limits (and 64 MiB of allocation); the grey
/// image is rescaled from `dpi` to 500 dpi and refused when too small for MINDTCT.
pub fn decode_gray(image_bytes: &[u8], dpi: u16) -> Result<image::GrayImage, FingerError> {
    let reader = image::ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .map_err(|_| FingerError::FingerImageUndecodable)?;
    if reader.format().is_none() {
        return Err(FingerError::FingerImageUndecodable);
    }
    if reader.format() == Some(image::ImageFormat::Tiff) && !tiff_entries_fit(image_bytes) {
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
    // The same bound holds after rescaling to 500 dpi: a 2,000-px side declared at 250 dpi
    // would become 4,000 px (8 inches, no finger is that large), and MINDTCT's buffers grow
    // with the area it is given.
    let (nw, nh) = rescaled_dimensions(w, h, dpi);
    if nw > MAX_IMAGE_PIXELS_SIDE || nh > MAX_IMAGE_PIXELS_SIDE {
        return Err(FingerError::FingerImageTooLarge {
            width: nw,
            height: nh,
            max: MAX_IMAGE_PIXELS_SIDE,
        });
    }
    if (nw as usize) < fprint_mindtct::MIN_DETECTABLE_DIM
        || (nh as usize) < fprint_mindtct::MIN_DETECTABLE_DIM
    {
        return Err(FingerError::FingerImageTooSmall {
            width: nw,
            height: nh,
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
    if (nw, nh) == (w, h) {
        return Ok(gray);
    }
    let px = rescale_gray(gray.as_raw(), w, h, nw, nh);
    drop(gray);
    Ok(image::GrayImage::from_raw(nw, nh, px).expect("nw * nh pixels"))
}

/// Whether every entry of every image file directory of a TIFF file declares no more value
/// bytes than the file holds (classic TIFF, at most 8 directories). The `tiff` decoder
/// reserves room for an entry's declared count while it reads the header, before any limit
/// applies (up to 256 MiB of values for a 1 KiB file, as the fuzzer found); a count that the
/// file cannot hold is malformed anyway.
fn tiff_entries_fit(b: &[u8]) -> bool {
    let le = match b.get(0..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return false, // BigTIFF or not TIFF
    };
    let u16_at = |o: usize| {
        b.get(o..o.checked_add(2)?).map(|s| {
            if le {
                u16::from_le_bytes([s[0], s[1]])
            } else {
                u16::from_be_bytes([s[0], s[1]])
            }
        })
    };
    let u32_at = |o: usize| {
        b.get(o..o.checked_add(4)?).map(|s| {
            let a = [s[0], s[1], s[2], s[3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        })
    };
    let len = b.len() as u64;
    let Some(mut ifd) = u32_at(4) else {
        return false;
    };
    for _ in 0..8 {
        if ifd == 0 {
            return true;
        }
        let off = ifd as usize;
        let Some(n) = u16_at(off) else {
            return false;
        };
        for i in 0..n as usize {
            let e = off + 2 + 12 * i;
            let (Some(kind), Some(count), Some(at)) = (u16_at(e + 2), u32_at(e + 4), u32_at(e + 8))
            else {
                return false;
            };
            let unit: u64 = match kind {
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 | 16 | 17 | 18 => 8,
                _ => 1,
            };
            let bytes = count as u64 * unit;
            if bytes > len || (bytes > 4 && at as u64 + bytes > len) {
                return false;
            }
        }
        let Some(next) = u32_at(off + 2 + 12 * n as usize) else {
            return false;
        };
        ifd = next;
    }
    ifd == 0
}

/// The size of a `w`×`h` image taken at `dpi` once brought to 500 dpi.
fn rescaled_dimensions(w: u32, h: u32, dpi: u16) -> (u32, u32) {
    if dpi == MATCHER_DPI {
        return (w, h);
    }
    let k = MATCHER_DPI as f32 / dpi as f32;
    (
        ((w as f32 * k).round() as u32).max(1),
        ((h as f32 * k).round() as u32).max(1),
    )
}

/// Separable linear (triangle-filter) rescaling of a grey image, vertical pass first, with the
/// arithmetic of `image::imageops::resize(.., FilterType::Triangle)` (the same weights, sums
/// in the same order, rounding to nearest), so that its output is the same pixel for pixel
/// (a test holds them equal). It exists for memory: `image`'s resize keeps its intermediate
/// image as four `f32` channels (16 bytes a pixel, 128 MB for a 2,000 × 4,000 pass); this one
/// keeps one (4 bytes a pixel, at most 16 MB within the side limits).
fn rescale_gray(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    let (w, h, nw, nh) = (w as usize, h as usize, nw as usize, nh as usize);
    let mut mid = vec![0f32; w * nh];
    let mut ws = Vec::new();
    for oy in 0..nh {
        let left = triangle_weights(h, nh, oy, &mut ws);
        let row = &mut mid[oy * w..(oy + 1) * w];
        for (x, out) in row.iter_mut().enumerate() {
            let mut t = 0f32;
            for (i, wt) in ws.iter().enumerate() {
                t += src[(left + i) * w + x] as f32 * wt;
            }
            *out = t;
        }
    }
    let mut out = vec![0u8; nw * nh];
    for ox in 0..nw {
        let left = triangle_weights(w, nw, ox, &mut ws);
        for y in 0..nh {
            let row = &mid[y * w..(y + 1) * w];
            let mut t = 0f32;
            for (i, wt) in ws.iter().enumerate() {
                t += row[left + i] * wt;
            }
            out[y * nw + ox] = t.clamp(0.0, 255.0).round() as u8;
        }
    }
    out
}

/// The normalised triangle-filter weights of output sample `o` of `n_out` taken from `n_in`
/// input samples, in `ws`; returns the first input sample they apply to.
fn triangle_weights(n_in: usize, n_out: usize, o: usize, ws: &mut Vec<f32>) -> usize {
    let ratio = n_in as f32 / n_out as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio; // the triangle's support is 1 input sample, widened when shrinking
    let centre = (o as f32 + 0.5) * ratio;
    let left = ((centre - support).floor() as i64).clamp(0, n_in as i64 - 1);
    let right = ((centre + support).ceil() as i64).clamp(left + 1, n_in as i64);
    let centre = centre - 0.5;
    ws.clear();
    let mut sum = 0.0;
    for i in left..right {
        let x = ((i as f32 - centre) / sratio).abs();
        let wt = if x < 1.0 { 1.0 - x } else { 0.0 };
        ws.push(wt);
        sum += wt;
    }
    for wt in ws.iter_mut() {
        *wt /= sum;
    }
    left as usize
}

/// Number of `BLOCK`×`BLOCK` blocks whose grey-level standard deviation is at least
/// `RIDGE_STD` (whole blocks only).
fn ridge_blocks(px: &[u8], w: u32, h: u32) -> usize {
    let (w, h, b) = (w as usize, h as usize, BLOCK as usize);
    let mut n = 0;
    for by in (0..h.saturating_sub(b - 1)).step_by(b) {
        for bx in (0..w.saturating_sub(b - 1)).step_by(b) {
            let (mut s, mut s2) = (0u64, 0u64);
            for y in by..by + b {
                for &v in &px[y * w + bx..y * w + bx + b] {
                    s += v as u64;
                    s2 += (v as u64) * (v as u64);
                }
            }
            let cnt = (b * b) as f32;
            let mean = s as f32 / cnt;
            let var = s2 as f32 / cnt - mean * mean;
            if var >= RIDGE_STD * RIDGE_STD {
                n += 1;
            }
        }
    }
    n
}

/// Images whose 1st–99th grey-level percentiles span fewer levels than this are stretched.
/// A full stretch of every image was measured and rejected: on FVC2002 DB3_B (capacitive,
/// percentile ranges 110–150) it raised MINDTCT's minutiae from a median of 36 to 63 per
/// print, nearly all spurious, and registro's EER from 7.5 % to 11.1 %; the six shared sets
/// all span ≥ 110 levels, so none of them is stretched.
const STRETCH_BELOW: usize = 64;

/// Linear stretch of the 1st–99th grey-level percentiles to 0–255, for faint images only
/// (range below `STRETCH_BELOW`); a no-op otherwise.
fn stretch_contrast(px: &mut [u8]) {
    let mut hist = [0usize; 256];
    for &v in px.iter() {
        hist[v as usize] += 1;
    }
    let n = px.len();
    let pct = |p: usize| {
        let target = n * p / 100;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v;
            }
        }
        255
    };
    let (lo, hi) = (pct(1), pct(99));
    if hi <= lo + 1 || hi - lo >= STRETCH_BELOW {
        return;
    }
    let scale = 255.0 / (hi - lo) as f32;
    let lut: Vec<u8> = (0..256)
        .map(|v| ((v as f32 - lo as f32) * scale).round().clamp(0.0, 255.0) as u8)
        .collect();
    for v in px.iter_mut() {
        *v = lut[*v as usize];
    }
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
    fn rescaling_is_images_triangle_resize_pixel_for_pixel() {
        let (w, h) = (97, 61);
        let mut seed = 7u32;
        let src = image::GrayImage::from_fn(w, h, |_, _| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Luma([(seed >> 24) as u8])
        });
        for (nw, nh) in [(85, 54), (194, 122), (49, 31), (110, 61), (97, 70)] {
            let ours = rescale_gray(src.as_raw(), w, h, nw, nh);
            let theirs =
                image::imageops::resize(&src, nw, nh, image::imageops::FilterType::Triangle);
            assert_eq!(ours, theirs.into_raw(), "{nw}x{nh}");
        }
    }

    #[test]
    fn a_tiff_entry_declaring_more_values_than_the_file_holds_is_refused_before_decoding() {
        let mut tiff = Vec::new();
        image::GrayImage::from_fn(64, 48, |x, y| image::Luma([((x * 5 + y * 3) % 256) as u8]))
            .write_to(&mut Cursor::new(&mut tiff), image::ImageFormat::Tiff)
            .unwrap();
        assert!(tiff_entries_fit(&tiff));
        assert_eq!(decode_gray(&tiff, 500).unwrap().dimensions(), (64, 48));
        // Give the first entry of the first directory a count of 8 M shorts.
        let ifd = u32::from_le_bytes(tiff[4..8].try_into().unwrap()) as usize;
        assert_eq!(&tiff[0..2], b"II");
        let mut bad = tiff.clone();
        bad[ifd + 2 + 2..ifd + 2 + 4].copy_from_slice(&3u16.to_le_bytes());
        bad[ifd + 2 + 4..ifd + 2 + 8].copy_from_slice(&8_061_953u32.to_le_bytes());
        assert!(!tiff_entries_fit(&bad));
        assert_eq!(
            decode_gray(&bad, 500).unwrap_err().code(),
            "finger_image_undecodable"
        );
    }

    #[test]
    fn the_side_limit_holds_after_rescaling() {
        // 1,200 px at 250 dpi is 2,400 px at 500 dpi: refused before decoding.
        let wide = png(1200, 300, |x, _| ((x / 4) % 2 * 200) as u8);
        let e = decode_gray(&wide, 250).unwrap_err();
        assert_eq!(e.code(), "finger_image_too_large");
        assert_eq!(decode_gray(&wide, 500).unwrap().dimensions(), (1200, 300));
        assert_eq!(decode_gray(&wide, 1000).unwrap().dimensions(), (600, 150));
        // 40 px at 1000 dpi is 20 px at 500 dpi, too small for MINDTCT.
        let small = png(40, 40, |x, _| ((x / 4) % 2 * 200) as u8);
        assert_eq!(
            decode_gray(&small, 1000).unwrap_err().code(),
            "finger_image_too_small"
        );
    }

    #[test]
    fn blank_or_flat_image_has_no_ridge_area() {
        let blank = png(128, 128, |_, _| 255);
        assert_eq!(
            extract_from_image(2, &blank).unwrap_err().code(),
            "no_ridge_area"
        );
        // Faint noise (±2 grey levels) is not a ridge pattern.
        let flat = png(300, 300, |x, y| 128 + ((x * 31 + y * 17) % 5) as u8);
        assert_eq!(
            extract_from_image(2, &flat).unwrap_err().code(),
            "no_ridge_area"
        );
        // A small ridge patch (40×40 px) inside a blank image is too small an area.
        let patch = png(300, 300, |x, y| {
            if (100..140).contains(&x) && (100..140).contains(&y) && (x / 5) % 2 == 0 {
                40
            } else {
                230
            }
        });
        assert_eq!(
            extract_from_image(2, &patch).unwrap_err().code(),
            "no_ridge_area"
        );
        assert_eq!(
            extract_from_image_at(2, &patch, Some(100))
                .unwrap_err()
                .code(),
            "template_bad_field"
        );
    }

    #[test]
    fn contrast_stretch_spans_the_range_and_keeps_order() {
        let mut px: Vec<u8> = (0..1000).map(|i| 100 + (i % 50) as u8).collect();
        let mut wide: Vec<u8> = (0..1000).map(|i| 50 + (i % 150) as u8).collect();
        let before = wide.clone();
        stretch_contrast(&mut wide);
        assert_eq!(wide, before, "a 150-level range is left alone");
        stretch_contrast(&mut px);
        assert_eq!(*px.iter().min().unwrap(), 0);
        assert_eq!(*px.iter().max().unwrap(), 255);
        assert!(px[10] < px[20] && px[20] < px[40]);
        let mut full: Vec<u8> = [0u8; 10]
            .into_iter()
            .chain(0..=255)
            .chain([255; 10])
            .collect();
        let before = full.clone();
        stretch_contrast(&mut full);
        assert_eq!(full, before);
    }

    /// A 569-dpi image declared as such gives the minutiae of the same image taken as 500 dpi,
    /// scaled by 500/569 (within the resampling error).
    #[test]
    fn declared_resolution_rescales_to_500_dpi() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/fingers/fvc2002_db2_b");
        let Ok(bytes) = std::fs::read(dir.join("images/101_1.tif")) else {
            return;
        };
        let native = extract_from_image(2, &bytes).unwrap();
        let v = extract_from_image_at(2, &bytes, Some(569)).unwrap();
        assert_eq!(v.resolution_dpi, 500);
        assert_eq!(v.width, (296.0f32 * 500.0 / 569.0).round() as u16);
        let k = 500.0 / 569.0;
        let near = v
            .minutiae
            .iter()
            .filter(|m| {
                native
                    .minutiae
                    .iter()
                    .any(|n| (n.x * k - m.x).abs() <= 4.0 && (n.y * k - m.y).abs() <= 4.0)
            })
            .count();
        assert!(
            near * 2 >= v.minutiae.len(),
            "{near} of {}",
            v.minutiae.len()
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
