//! OffsetForLeaderEpoch on one node: where each leader epoch ends, Kafka's answers for an
//! epoch newer than any, KIP-320 fencing of the current epoch, unknown partitions; and Fetch's
//! divergence check of `last_fetched_epoch`. (The cluster test
//! `a_dead_broker_is_fenced_and_comes_back` checks both across leader epochs.)

mod common;

use common::{create_topic, fetch_after_epoch, offset_for_leader_epoch, produce, TestBroker};
use kavka_protocol::ErrorCode;

#[tokio::test]
async fn a_single_node_answers_where_its_epoch_ends() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect().await;
    assert_eq!(create_topic(&mut conn, "epochs", 2).await, 0);
    for i in 0..3 {
        let (code, offset) = produce(&mut conn, "epochs", 0, 1, common::batch("e", i * 4, 4)).await;
        assert_eq!((code, offset), (0, i as i64 * 4));
    }
    // One node: every batch is of leader epoch 0, which ends at the log end.
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 0, -1, 0).await,
        (0, 0, 12)
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 0, 0, 0).await,
        (0, 0, 12)
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 0, -1, 3).await,
        (0, -1, -1),
        "an epoch newer than any"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 1, -1, 0).await,
        (0, 0, 0),
        "an empty partition's leader epoch starts at its log end (recorded when it became leader)"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 0, 2, 0)
            .await
            .0,
        ErrorCode::UNKNOWN_LEADER_EPOCH.code()
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 7, -1, 0)
            .await
            .0,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code()
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "missing", 0, -1, 0)
            .await
            .0,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code()
    );
}

#[tokio::test]
async fn a_fetch_past_where_its_epoch_ends_is_told_the_divergence() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect().await;
    assert_eq!(create_topic(&mut conn, "diverge", 1).await, 0);
    for i in 0..3 {
        assert_eq!(
            produce(&mut conn, "diverge", 0, 1, common::batch("d", i * 4, 4))
                .await
                .0,
            0
        );
    }
    let (code, _, _, bytes) = fetch_after_epoch(&mut conn, "diverge", 0, 4, 0).await;
    assert_eq!(code, 0);
    assert!(bytes > 0, "in its epoch: records");
    // A consumer that read past this log's end in epoch 0 (a log that lost its tail): told
    // where epoch 0 ends here, with no records.
    assert_eq!(
        fetch_after_epoch(&mut conn, "diverge", 0, 15, 0).await,
        (0, 0, 12, 0)
    );
    assert_eq!(
        fetch_after_epoch(&mut conn, "diverge", 0, 4, 6).await.0,
        ErrorCode::OFFSET_OUT_OF_RANGE.code(),
        "an epoch this log never had"
    );
}
