//! Hostile input never panics the decoders: random and mutated request frames, random batch
//! bytes. (The cargo-fuzz targets under fuzz/ drive the same entry points coverage-guided.)

use bytes::{BufMut, Bytes, BytesMut};
use kavka_protocol::batch::{validate_batches, BatchIter, BatchView, Compression};
use kavka_protocol::records::{decode_records, BatchBuilder};
use kavka_protocol::request::decode_request;
use proptest::prelude::*;

fn served_header(api_key: i16, version: i16) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(7);
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(Bytes::from(bytes));
    }

    #[test]
    fn random_bodies_of_served_apis_never_panic(
        api_key in prop_oneof![Just(0i16), Just(1), Just(2), Just(3), Just(18), Just(19), Just(20), Just(32), Just(60)],
        version in 0i16..20,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut frame = served_header(api_key, version);
        frame.put_slice(&body);
        let _ = decode_request(frame.freeze());
    }

    #[test]
    fn random_batch_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = validate_batches(&bytes);
        for v in BatchIter::new(&bytes).take(8) {
            match v {
                Ok(view) => { let _ = decode_records(&view); }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn mutated_batches_are_refused_or_valid(flip in 0usize..200, bit in 0u8..8, codec in 0usize..5) {
        let codec = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd][codec];
        let mut b = BatchBuilder::new(codec);
        for i in 0..5i64 {
            b.append(i, Some(b"key"), Some(b"value value value"), &[]);
        }
        let mut bytes = b.build().unwrap().to_vec();
        let at = flip % bytes.len();
        bytes[at] ^= 1 << bit;
        // A flip inside the CRC-covered part must be caught; before it (offset, length, epoch,
        // magic, crc) it is either caught or harmless for validation.
        let result = validate_batches(&bytes);
        if at >= 21 {
            prop_assert!(result.is_err(), "flip at {} not caught", at);
        }
        if let Ok(view) = BatchView::parse(&bytes) {
            let _ = decode_records(&view);
        }
    }
}
