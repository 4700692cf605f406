//! Parsers for standard minutiae records.
//!
//! Formats (big-endian throughout), as laid out in the standards and in the public
//! format summaries of the FingerprintIO project (templates.machinezoo.com):
//!
//! * ISO/IEC 19794-2:2005 — `FMR\0 20\0`, 4-byte record length, 24-byte header, views of
//!   4 bytes + 6 bytes per minutia + extended data. Angles in 360/256 units.
//! * ISO/IEC 19794-2:2011 — `FMR\0030\0`, 19794-1:2011 generic header (15 bytes), one
//!   representation per view with its own length, capture date, device and quality blocks;
//!   minutiae of 5 or 6 bytes. Angles in 360/256 units.
//! * ANSI INCITS 378-2004 — `FMR\0 20\0`, 2-byte length (or 0 followed by a 4-byte length),
//!   26-byte header (CBEFF product id, equipment, image size and resolution for all views),
//!   views as in ISO 2005. Angles in 2° units (0–179; larger values wrap modulo 360°).
//! * ANSI INCITS 378-2009 — `FMR\0030\0`, 4-byte length, 21-byte header; each view carries its
//!   own quality-algorithm ids, image size and resolution. Angles in 2° units.
//!
//! Length checks: ISO records must end exactly where their length fields say (trailing padding
//! after the record is ignored, as in the SourceAFIS samples). Deployed ANSI encoders are known
//! to miscount the record length by a few bytes (the reference samples do), so ANSI records
//! tolerate a declared length within [`ANSI_LENGTH_TOLERANCE`] bytes of the structure.

use super::select::PLAUSIBLE_DPI;
use super::{normalize_angle, FingerError, FingerRecord, FingerView, Minutia, MinutiaKind};

