//! Compression codecs of record batches. The broker stores batches as produced and never calls
//! these on the produce or fetch path; they serve record-level reads (ListOffsets by timestamp,
//! later compaction), the client library and tests.

use std::io::{Read, Write};

use thiserror::Error;

use crate::batch::Compression;

/// Decompressed record sections larger than this are refused (a hostile batch cannot make the
/// broker allocate without bound).
pub const DECOMPRESSED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A codec failure.
#[derive(Debug, Error)]
pub enum CompressionError {
    /// The compressed bytes are malformed.
    #[error("{codec} decompression failed: {reason}")]
    Corrupt {
        /// Codec name.
        codec: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The decompressed size passes [`DECOMPRESSED_BYTES_MAX`].
    #[error("decompressed records exceed {DECOMPRESSED_BYTES_MAX} bytes")]
    TooLarge,
}

fn corrupt(codec: Compression, e: impl std::fmt::Display) -> CompressionError {
    CompressionError::Corrupt {
        codec: codec.name(),
        reason: e.to_string(),
    }
}

fn read_bounded(codec: Compression, mut r: impl Read) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let limit = (DECOMPRESSED_BYTES_MAX + 1) as u64;
    (&mut r)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > DECOMPRESSED_BYTES_MAX {
        return Err(CompressionError::TooLarge);
    }
    Ok(out)
}

/// The xerial snappy-java stream header used by the Java client.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

fn snappy_raw(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let len = snap::raw::decompress_len(input).map_err(|e| corrupt(codec, e))?;
    if out.len() + len > DECOMPRESSED_BYTES_MAX {
        return Err(CompressionError::TooLarge);
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(input, &mut out[start..])
        .map_err(|e| corrupt(codec, e))?;
    Ok(())
}

/// Decompresses the records section of a batch.
pub fn decompress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => read_bounded(codec, flate2::read::GzDecoder::new(input)),
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input)),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder)
        }
        Compression::Snappy => {
            let mut out = Vec::new();
            if input.starts_with(XERIAL_MAGIC) && input.len() >= XERIAL_HEADER_BYTES {
                let mut rest = &input[XERIAL_HEADER_BYTES..];
                while !rest.is_empty() {
                    if rest.len() < 4 {
                        return Err(corrupt(codec, "truncated xerial block length"));
                    }
                    let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    rest = &rest[4..];
                    if rest.len() < n {
                        return Err(corrupt(codec, "truncated xerial block"));
                    }
                    snappy_raw(codec, &rest[..n], &mut out)?;
                    rest = &rest[n..];
                }
            } else {
                snappy_raw(codec, input, &mut out)?;
            }
            Ok(out)
        }
    }
}

/// Compresses a records section with the given codec (raw snappy, LZ4 frame, gzip, zstd level 3),
/// in the forms every Kafka client reads.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(input).map_err(|e| corrupt(codec, e))?;
            e.finish().map_err(|e| corrupt(codec, e))
        }
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(input)
            .map_err(|e| corrupt(codec, e)),
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(input).map_err(|e| corrupt(codec, e))?;
            e.finish().map_err(|e| corrupt(codec, e))
        }
        Compression::Zstd => zstd::bulk::compress(input, 3).map_err(|e| corrupt(codec, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let c = compress(codec, &input).unwrap();
            assert_eq!(decompress(codec, &c).unwrap(), input, "{codec:?}");
        }
    }

    #[test]
    fn xerial_snappy_is_read() {
        let input = b"hello hello hello hello xerial".to_vec();
        let block = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
        assert_eq!(decompress(Compression::Snappy, &framed).unwrap(), input);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(decompress(codec, b"\x00\x01garbage\xff\xff\xff\xff").is_err());
        }
    }
}
