//! Any bytes as a metadata log frame and as a metadata snapshot, with the frame CRC both as
//! given and recomputed (so the fuzzer gets past the checksum): decoding never panics nor
//! allocates beyond the input, and what decodes encodes back to the same.
#![no_main]

use kavka_metadata::batch::{crc32c, FRAME_HEADER_BYTES};
use kavka_metadata::{decode_snapshot, encode_snapshot, MetadataBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = MetadataBatch::decode_frame(data);
    let _ = decode_snapshot(data);
    // The same bytes as a payload behind a well-formed header.
    let mut framed = Vec::with_capacity(FRAME_HEADER_BYTES + data.len());
    framed.extend_from_slice(&(data.len() as u32).to_be_bytes());
    framed.extend_from_slice(&crc32c(data).to_be_bytes());
    framed.extend_from_slice(data);
    if let Ok((batch, len)) = MetadataBatch::decode_frame(&framed) {
        assert_eq!(len, framed.len());
        let again = batch.to_frame().expect("a decoded batch encodes");
        assert_eq!(
            MetadataBatch::decode_frame(&again).expect("re-encoded").0,
            batch
        );
    }
    if let Ok((offset, epoch, image)) = decode_snapshot(&framed) {
        let again = encode_snapshot(offset, epoch, &image);
        assert_eq!(
            decode_snapshot(&again).expect("re-encoded snapshot"),
            (offset, epoch, image)
        );
    }
});