/// Largest difference between an ANSI record's length field and its decoded structure that is
/// still accepted.
pub const ANSI_LENGTH_TOLERANCE: usize = 4;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FingerError> {
        let avail = self.b.len().saturating_sub(self.pos);
        if avail < n {
            return Err(FingerError::TemplateTruncated {
                offset: self.pos,
                needed: n,
                available: avail,
            });
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, FingerError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FingerError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, FingerError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn skip(&mut self, n: usize) -> Result<(), FingerError> {
        self.take(n).map(|_| ())
    }
}

/// Decodes a standard minutiae record. `format` is one of `iso-19794-2-2005`,
/// `iso-19794-2-2011`, `ansi-378-2004`, `ansi-378-2009`.
pub fn parse_template(format: &str, bytes: &[u8]) -> Result<FingerRecord, FingerError> {
    let rec = match format {
        "iso-19794-2-2005" => parse_iso2005(bytes)?,
        "iso-19794-2-2011" => parse_iso2011(bytes)?,
        "ansi-378-2004" => parse_ansi2004(bytes)?,
        "ansi-378-2009" => parse_ansi2009(bytes)?,
        _ => return Err(FingerError::UnknownTemplateFormat),
    };
    if rec.views.is_empty() {
        return Err(FingerError::TemplateNoViews);
    }
    Ok(rec)
}

#[derive(Clone, Copy, PartialEq)]
enum AngleUnit {
    Iso256,
    Ansi2Deg,
}

fn check_magic(r: &mut Reader<'_>, versions: &[&[u8; 4]]) -> Result<(), FingerError> {
    let magic = r.take(4)?;
    if magic != b"FMR\0" {
        return Err(FingerError::TemplateBadHeader(
            "format identifier is not FMR",
        ));
    }
    let v = r.take(4)?;
    if !versions.iter().any(|x| &x[..] == v) {
        return Err(FingerError::TemplateBadHeader(
            "unsupported version for this format",
        ));
    }
    Ok(())
}

fn ppcm_to_dpi(ppcm: u16) -> Result<u16, FingerError> {
    if ppcm == 0 {
        return Err(FingerError::TemplateBadField("resolution is zero"));
    }
    Ok(((ppcm as f32) * 2.54).round().min(u16::MAX as f32) as u16)
}

fn check_position(p: u8) -> Result<u8, FingerError> {
    if p > 10 {
        Err(FingerError::BadFingerPosition(p as u32))
    } else {
        Ok(p)
    }
}

fn finger_quality(q: u8) -> u8 {
    if q > 100 {
        0
    } else {
        q
    }
}

struct ViewGeom {
    position: u8,
    width: u16,
    height: u16,
    dpi: u16,
    /// `x resolution / y resolution`: 1 for square pixels (see [`y_scale`]).
    y_scale: f32,
    quality: u8,
}

/// The factor that brings y onto the x resolution, `resx / resy`, for records that declare
/// different resolutions across and along the sensor (the standards carry both). Honoured
/// only when both lie in [`PLAUSIBLE_DPI`], the band that
/// [`FingerFeatures::extract`](super::FingerFeatures::extract) honours; otherwise (and for a
/// y resolution of 0, which some encoders write) pixels are taken as square, as before.
fn y_scale(resx: u16, resy: u16) -> f32 {
    let plausible = |ppcm: u16| ppcm_to_dpi(ppcm).is_ok_and(|dpi| PLAUSIBLE_DPI.contains(&dpi));
    if resx == resy || !plausible(resx) || !plausible(resy) {
        1.0
    } else {
        resx as f32 / resy as f32
    }
}

/// Reads `count` minutiae of `size` bytes (5 = no quality byte, 6 = with quality byte).
fn read_minutiae(
    r: &mut Reader<'_>,
    count: usize,
    size: usize,
    unit: AngleUnit,
    g: &ViewGeom,
    view_index: usize,
) -> Result<Vec<Minutia>, FingerError> {
    // Bound the allocation by what the buffer can actually hold.
    let avail = r.b.len().saturating_sub(r.pos);
    if avail < count * size {
        return Err(FingerError::TemplateTruncated {
            offset: r.pos,
            needed: count * size,
            available: avail,
        });
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let w0 = r.u16()?;
        let w1 = r.u16()?;
        let a = r.u8()?;
        let q = if size == 6 { r.u8()? } else { 0 };
        let kind = match w0 >> 14 {
            0 => MinutiaKind::Other,
            1 => MinutiaKind::Ending,
            2 => MinutiaKind::Bifurcation,
            _ => return Err(FingerError::TemplateBadField("reserved minutia type 11")),
        };
        let x = (w0 & 0x3fff) as u32;
        let y = (w1 & 0x3fff) as u32;
        if g.width > 0 && g.height > 0 && (x >= g.width as u32 || y >= g.height as u32) {
            return Err(FingerError::MinutiaOutOfBounds {
                view: view_index,
                index: i,
                x,
                y,
                width: g.width as u32,
                height: g.height as u32,
            });
        }
        let angle = match unit {
            AngleUnit::Iso256 => a as f32 * (std::f32::consts::TAU / 256.0),
            // Values 180-255 are out of range for ANSI but written by some encoders (including
            // the reference 2004 sample); they wrap modulo 360 degrees.
            AngleUnit::Ansi2Deg => (a as f32 * 2.0).to_radians(),
        };
        out.push(Minutia {
            x: x as f32,
            y: y as f32,
            angle: normalize_angle(angle),
            kind,
            quality: finger_quality(q),
        });
    }
    Ok(out)
}

fn make_view(g: ViewGeom, mut minutiae: Vec<Minutia>) -> FingerView {
    let (mut w, mut h) = (g.width, g.height);
    if g.y_scale != 1.0 {
        // Non-square pixels: y is rescaled onto the x resolution, and each direction with it
        // (a direction is a tangent, `(cos θ, −sin θ)` in y-down pixels, so its y component
        // scales like y), so that the view is in square pixels at the declared x resolution.
        let k = g.y_scale;
        for m in &mut minutiae {
            m.y *= k;
            m.angle = normalize_angle((m.angle.sin() * k).atan2(m.angle.cos()));
        }
        if h > 0 {
            h = (h as f32 * k).ceil().clamp(1.0, u16::MAX as f32) as u16;
        }
    }
    if w == 0 || h == 0 {
        // Size not recorded: use the extent of the minutiae.
        let mx = minutiae.iter().map(|m| m.x as u16).max().unwrap_or(0);
        let my = minutiae.iter().map(|m| m.y as u16).max().unwrap_or(0);
        w = mx.saturating_add(1);
        h = my.saturating_add(1);
    }
    minutiae.shrink_to_fit();
    FingerView {
        position: g.position,
        width: w,
        height: h,
        resolution_dpi: g.dpi,
        quality: g.quality,
        minutiae,
    }
}

fn skip_extended(r: &mut Reader<'_>) -> Result<(), FingerError> {
    let n = r.u16()? as usize;
    r.skip(n)
}

fn check_declared(declared: usize, bytes: &[u8], min: usize) -> Result<(), FingerError> {
    if declared < min {
        return Err(FingerError::TemplateLengthMismatch {
            declared,
            actual: min,
        });
    }
    if declared > bytes.len() {
        return Err(FingerError::TemplateTruncated {
            offset: 0,
            needed: declared,
            available: bytes.len(),
        });
    }
    Ok(())
}

fn parse_iso2005(bytes: &[u8]) -> Result<FingerRecord, FingerError> {
    let mut r = Reader::new(bytes);
    check_magic(&mut r, &[b" 20\0"])?;
    let declared = r.u32()? as usize;
    check_declared(declared, bytes, 24)?;
    let _equipment = r.u16()?;
    let width = r.u16()?;
    let height = r.u16()?;
    let resx = r.u16()?;
    let resy = r.u16()?;
    let nviews = r.u8()? as usize;
    let _reserved = r.u8()?;
    if nviews == 0 {
        return Err(FingerError::TemplateNoViews);
    }
    let dpi = ppcm_to_dpi(resx)?;
    let mut views = Vec::with_capacity(nviews);
    for vi in 0..nviews {
        let position = check_position(r.u8()?)?;
        let _view_impression = r.u8()?;
        let quality = finger_quality(r.u8()?);
        let count = r.u8()? as usize;
        let g = ViewGeom {
            position,
            width,
            height,
            dpi,
            y_scale: y_scale(resx, resy),
            quality,
        };
        let ms = read_minutiae(&mut r, count, 6, AngleUnit::Iso256, &g, vi)?;
        skip_extended(&mut r)?;
        views.push(make_view(g, ms));
    }
    if r.pos != declared {
        return Err(FingerError::TemplateLengthMismatch {
            declared,
            actual: r.pos,
        });
    }
    Ok(FingerRecord { views })
}

fn parse_iso2011(bytes: &[u8]) -> Result<FingerRecord, FingerError> {
    let mut r = Reader::new(bytes);
    check_magic(&mut r, &[b"030\0"])?;
    let declared = r.u32()? as usize;
    check_declared(declared, bytes, 15)?;
    let nviews = r.u16()? as usize;
    let cert_flag = r.u8()?;
    if nviews == 0 {
        return Err(FingerError::TemplateNoViews);
    }
    // Each representation needs at least 34 bytes, which bounds the allocation.
    let mut views = Vec::with_capacity(nviews.min(declared / 34 + 1));
    for vi in 0..nviews {
        let start = r.pos;
        let rep_len = r.u32()? as usize;
        if rep_len < 34 {
            return Err(FingerError::TemplateLengthMismatch {
                declared: rep_len,
                actual: 34,
            });
        }
        let avail = bytes.len() - start;
        if rep_len > avail {
            return Err(FingerError::TemplateTruncated {
                offset: start,
                needed: rep_len,
                available: avail,
            });
        }
        r.skip(9)?; // capture date and time
        r.skip(1 + 2 + 2)?; // technology, vendor, device type
        let nq = r.u8()? as usize;
        let mut quality = 0u8;
        for qi in 0..nq {
            let q = r.u8()?;
            r.skip(4)?;
            if qi == 0 {
                quality = finger_quality(q);
            }
        }
        if cert_flag != 0 {
            let nc = r.u8()? as usize;
            r.skip(3 * nc)?;
        }
        let position = check_position(r.u8()?)?;
        let _view = r.u8()?;
        let resx = r.u16()?;
        let resy = r.u16()?;
        let _impression = r.u8()?;
        let width = r.u16()?;
        let height = r.u16()?;
        let flags = r.u8()?;
        let size = (flags >> 4) as usize;
        if size != 5 && size != 6 {
            return Err(FingerError::TemplateBadField(
                "minutia record size must be 5 or 6",
            ));
        }
        let count = r.u8()? as usize;
        let g = ViewGeom {
            position,
            width,
            height,
            dpi: ppcm_to_dpi(resx)?,
            y_scale: y_scale(resx, resy),
            quality,
        };
        let ms = read_minutiae(&mut r, count, size, AngleUnit::Iso256, &g, vi)?;
        skip_extended(&mut r)?;
        if r.pos - start != rep_len {
            return Err(FingerError::TemplateLengthMismatch {
                declared: rep_len,
                actual: r.pos - start,
            });
        }
        views.push(make_view(g, ms));
    }
    if r.pos != declared {
        return Err(FingerError::TemplateLengthMismatch {
            declared,
            actual: r.pos,
        });
    }
    Ok(FingerRecord { views })
}

fn check_ansi_length(declared: usize, actual: usize) -> Result<(), FingerError> {
    if declared.abs_diff(actual) > ANSI_LENGTH_TOLERANCE {
        return Err(FingerError::TemplateLengthMismatch { declared, actual });
    }
    Ok(())
}

fn parse_ansi2004(bytes: &[u8]) -> Result<FingerRecord, FingerError> {
    let mut r = Reader::new(bytes);
    // The standard says " 20\0"; some encoders (including the reference sample) write "020\0".
    check_magic(&mut r, &[b" 20\0", b"020\0"])?;
    let short = r.u16()? as usize;
    let (declared, header) = if short == 0 {
        (r.u32()? as usize, 30)
    } else {
        (short, 26)
    };
    if declared < header {
        return Err(FingerError::TemplateLengthMismatch {
            declared,
            actual: header,
        });
    }
    let _product_owner = r.u16()?;
    let _product_type = r.u16()?;
    let _equipment = r.u16()?;
    let width = r.u16()?;
    let height = r.u16()?;
    let resx = r.u16()?;
    let resy = r.u16()?;
    let nviews = r.u8()? as usize;
    let _reserved = r.u8()?;
    if nviews == 0 {
        return Err(FingerError::TemplateNoViews);
    }
    let dpi = ppcm_to_dpi(resx)?;
    let mut views = Vec::with_capacity(nviews);
    for vi in 0..nviews {
        let position = check_position(r.u8()?)?;
        let _view_impression = r.u8()?;
        let quality = finger_quality(r.u8()?);
        let count = r.u8()? as usize;
        let g = ViewGeom {
            position,
            width,
            height,
            dpi,
            y_scale: y_scale(resx, resy),
            quality,
        };
        let ms = read_minutiae(&mut r, count, 6, AngleUnit::Ansi2Deg, &g, vi)?;
        skip_extended(&mut r)?;
        views.push(make_view(g, ms));
    }
    check_ansi_length(declared, r.pos)?;
    Ok(FingerRecord { views })
}

fn parse_ansi2009(bytes: &[u8]) -> Result<FingerRecord, FingerError> {
    let mut r = Reader::new(bytes);
    check_magic(&mut r, &[b"030\0"])?;
    let declared = r.u32()? as usize;
    if declared < 21 {
        return Err(FingerError::TemplateLengthMismatch {
            declared,
            actual: 21,
        });
    }
    let _product_owner = r.u16()?;
    let _product_type = r.u16()?;
    let _compliance = r.u8()?;
    let _equipment = r.u16()?;
    let nviews = r.u8()? as usize;
    let _reserved = r.u8()?;
    if nviews == 0 {
        return Err(FingerError::TemplateNoViews);
    }
    let mut views = Vec::with_capacity(nviews);
    for vi in 0..nviews {
        let position = check_position(r.u8()?)?;
        let _view = r.u8()?;
        let _impression = r.u8()?;
        let quality = finger_quality(r.u8()?);
        let _q_vendor = r.u16()?;
        let _q_algorithm = r.u16()?;
        let width = r.u16()?;
        let height = r.u16()?;
        let resx = r.u16()?;
        let resy = r.u16()?;
        let count = r.u8()? as usize;
        let g = ViewGeom {
            position,
            width,
            height,
            dpi: ppcm_to_dpi(resx)?,
            y_scale: y_scale(resx, resy),
            quality,
        };
        let ms = read_minutiae(&mut r, count, 6, AngleUnit::Ansi2Deg, &g, vi)?;
        skip_extended(&mut r)?;
        views.push(make_view(g, ms));
    }
    check_ansi_length(declared, r.pos)?;
    Ok(FingerRecord { views })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fingers/templates")
            .join(name);
        std::fs::read(p).expect("fixture")
    }

    fn expected(name: &str) -> serde_json::Value {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    fn position_code(s: &str) -> u8 {
        match s {
            "UNKNOWN" => 0,
            "RIGHT_THUMB" => 1,
            "RIGHT_INDEX" => 2,
            "RIGHT_MIDDLE" => 3,
            "RIGHT_RING" => 4,
            "RIGHT_LITTLE" => 5,
            "LEFT_THUMB" => 6,
            "LEFT_INDEX" => 7,
            "LEFT_MIDDLE" => 8,
            "LEFT_RING" => 9,
            "LEFT_LITTLE" => 10,
            _ => panic!("position {s}"),
        }
    }

    /// The ISO 2005 sample with its first view's minutiae squeezed along y by `1 / k` (as a sensor with
    /// `k` times coarser rows would record them) and the given y resolution in its header.
    fn squeezed_iso2005(k: f32, resy: u16) -> Vec<u8> {
        let mut b = fixture("iso19794p2v2005-sample.dat");
        // Header: resolutions at 18 (x) and 20 (y); the first view's minutiae from 28.
        b[20..22].copy_from_slice(&resy.to_be_bytes());
        let h = u16::from_be_bytes([b[16], b[17]]) as f32;
        b[16..18].copy_from_slice(&((h / k).round() as u16).to_be_bytes());
        let n = b[27] as usize;
        for i in 0..n {
            let o = 28 + 6 * i;
            let w1 = u16::from_be_bytes([b[o + 2], b[o + 3]]);
            let y = (w1 & 0x3fff) as f32;
            let th = b[o + 4] as f32 * std::f32::consts::TAU / 256.0;
            let yq = (y / k).round() as u16;
            b[o + 2..o + 4].copy_from_slice(&((w1 & 0xc000) | yq).to_be_bytes());
            let t2 = normalize_angle((th.sin() / k).atan2(th.cos()));
            b[o + 4] = ((t2 / std::f32::consts::TAU * 256.0).round() as u32 % 256) as u8;
        }
        b
    }

    /// A record that declares a coarser y resolution is brought back to square pixels: its
    /// minutiae land where the square-pixel original has them (within the rounding of the
    /// squeezed record), and it matches the original far better than the same minutiae under
    /// a header that claims square pixels.
    #[test]
    fn non_square_pixels_are_rescaled_to_the_x_resolution() {
        let b = fixture("iso19794p2v2005-sample.dat");
        let orig = parse_template("iso-19794-2-2005", &b)
            .unwrap()
            .views
            .remove(0);
        let resx = u16::from_be_bytes([b[18], b[19]]);
        let resy = resx * 2 / 3;
        let k = resx as f32 / resy as f32;
        let honest = parse_template("iso-19794-2-2005", &squeezed_iso2005(k, resy))
            .unwrap()
            .views
            .remove(0);
        assert_eq!(honest.resolution_dpi, orig.resolution_dpi);
        assert!((honest.height as f32 - orig.height as f32).abs() <= k);
        assert_eq!(honest.minutiae.len(), orig.minutiae.len());
        for (h, o) in honest.minutiae.iter().zip(&orig.minutiae) {
            assert_eq!(h.x, o.x);
            assert!((h.y - o.y).abs() <= k / 2.0 + 1e-3, "y {} vs {}", h.y, o.y);
            let d = (h.angle - o.angle + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            // Quantisation (1.4°) stretched by up to k, plus the y rounding's effect.
            assert!(
                d.abs().to_degrees() <= 5.0,
                "angle off by {}°",
                d.to_degrees()
            );
        }
        let lying = parse_template("iso-19794-2-2005", &squeezed_iso2005(k, resx))
            .unwrap()
            .views
            .remove(0);
        assert!(lying
            .minutiae
            .iter()
            .zip(&orig.minutiae)
            .any(|(l, o)| (l.y - o.y).abs() > 5.0));
        use crate::biometrics::finger::{compare, FingerFeatures};
        let fo = FingerFeatures::extract(&orig);
        let (sh, sl) = (
            compare(&fo, &FingerFeatures::extract(&honest)),
            compare(&fo, &FingerFeatures::extract(&lying)),
        );
        assert!(
            sh > 0.5 && sh > 2.0 * sl,
            "honest {sh}, square-pixel header {sl}"
        );
        // A y resolution of 0 or outside 250–1000 dpi is ignored (square pixels, as before).
        for bad in [0u16, 50, 1000] {
            let v = parse_template("iso-19794-2-2005", &squeezed_iso2005(k, bad))
                .unwrap()
                .views
                .remove(0);
            assert_eq!(v.minutiae, lying.minutiae, "resy {bad}");
        }
    }

    /// Compares a parsed record with the decoded JSON of the fixture (raw angle units).
    fn check_against_json(format: &str, dat: &str, json: &str, unit_deg: f32) {
        let rec = parse_template(format, &fixture(dat)).unwrap();
        let exp = expected(json);
        let fps = exp["fingerprints"].as_array().unwrap();
        assert_eq!(rec.views.len(), fps.len());
        for (v, fp) in rec.views.iter().zip(fps) {
            assert_eq!(v.position, position_code(fp["position"].as_str().unwrap()));
            let w = fp
                .get("width")
                .or(exp.get("width"))
                .unwrap()
                .as_u64()
                .unwrap();
            let h = fp
                .get("height")
                .or(exp.get("height"))
                .unwrap()
                .as_u64()
                .unwrap();
            assert_eq!((v.width as u64, v.height as u64), (w, h));
            assert_eq!(v.resolution_dpi, 500);
            let ms = fp["minutiae"].as_array().unwrap();
            assert_eq!(v.minutiae.len(), ms.len());
            for (m, e) in v.minutiae.iter().zip(ms) {
                assert_eq!(m.x as u64, e["positionX"].as_u64().unwrap());
                assert_eq!(m.y as u64, e["positionY"].as_u64().unwrap());
                let raw = e["angle"].as_f64().unwrap() as f32;
                let want = (raw * unit_deg).rem_euclid(360.0);
                assert!((m.angle.to_degrees() - want).abs() < 1e-3, "{format}");
                assert_eq!(m.quality as u64, e["quality"].as_u64().unwrap());
                let k = match e["type"].as_str().unwrap() {
                    "ENDING" => MinutiaKind::Ending,
                    "BIFURCATION" => MinutiaKind::Bifurcation,
                    _ => MinutiaKind::Other,
                };
                assert_eq!(m.kind, k);
            }
        }
    }

    #[test]
    fn iso2005_sample_matches_decoded_json() {
        check_against_json(
            "iso-19794-2-2005",
            "iso19794p2v2005-sample.dat",
            "iso19794p2v2005-sample.json",
            360.0 / 256.0,
        );
    }

    #[test]
    fn iso2011_sample_matches_decoded_json() {
        check_against_json(
            "iso-19794-2-2011",
            "iso19794p2v2011-sample.dat",
            "iso19794p2v2011-sample.json",
            360.0 / 256.0,
        );
    }

    #[test]
    fn ansi2004_sample_matches_decoded_json() {
        check_against_json(
            "ansi-378-2004",
            "ansi378v2004-sample.dat",
            "ansi378v2004-sample.json",
            2.0,
        );
    }

    #[test]
    fn ansi2009_sample_matches_decoded_json() {
        check_against_json(
            "ansi-378-2009",
            "ansi378v2009-sample.dat",
            "ansi378v2009-sample.json",
            2.0,
        );
    }

    #[test]
    fn sourceafis_records_parse_with_padding() {
        let p = parse_template("iso-19794-2-2005", &fixture("sourceafis-iso-probe.dat")).unwrap();
        let m =
            parse_template("iso-19794-2-2005", &fixture("sourceafis-iso-matching.dat")).unwrap();
        let n = parse_template(
            "iso-19794-2-2005",
            &fixture("sourceafis-iso-nonmatching.dat"),
        )
        .unwrap();
        assert_eq!(p, m);
        assert_ne!(p, n);
        assert_eq!(p.views.len(), 1);
        assert_eq!((p.views[0].width, p.views[0].height), (224, 288));
        assert!(p.views[0].minutiae.len() >= 20);
    }

    #[test]
    fn typed_errors() {
        let good = fixture("iso19794p2v2005-sample.dat");
        let e = |f: &str, b: &[u8]| parse_template(f, b).unwrap_err().code();
        assert_eq!(e("iso-19794-2-2005", &good[..100]), "template_truncated");
        assert_eq!(e("iso-19794-2-2005", &good[..6]), "template_truncated");
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(e("iso-19794-2-2005", &bad), "template_bad_header");
        let mut bad = good.clone();
        bad[5] = b'3';
        assert_eq!(e("iso-19794-2-2005", &bad), "template_bad_header");
        // Declared length shorter than the structure.
        let mut bad = good.clone();
        bad[11] -= 6;
        assert_eq!(e("iso-19794-2-2005", &bad), "template_length_mismatch");
        // Zero views.
        let mut bad = good.clone();
        bad[22] = 0;
        assert_eq!(e("iso-19794-2-2005", &bad), "template_no_views");
        // Bad finger position (first view at offset 24).
        let mut bad = good.clone();
        bad[24] = 11;
        assert_eq!(e("iso-19794-2-2005", &bad), "bad_finger_position");
        // First minutia x beyond width 512: set x = 0x3fff.
        let mut bad = good.clone();
        bad[28] = (bad[28] & 0xc0) | 0x3f;
        bad[29] = 0xff;
        assert_eq!(e("iso-19794-2-2005", &bad), "minutia_out_of_bounds");
        assert_eq!(e("iso-19794-2-2099", &good), "unknown_template_format");
        // The wrong parser for the bytes reports a header or structure error, not garbage.
        assert!(parse_template("ansi-378-2009", &good).is_err());
        let ansi = fixture("ansi378v2009-sample.dat");
        let mut bad = ansi.clone();
        bad[11] = bad[11].wrapping_add(40);
        assert_eq!(e("ansi-378-2009", &bad), "template_length_mismatch");
        assert_eq!(
            e("ansi-378-2009", &ansi[..ansi.len() - 3]),
            "template_truncated"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn parsers_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for f in ["iso-19794-2-2005", "iso-19794-2-2011", "ansi-378-2004", "ansi-378-2009"] {
                let _ = parse_template(f, &bytes);
            }
        }

        #[test]
        fn parsers_never_panic_on_mutated_samples(idx in 0usize..4, flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8), cut in any::<u16>()) {
            let (f, name) = [
                ("iso-19794-2-2005", "iso19794p2v2005-sample.dat"),
                ("iso-19794-2-2011", "iso19794p2v2011-sample.dat"),
                ("ansi-378-2004", "ansi378v2004-sample.dat"),
                ("ansi-378-2009", "ansi378v2009-sample.dat"),
            ][idx];
            let mut b = fixture(name);
            for (p, v) in flips {
                let n = b.len();
                b[p as usize % n] = v;
            }
            let keep = (cut as usize) % (b.len() + 1);
            b.truncate(keep.max(b.len() / 2));
            if let Ok(rec) = parse_template(f, &b) {
                prop_assert!(!rec.views.is_empty());
                for v in &rec.views {
                    prop_assert!(v.position <= 10);
                    prop_assert!(v.minutiae.len() <= 255);
                    for m in &v.minutiae {
                        prop_assert!(m.x < v.width as f32 && m.y < v.height as f32);
                        prop_assert!((0.0..std::f32::consts::TAU).contains(&m.angle));
                    }
                }
            }
        }
    }
}
