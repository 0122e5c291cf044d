use proptest::prelude::*;

use super::*;
use crate::records::{ConfigRecord, ConfigResourceType, MetadataRecord};
use crate::test_support::{arb_record, partition, topic, topic_config};

/// An image built from whichever of `records` apply.
fn image_of(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for r in records {
        let _ = image.apply(r);
    }
    image
}

#[test]
fn empty_image_round_trips() {
    let bytes = encode_snapshot(0, 0, &MetadataImage::new());
    assert_eq!(decode_snapshot(&bytes), Ok((0, 0, MetadataImage::new())));
}

#[test]
fn image_round_trips_with_its_offset_and_epoch() {
    let image = image_of(&[
        topic("a", 1),
        partition(1, 0),
        partition(1, 1),
        topic_config("a", "retention.ms", Some("5")),
        MetadataRecord::Config(ConfigRecord {
            resource_type: ConfigResourceType::Broker,
            resource_name: String::new(),
            name: "log.retention.ms".into(),
            value: Some("9".into()),
        }),
    ]);
    let bytes = encode_snapshot(42, 3, &image);
    assert_eq!(decode_snapshot(&bytes), Ok((42, 3, image)));
}

#[test]
fn a_large_image_spans_chunks() {
    let mut records = vec![topic("big", 1)];
    records.extend((0..40_000).map(|p| partition(1, p)));
    let image = image_of(&records);
    let bytes = encode_snapshot(7, 1, &image);
    assert!(bytes.len() > SNAPSHOT_CHUNK_BYTES);
    assert_eq!(decode_snapshot(&bytes), Ok((7, 1, image)));
}

#[test]
fn torn_or_extended_snapshots_are_refused() {
    let image = image_of(&[topic("a", 1), partition(1, 0)]);
    let bytes = encode_snapshot(5, 1, &image);
    for cut in 0..bytes.len() {
        assert!(decode_snapshot(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        decode_snapshot(&longer),
        Err(SnapshotError::TrailingBytes(1))
    );
}

proptest! {
    /// Whatever records built an image, its snapshot rebuilds the same image.
    #[test]
    fn snapshot_rebuilds_any_image(records in prop::collection::vec(arb_record(), 0..60),
                                   offset: u64, epoch: u32) {
        let image = image_of(&records);
        let bytes = encode_snapshot(offset, epoch, &image);
        prop_assert_eq!(decode_snapshot(&bytes), Ok((offset, epoch, image)));
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn decoder_survives_garbage(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_snapshot(&bytes);
    }
}
