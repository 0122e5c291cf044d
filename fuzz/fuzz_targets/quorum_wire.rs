//! Any bytes as the controller channel's frames: a frame header, a hello, a Raft message, and
//! an observer's request and a voter's answer to it. Decoding never panics and never
//! allocates beyond the input (a frame length above the limit is refused from the header); a
//! hello and the observer messages round-trip; a decoded Raft message encodes to bytes that
//! decode again (protobuf merges repeated occurrences of a field, so the input's own bytes
//! need not come back).
#![no_main]

use kavka_quorum::raft::observer_wire::{
    decode_request, decode_response, encode_request, encode_response,
};
use kavka_quorum::raft::wire::{
    decode_hello, decode_message, encode_hello, encode_message, frame_len,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..4) {
        let _ = frame_len(header.try_into().expect("4 bytes"));
    }
    if let Ok(hello) = decode_hello(data) {
        assert_eq!(
            decode_hello(&encode_hello(&hello)).expect("re-encoded hello"),
            hello
        );
    }
    if let Ok(message) = decode_message(data) {
        decode_message(&encode_message(&message)).expect("a re-encoded message decodes");
    }
    if let Ok(request) = decode_request(data) {
        let bytes = encode_request(&request).expect("a decoded request encodes");
        assert_eq!(decode_request(&bytes).expect("re-encoded request"), request);
    }
    if let Ok(response) = decode_response(data) {
        let bytes = encode_response(&response).expect("a decoded response encodes");
        assert_eq!(
            decode_response(&bytes).expect("re-encoded response"),
            response
        );
    }
});
