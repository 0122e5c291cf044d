//! Any bytes as a produce payload: validation and record decoding never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kavka_protocol::batch::validate_batches(data);
    for view in kavka_protocol::batch::BatchIter::new(data).take(16) {
        match view {
            Ok(v) => {
                let _ = kavka_protocol::records::decode_records(&v);
            }
            Err(_) => break,
        }
    }
});
