//! Broker registration and heartbeats as the active controller decides them (BrokerRegistration,
//! key 62, and BrokerHeartbeat, key 63, in Kafka's KRaft protocol). A registration gets a broker
//! epoch: above the offset of every batch committed before it, so each registration of a
//! broker has a larger epoch than the one before and a request carrying an old epoch is told
//! STALE_BROKER_EPOCH. A first registration starts fenced; the controller unfences it once it
//! is heard and caught up (`broker/liveness.rs`). Pure: image in, records out.

use kavka_metadata::{MetadataImage, MetadataRecord, RegisterBrokerRecord};
use kavka_protocol::ErrorCode;

use super::Refusal;

/// Whether two registrations say the same (everything but the epoch the controller stamps).
pub fn same_registration(a: &RegisterBrokerRecord, b: &RegisterBrokerRecord) -> bool {
    a.broker_id == b.broker_id
        && a.incarnation_id == b.incarnation_id
        && a.endpoints == b.endpoints
        && a.rack == b.rack
}

/// Registers `wanted`: its broker epoch, and the record to write (none when the image already
/// holds this very registration: a retried request gets the epoch it was given). `epoch` is
/// the epoch a new registration takes: one past the offset the decision is made at.
pub fn register_broker(
    image: &MetadataImage,
    mut wanted: RegisterBrokerRecord,
    epoch: i64,
) -> Result<(i64, Vec<MetadataRecord>), Refusal> {
    if wanted.broker_id < 0 {
        return Err((
            ErrorCode::INVALID_REQUEST,
            format!("broker id {} is negative", wanted.broker_id),
        ));
    }
    if wanted.endpoints.is_empty() {
        return Err((
            ErrorCode::INVALID_REQUEST,
            format!("broker {} registers no listener", wanted.broker_id),
        ));
    }
    if let Some(held) = image.broker(wanted.broker_id) {
        if same_registration(held, &wanted) {
            return Ok((held.broker_epoch, Vec::new()));
        }
    }
    wanted.broker_epoch = epoch;
    Ok((epoch, vec![MetadataRecord::RegisterBroker(wanted)]))
}

/// Checks that a heartbeat's `broker_epoch` is broker `broker_id`'s current one (Kafka answers
/// STALE_BROKER_EPOCH also for a broker it does not know); the registration then.
pub fn check_epoch(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<&RegisterBrokerRecord, Refusal> {
    match image.broker(broker_id) {
        Some(b) if b.broker_epoch == broker_epoch => Ok(b),
        Some(b) => Err((
            ErrorCode::STALE_BROKER_EPOCH,
            format!(
                "broker {broker_id}'s epoch is {}, not {broker_epoch}: it registered again since",
                b.broker_epoch
            ),
        )),
        None => Err((
            ErrorCode::STALE_BROKER_EPOCH,
            format!("no registration of broker {broker_id}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::BrokerEndpointRecord;
    use uuid::Uuid;

    fn wanted(incarnation: u128, port: i32) -> RegisterBrokerRecord {
        RegisterBrokerRecord {
            broker_id: 4,
            incarnation_id: Uuid::from_u128(incarnation),
            broker_epoch: -1,
            endpoints: vec![BrokerEndpointRecord {
                listener: "PLAINTEXT".into(),
                host: "h".into(),
                port,
            }],
            rack: None,
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r).unwrap();
        }
    }

    #[test]
    fn a_registration_gets_an_epoch_and_a_retry_the_same_one() {
        let mut image = MetadataImage::new();
        let (epoch, records) = register_broker(&image, wanted(1, 9092), 8).unwrap();
        assert_eq!((epoch, records.len()), (8, 1));
        apply(&mut image, &records);
        assert!(image.is_fenced(4), "a first registration starts fenced");
        assert_eq!(image.broker(4).unwrap().broker_epoch, 8);
        let (again, records) = register_broker(&image, wanted(1, 9092), 12).unwrap();
        assert_eq!(
            (again, records.len()),
            (8, 0),
            "the same registration retried"
        );
        // Restarted (a new incarnation) or with another endpoint: a new epoch.
        let (restarted, records) = register_broker(&image, wanted(2, 9092), 12).unwrap();
        assert_eq!((restarted, records.len()), (12, 1));
        let (moved, _) = register_broker(&image, wanted(1, 9192), 13).unwrap();
        assert_eq!(moved, 13);
    }

    #[test]
    fn heartbeats_with_an_old_epoch_are_stale() {
        let mut image = MetadataImage::new();
        let (_, records) = register_broker(&image, wanted(1, 9092), 8).unwrap();
        apply(&mut image, &records);
        assert_eq!(check_epoch(&image, 4, 8).unwrap().broker_epoch, 8);
        let (code, why) = check_epoch(&image, 4, 7).unwrap_err();
        assert_eq!(code, ErrorCode::STALE_BROKER_EPOCH);
        assert!(why.contains("registered again"), "{why}");
        assert_eq!(
            check_epoch(&image, 5, 8).unwrap_err().0,
            ErrorCode::STALE_BROKER_EPOCH
        );
    }

    #[test]
    fn a_registration_needs_an_id_and_a_listener() {
        let image = MetadataImage::new();
        let mut negative = wanted(1, 9092);
        negative.broker_id = -1;
        assert_eq!(
            register_broker(&image, negative, 1).unwrap_err().0,
            ErrorCode::INVALID_REQUEST
        );
        let mut bare = wanted(1, 9092);
        bare.endpoints.clear();
        assert_eq!(
            register_broker(&image, bare, 1).unwrap_err().0,
            ErrorCode::INVALID_REQUEST
        );
    }
}
