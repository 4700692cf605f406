//! Photo intake: JPEG/PNG only, size limits checked from the header before any pixel is
//! decoded (a decompression bomb is an error, not an OOM), EXIF orientation applied,
//! grayscale and alpha converted to RGB.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::FaceError;

/// Largest accepted upload.
pub const MAX_PHOTO_BYTES: usize = 20 * 1024 * 1024;
/// Largest accepted image, in pixels (width x height), e.g. 8000 x 5000.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Largest accepted side.
pub const MAX_SIDE: u32 = 12_000;
/// Smallest side worth looking at.
pub const MIN_SIDE: u32 = 32;

/// Decodes and orients a photo within the limits above.
pub fn decode(photo: &[u8]) -> Result<RgbImage, FaceError> {
    if photo.len() > MAX_PHOTO_BYTES {
        return Err(FaceError::PhotoTooLarge(format!(
            "{} bytes, limit {MAX_PHOTO_BYTES}",
            photo.len()
        )));
    }
    let undecodable = |e: &dyn std::fmt::Display| FaceError::PhotoUndecodable(e.to_string());
    let reader = ImageReader::new(Cursor::new(photo))
        .with_guessed_format()
        .map_err(|e| undecodable(&e))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) | Some(ImageFormat::Png) => {}
        Some(f) => return Err(FaceError::PhotoUnsupportedFormat(format!("{f:?}"))),
        None => {
            return Err(FaceError::PhotoUndecodable(
                "not a JPEG or PNG image".into(),
            ))
        }
    }
    // Header only: dimensions before any pixel buffer is allocated.
    let (w, h) = ImageReader::new(Cursor::new(photo))
        .with_guessed_format()
        .map_err(|e| undecodable(&e))?
        .into_dimensions()
        .map_err(|e| undecodable(&e))?;
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(FaceError::PhotoTooLarge(format!(
            "{w}x{h} pixels, limit {MAX_PIXELS} pixels and {MAX_SIDE} per side"
        )));
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(FaceError::PhotoTooSmall(format!("{w}x{h} pixels")));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // RGBA16 of the largest image plus decoder slack.
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

fn map_image_error(e: image::ImageError) -> FaceError {
    match e {
        image::ImageError::Limits(l) => FaceError::PhotoTooLarge(l.to_string()),
        other => FaceError::PhotoUndecodable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        // A valid PNG signature and IHDR chunk claiming w x h, 8-bit RGB, with no pixel data.
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&ihdr);
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc.to_be_bytes());
        // The start of an IDAT chunk (a few bytes of a zlib stream): a bomb's payload.
        let mut idat = b"IDAT".to_vec();
        idat.extend_from_slice(&[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00]);
        out.extend_from_slice(&9u32.to_be_bytes());
        out.extend_from_slice(&idat);
        out.extend_from_slice(&crc32(&idat).to_be_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn decompression_bomb_is_rejected_from_the_header() {
        let bomb = png_header(60_000, 60_000);
        assert_eq!(decode(&bomb).unwrap_err().code(), "photo_too_large");
        let wide = png_header(11_000, 11_000);
        assert_eq!(decode(&wide).unwrap_err().code(), "photo_too_large");
    }

    #[test]
    fn jpeg_claiming_huge_dimensions_is_rejected_before_decoding() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([10, 20, 30]));
        let mut jpg = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpg), ImageFormat::Jpeg)
            .unwrap();
        // patch the SOF0 frame header: height and width (big-endian u16) to 65000 x 65000
        let sof = jpg
            .windows(2)
            .position(|w| w == [0xff, 0xc0])
            .expect("SOF0 marker");
        jpg[sof + 5..sof + 9].copy_from_slice(&[0xfd, 0xe8, 0xfd, 0xe8]);
        assert_eq!(decode(&jpg).unwrap_err().code(), "photo_too_large");
    }

    #[test]
    fn garbage_and_other_formats_are_rejected() {
        assert_eq!(
            decode(b"hello world, not an image").unwrap_err().code(),
            "photo_undecodable"
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(decode(gif).unwrap_err().code(), "photo_unsupported_format");
        let big = vec![0u8; MAX_PHOTO_BYTES + 1];
        assert_eq!(decode(&big).unwrap_err().code(), "photo_too_large");
    }

    #[test]
    fn grayscale_png_and_exif_orientation() {
        let gray = image::GrayImage::from_fn(40, 60, |x, y| image::Luma([(x * 3 + y) as u8]));
        let mut buf = Vec::new();
        DynamicImage::ImageLuma8(gray)
            .write_to(&mut Cursor::new(&mut buf), ImageFormat::Png)
            .unwrap();
        let rgb = decode(&buf).unwrap();
        assert_eq!(rgb.dimensions(), (40, 60));
        assert_eq!(rgb.get_pixel(5, 7).0, [22, 22, 22]);

        // A JPEG with an EXIF APP1 segment saying "rotate 90 CW" (orientation 6).
        let img = RgbImage::from_fn(64, 48, |x, _| {
            image::Rgb([if x < 32 { 0 } else { 255 }, 0, 0])
        });
        let mut jpg = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpg), ImageFormat::Jpeg)
            .unwrap();
        let mut exif =
            b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
        let mut app1 = vec![0xff, 0xe1];
        app1.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        app1.append(&mut exif);
        let mut with_exif = jpg[..2].to_vec();
        with_exif.extend_from_slice(&app1);
        with_exif.extend_from_slice(&jpg[2..]);
        let rgb = decode(&with_exif).unwrap();
        assert_eq!(rgb.dimensions(), (48, 64), "rotated to portrait");
        // Left half (dark) of the original ends up at the top after a 90 degree CW turn.
        assert!(rgb.get_pixel(24, 5).0[0] < 60 && rgb.get_pixel(24, 58).0[0] > 200);
    }
}
