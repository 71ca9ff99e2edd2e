//! Image bytes to terminal pictures, off the UI thread, and the byte-bounded cache that
//! keeps provider bytes in memory only (never on disk).

use crate::app::Picture;
use crate::domain::MediaRef;
use crate::providers::{MediaBytes, MediaFormat};
use bytes::Bytes;
use image::{ImageReader, Limits};
use lru::LruCache;
use ratatui::layout::Rect;
use ratatui_image::Resize;
use ratatui_image::picker::Picker;
use sha2::{Digest, Sha256};
use std::io::Cursor;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("this is a PDF; kycdesk shows JPEG and PNG images only")]
    Pdf,
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    #[error("the image cannot be drawn: {0}")]
    Encode(String),
}

/// Largest image kycdesk will decode: far above any document scan, far below a
/// decompression bomb.
const MAX_SIDE: u32 = 8000;
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Decodes provider bytes (format from the bytes, size limited) and encodes them for
/// the terminal at `area`. CPU-heavy: call from a blocking task.
pub fn picture(picker: &Picker, media: &MediaBytes, area: Rect) -> Result<Picture, MediaError> {
    picture_turned(picker, media, area, 0, false)
}

/// `picture`, turned clockwise by `quarter_turns` × 90° first (a document scanned
/// sideways), and in greys when `grey` (a terminal without colours).
pub fn picture_turned(
    picker: &Picker,
    media: &MediaBytes,
    area: Rect,
    quarter_turns: u8,
    grey: bool,
) -> Result<Picture, MediaError> {
    let format = match media.format {
        MediaFormat::Jpeg => image::ImageFormat::Jpeg,
        MediaFormat::Png => image::ImageFormat::Png,
        MediaFormat::Pdf => return Err(MediaError::Pdf),
    };
    let mut reader = ImageReader::with_format(Cursor::new(&media.bytes[..]), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| MediaError::Decode(e.to_string()))?;
    let image = match quarter_turns % 4 {
        1 => image.rotate90(),
        2 => image.rotate180(),
        3 => image.rotate270(),
        _ => image,
    };
    let image = if grey { image::DynamicImage::ImageLuma8(image.to_luma8()) } else { image };
    let protocol =
        picker.new_protocol(image, area, Resize::Fit(None)).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(Picture { protocol, sha256: sha256_hex(&media.bytes), area })
}

/// Provider image bytes, most recently used kept, bounded by their total size.
pub struct ByteCache {
    entries: LruCache<MediaRef, MediaBytes>,
    bytes: usize,
    capacity: usize,
}

impl ByteCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: LruCache::unbounded(), bytes: 0, capacity }
    }

    pub fn get(&mut self, key: &MediaRef) -> Option<MediaBytes> {
        self.entries.get(key).cloned()
    }

    pub fn insert(&mut self, key: MediaRef, value: MediaBytes) {
        if value.bytes.len() > self.capacity {
            return;
        }
        self.bytes += value.bytes.len();
        if let Some(old) = self.entries.put(key, value) {
            self.bytes -= old.bytes.len();
        }
        while self.bytes > self.capacity {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.bytes.len(),
                None => break,
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

pub fn bytes_of(data: Vec<u8>, format: MediaFormat) -> MediaBytes {
    MediaBytes { bytes: Bytes::from(data), format }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderId, SafeText};

    fn key(n: u8) -> MediaRef {
        MediaRef { provider: ProviderId::ComplyCube, key: format!("live/{n}"), label: SafeText::new("x") }
    }

    #[test]
    fn cache_is_bounded_by_bytes_and_keeps_the_recent() {
        let mut cache = ByteCache::new(100);
        cache.insert(key(1), bytes_of(vec![0; 40], MediaFormat::Jpeg));
        cache.insert(key(2), bytes_of(vec![0; 40], MediaFormat::Jpeg));
        assert!(cache.get(&key(1)).is_some()); // 1 is now the most recent
        cache.insert(key(3), bytes_of(vec![0; 40], MediaFormat::Jpeg));
        assert!(cache.bytes() <= 100);
        assert!(cache.get(&key(2)).is_none(), "the least recent went first");
        assert!(cache.get(&key(1)).is_some() && cache.get(&key(3)).is_some());
        cache.insert(key(4), bytes_of(vec![0; 500], MediaFormat::Jpeg));
        assert!(cache.get(&key(4)).is_none(), "larger than the whole cache: not kept");
    }

    #[test]
    fn garbage_and_pdf_are_clear_errors() {
        let picker = Picker::halfblocks();
        let area = Rect::new(0, 0, 20, 10);
        assert!(matches!(
            picture(&picker, &bytes_of(b"%PDF-1.4".to_vec(), MediaFormat::Pdf), area),
            Err(MediaError::Pdf)
        ));
        let broken = bytes_of(vec![0xFF, 0xD8, 0xFF, 0x00, 0x01], MediaFormat::Jpeg);
        assert!(matches!(picture(&picker, &broken, area), Err(MediaError::Decode(_))));
    }

    #[test]
    fn a_document_scan_becomes_a_picture() -> Result<(), Box<dyn std::error::Error>> {
        let jpeg = crate::emulator::images::document_side(3, false)?;
        let p = picture(&Picker::halfblocks(), &bytes_of(jpeg.clone(), MediaFormat::Jpeg), Rect::new(0, 0, 40, 12))?;
        assert_eq!(p.sha256, sha256_hex(&jpeg));
        Ok(())
    }
}
