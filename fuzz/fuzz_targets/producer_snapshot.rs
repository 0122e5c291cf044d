//! Any bytes as a producer state snapshot (`<offset>.snapshot`), with the CRC both as given and
//! recomputed over the rest (so the fuzzer gets past the checksum): decoding never panics nor
//! allocates beyond the input, and what decodes encodes back to a snapshot that decodes the same.
#![no_main]

use kavka_storage::producer_snapshot::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    if data.len() >= 6 {
        let mut fixed = data.to_vec();
        let crc = crc32c::crc32c(&fixed[6..]);
        fixed[2..6].copy_from_slice(&crc.to_be_bytes());
        if let Ok(state) = decode(&fixed) {
            assert_eq!(
                decode(&encode(&state)).expect("re-encoded snapshot decodes"),
                state
            );
        }
    }
});
