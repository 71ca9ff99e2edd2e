//! Synthetic document and selfie images: deterministic from a seed, realistic in size
//! (documents about 1000x630, live photos 640x640, JPEG above ComplyCube's 34 KB upload
//! minimum), and of nobody: shapes and noise, no real person or document.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageError, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn fill_rect(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, color: Rgb<u8>) {
    let (iw, ih) = img.dimensions();
    for y in y0.min(ih)..(y0 + h).min(ih) {
        for x in x0.min(iw)..(x0 + w).min(iw) {
            img.put_pixel(x, y, color);
        }
    }
}

fn fill_ellipse(img: &mut RgbImage, cx: f32, cy: f32, rx: f32, ry: f32, color: Rgb<u8>) {
    let (iw, ih) = img.dimensions();
    let (x0, x1) = ((cx - rx).max(0.0) as u32, ((cx + rx) as u32).min(iw));
    let (y0, y1) = ((cy - ry).max(0.0) as u32, ((cy + ry) as u32).min(ih));
    for y in y0..y1 {
        for x in x0..x1 {
            let dx = (x as f32 - cx) / rx;
            let dy = (y as f32 - cy) / ry;
            if dx * dx + dy * dy <= 1.0 {
                img.put_pixel(x, y, color);
            }
        }
    }
}

fn add_noise(img: &mut RgbImage, rng: &mut StdRng, amount: i16) {
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            let n: i16 = rng.random_range(-amount..=amount);
            *c = (*c as i16 + n).clamp(0, 255) as u8;
        }
    }
}

fn skin(rng: &mut StdRng) -> Rgb<u8> {
    let tones = [[241, 194, 167], [224, 172, 138], [198, 134, 99], [141, 85, 54], [92, 58, 40]];
    Rgb(tones[rng.random_range(0..tones.len())])
}

fn face(img: &mut RgbImage, rng: &mut StdRng, cx: f32, cy: f32, scale: f32) {
    let hair = Rgb([rng.random_range(20..120), rng.random_range(10..80), rng.random_range(0..60)]);
    let tone = skin(rng);
    fill_ellipse(img, cx, cy + scale * 1.45, scale * 1.25, scale * 0.7, Rgb([60, 70, 110]));
    fill_ellipse(img, cx, cy - scale * 0.15, scale * 0.78, scale * 0.95, hair);
    fill_ellipse(img, cx, cy + scale * 0.05, scale * 0.66, scale * 0.86, tone);
    for side in [-1.0, 1.0] {
        fill_ellipse(img, cx + side * scale * 0.26, cy - scale * 0.1, scale * 0.1, scale * 0.06, Rgb([250, 250, 250]));
        fill_ellipse(img, cx + side * scale * 0.26, cy - scale * 0.1, scale * 0.05, scale * 0.05, Rgb([40, 30, 20]));
    }
    fill_ellipse(img, cx, cy + scale * 0.45, scale * 0.22, scale * 0.06, Rgb([150, 60, 60]));
}

fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::with_capacity(128 * 1024);
    JpegEncoder::new_with_quality(&mut out, 88).encode_image(img)?;
    Ok(out)
}

/// One side of an identity document, 1000x630.
pub fn document_side(seed: u64, back: bool) -> Result<Vec<u8>, ImageError> {
    let mut rng = StdRng::seed_from_u64(seed ^ if back { 0xBAC4 } else { 0xF407 });
    let base = Rgb([rng.random_range(170..230), rng.random_range(180..235), rng.random_range(190..240)]);
    let mut img = RgbImage::from_pixel(1000, 630, base);
    // guilloche-like bands
    for y in 0..630u32 {
        for x in 0..1000u32 {
            let wave = (((x as f32) / 23.0).sin() + ((y as f32) / 17.0 + x as f32 / 90.0).cos()) * 9.0;
            let p = img.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (*c as f32 + wave).clamp(0.0, 255.0) as u8;
            }
        }
    }
    let accent = Rgb([rng.random_range(20..90), rng.random_range(40..110), rng.random_range(90..160)]);
    fill_rect(&mut img, 0, 0, 1000, 70, accent);
    if back {
        fill_rect(&mut img, 40, 110, 920, 40, Rgb([30, 30, 30]));
        for row in 0..5 {
            let width = rng.random_range(400..900);
            fill_rect(&mut img, 40, 190 + row * 50, width, 18, Rgb([70, 70, 80]));
        }
    } else {
        fill_rect(&mut img, 40, 110, 260, 330, Rgb([225, 225, 225]));
        face(&mut img, &mut rng, 170.0, 260.0, 95.0);
        for row in 0..6 {
            let width = rng.random_range(200..560);
            fill_rect(&mut img, 340, 120 + row * 52, 120, 12, Rgb([110, 110, 120]));
            fill_rect(&mut img, 340, 138 + row * 52, width, 20, Rgb([35, 35, 45]));
        }
    }
    // machine-readable zone
    fill_rect(&mut img, 0, 500, 1000, 130, Rgb([235, 235, 230]));
    for line in 0..2u32 {
        for ch in 0..44u32 {
            if rng.random_bool(0.85) {
                fill_rect(&mut img, 30 + ch * 21, 520 + line * 52, 14, 30, Rgb([25, 25, 25]));
            }
        }
    }
    add_noise(&mut img, &mut rng, 10);
    encode_jpeg(&img)
}

/// A live photo, 640x640.
pub fn live_photo(seed: u64) -> Result<Vec<u8>, ImageError> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5E1F);
    let wall = Rgb([rng.random_range(120..220), rng.random_range(120..220), rng.random_range(120..220)]);
    let mut img = RgbImage::from_pixel(640, 640, wall);
    for y in 0..640u32 {
        for x in 0..640u32 {
            let shade = (y as f32 / 640.0 * 40.0 + (x as f32 / 640.0) * 15.0) as i16;
            let p = img.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (*c as i16 - shade).clamp(0, 255) as u8;
            }
        }
    }
    face(&mut img, &mut rng, 320.0, 300.0, 190.0);
    add_noise(&mut img, &mut rng, 14);
    encode_jpeg(&img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_sized_jpegs() -> Result<(), ImageError> {
        let a = document_side(7, false)?;
        assert_eq!(a, document_side(7, false)?);
        assert!(a.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(a.len() > 34 * 1024 && a.len() < 4 * 1024 * 1024, "{} bytes", a.len());
        let img = image::load_from_memory(&a)?;
        assert_eq!((img.width(), img.height()), (1000, 630));
        let selfie = live_photo(7)?;
        assert!(selfie.len() > 34 * 1024);
        assert_eq!(image::load_from_memory(&selfie)?.width(), 640);
        Ok(())
    }
}
