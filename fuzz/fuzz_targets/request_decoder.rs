//! Any bytes as a request frame: decoding returns an error or a request, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kavka_protocol::request::decode_request(bytes::Bytes::copy_from_slice(data));
});
