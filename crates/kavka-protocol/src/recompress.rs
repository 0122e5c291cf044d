//! Re-compression of a produced batch for topics whose `compression.type` names a codec: the
//! only produce path that decodes records, taken only when the batch's codec differs from the
//! topic's (as in Kafka).

use bytes::Bytes;

use crate::batch::{attributes, BatchView, Compression};
use crate::records::{decode_records, rebuild_batch, RecordError};

/// The batch re-encoded with `target`, every record, offset delta, timestamp, header and the
/// producer metadata kept. `None` when the batch already uses `target`.
pub fn recompress(
    batch: &BatchView<'_>,
    target: Compression,
) -> Result<Option<Bytes>, RecordError> {
    if batch.compression() == Some(target) {
        return Ok(None);
    }
    let records = decode_records(batch)?;
    let mut header = batch.as_bytes().to_vec();
    let attrs = (batch.attributes() & !attributes::COMPRESSION_MASK) | target.attribute_bits();
    header[21..23].copy_from_slice(&attrs.to_be_bytes());
    let retargeted = BatchView::parse(&header)?;
    rebuild_batch(&retargeted, &records, None).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate_batches;
    use crate::records::BatchBuilder;

    #[test]
    fn recompressed_batches_keep_every_record() {
        let mut b = BatchBuilder::new(Compression::Snappy);
        for i in 0..20i64 {
            b.append(
                100 + i,
                Some(format!("k{i}").as_bytes()),
                Some(b"value"),
                &[(b"h".as_slice(), None)],
            );
        }
        let original = b.build().unwrap();
        let view = BatchView::parse_validated(&original).unwrap();
        let zstd = recompress(&view, Compression::Zstd).unwrap().unwrap();
        validate_batches(&zstd).unwrap();
        let z = BatchView::parse(&zstd).unwrap();
        assert_eq!(z.compression(), Some(Compression::Zstd));
        assert_eq!(decode_records(&z).unwrap(), decode_records(&view).unwrap());
        assert_eq!(
            (z.producer_id(), z.record_count(), z.last_offset_delta()),
            (-1, 20, 19)
        );
        assert!(recompress(&view, Compression::Snappy).unwrap().is_none());
        let none = recompress(&view, Compression::None).unwrap().unwrap();
        assert_eq!(
            decode_records(&BatchView::parse(&none).unwrap())
                .unwrap()
                .len(),
            20
        );
    }
}
