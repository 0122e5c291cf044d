//! Test fixture of the controller's unit tests: registered brokers, some of them unfenced.

use kavka_metadata::{
    BrokerEndpointRecord, BrokerFencingRecord, MetadataRecord, RegisterBrokerRecord,
};
use uuid::Uuid;

/// The records registering brokers `ids` (broker epoch `epoch(id)`, one PLAINTEXT endpoint)
/// and unfencing those of `live` (registered brokers start fenced).
pub fn brokers(ids: &[i32], live: &[i32], epoch: impl Fn(i32) -> i64) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for &id in ids {
        records.push(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: epoch(id),
            endpoints: vec![BrokerEndpointRecord {
                listener: "PLAINTEXT".into(),
                host: "h".into(),
                port: 9092,
            }],
            rack: None,
        }));
    }
    for &id in live {
        records.push(MetadataRecord::UnfenceBroker(BrokerFencingRecord {
            broker_id: id,
            broker_epoch: epoch(id),
        }));
    }
    records
}
