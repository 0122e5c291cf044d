use proptest::prelude::*;

use super::*;
use crate::test_support::{arb_record, partition, topic};

#[test]
fn empty_batch_round_trips() {
    let batch = MetadataBatch {
        offset: 1,
        epoch: 1,
        records: vec![],
    };
    let frame = batch.to_frame().unwrap();
    assert_eq!(frame.len(), FRAME_HEADER_BYTES + BATCH_HEADER_BYTES);
    assert_eq!(
        MetadataBatch::decode_frame(&frame),
        Ok((batch, frame.len()))
    );
}

#[test]
fn every_damage_is_detected() {
    let batch = MetadataBatch {
        offset: 9,
        epoch: 2,
        records: vec![topic("a", 1), partition(1, 0)],
    };
    let frame = batch.to_frame().unwrap();
    for cut in 0..frame.len() {
        assert!(matches!(
            MetadataBatch::decode_frame(&frame[..cut]),
            Err(FrameError::Torn { .. })
        ));
    }
    for i in FRAME_HEADER_BYTES..frame.len() {
        let mut bad = frame.clone();
        bad[i] ^= 0x40;
        assert_eq!(
            MetadataBatch::decode_frame(&bad),
            Err(FrameError::CrcMismatch)
        );
    }
}

#[test]
fn oversized_length_is_refused_before_reading() {
    let mut frame = vec![0u8; FRAME_HEADER_BYTES];
    frame[..4].copy_from_slice(&(FRAME_BYTES_MAX as u32 + 1).to_be_bytes());
    assert_eq!(
        MetadataBatch::decode_frame(&frame),
        Err(FrameError::Oversized(FRAME_BYTES_MAX as u32 + 1))
    );
}

#[test]
fn oversized_batch_is_refused_and_the_buffer_kept() {
    let big = crate::records::MetadataRecord::Config(crate::records::ConfigRecord {
        resource_type: crate::records::ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "k".into(),
        value: Some("x".repeat(FRAME_BYTES_MAX)),
    });
    let batch = MetadataBatch {
        offset: 1,
        epoch: 1,
        records: vec![big],
    };
    let mut buf = vec![1, 2, 3];
    assert!(batch.encode_frame(&mut buf).is_err());
    assert_eq!(buf, [1, 2, 3]);
}

proptest! {
    #[test]
    fn any_batch_round_trips(records in prop::collection::vec(arb_record(), 0..20),
                             offset: u64, epoch: u32) {
        let batch = MetadataBatch { offset, epoch, records };
        let mut buf = batch.to_frame().unwrap();
        let len = buf.len();
        buf.extend_from_slice(b"next");
        prop_assert_eq!(MetadataBatch::decode_frame(&buf), Ok((batch, len)));
    }
}
