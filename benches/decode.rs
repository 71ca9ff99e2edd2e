//! Work done off the render path, per item: sanitising provider text, and a 12-megapixel
//! JPEG decoded, scaled and encoded for each terminal image protocol.
//! `cargo bench --bench decode`.

// Benchmark harness code, not shipped: a failed setup may stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use kycdesk::domain::SafeText;
use kycdesk::providers::{MediaBytes, MediaFormat};
use ratatui::layout::Rect;
use ratatui_image::picker::{Picker, ProtocolType};
use std::hint::black_box;

/// A 4000x3000 photo-like JPEG: gradients and noise, so it compresses like a camera's.
fn twelve_megapixels() -> Vec<u8> {
    let mut seed = 7u32;
    let image = image::RgbImage::from_fn(4000, 3000, |x, y| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 27) as u8;
        image::Rgb([(x / 16) as u8 ^ noise, (y / 12) as u8, ((x + y) / 28) as u8 ^ noise])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image).write_to(&mut bytes, image::ImageFormat::Jpeg).unwrap();
    bytes.into_inner()
}

/// Provider text as hostile as it comes: escapes, controls, bidi overrides, long lines.
fn hostile_text(len: usize) -> String {
    let parts = ["Ada Lovelace ", "\u{1b}[31m", "\u{202e}", "\r\n", "Zoë Ängström ", "\u{7}", "日本語 ", "\t"];
    let mut text = String::with_capacity(len + 16);
    let mut i = 0;
    while text.len() < len {
        text.push_str(parts[i % parts.len()]);
        i += 1;
    }
    text
}

fn benches(c: &mut Criterion) {
    let short = hostile_text(64);
    let long = hostile_text(1 << 20);
    c.bench_function("sanitise: a 64-byte field", |b| b.iter(|| SafeText::new(black_box(&short))));
    let mut group = c.benchmark_group("sanitise");
    group.sample_size(20);
    group.bench_function("a 1 MiB field", |b| b.iter(|| SafeText::new(black_box(&long))));
    group.finish();

    let media = MediaBytes { bytes: twelve_megapixels().into(), format: MediaFormat::Jpeg };
    // The image pane of a 200x50 terminal.
    let area = kycdesk::ui::layout::image_area(Rect::new(0, 0, 200, 50));
    let mut group = c.benchmark_group("12-megapixel JPEG: decode + scale + encode");
    group.sample_size(10);
    for protocol in [ProtocolType::Halfblocks, ProtocolType::Kitty, ProtocolType::Sixel] {
        // Half blocks' picker assumes a 10x20 font, as kitty and sixel need one.
        let mut picker = Picker::halfblocks();
        picker.set_protocol_type(protocol);
        group.bench_function(format!("{protocol:?}"), |b| {
            b.iter(|| kycdesk::media::picture(&picker, black_box(&media), area).unwrap())
        });
    }
    group.finish();
}

criterion_group!(decode, benches);
criterion_main!(decode);
