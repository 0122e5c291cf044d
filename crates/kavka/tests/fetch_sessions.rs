//! Fetch sessions (KIP-227) over raw requests: a full fetch at epoch 0 opens a session, an
//! incremental one names only what changed and hears only of partitions with news, epochs are
//! checked, forgotten partitions leave, an emptied session closes, a waiting incremental fetch
//! is answered with the partition that got data, and a session of topic ids refuses requests
//! by name.

mod common;

use bytes::Bytes;
use common::{batch, create_topic, produce, TestBroker};
use kavka_client::Connection;
use kavka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kavka_protocol::messages::metadata_request::MetadataRequestTopic;
use kavka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, FetchRequest, FetchResponse, MetadataRequest,
};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;
use uuid::Uuid;

async fn topic_id(c: &mut Connection, name: &str) -> Uuid {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(common::topic_name(name)))
    ]));
    match c.send(12, Request::Metadata(req)).await.unwrap() {
        Response::Metadata(m) => m.topics[0].topic_id,
        other => panic!("unexpected {other:?}"),
    }
}

/// A fetch (v13, topics by id) of `partitions` (index, fetch offset) of `topic`.
fn request(
    topic: Uuid,
    partitions: &[(i32, i64)],
    session: (i32, i32),
    forgotten: &[i32],
    max_wait_ms: i32,
) -> FetchRequest {
    let fetches = partitions
        .iter()
        .map(|&(p, offset)| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)
        })
        .collect::<Vec<_>>();
    let topics = if fetches.is_empty() {
        Vec::new()
    } else {
        vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(fetches)]
    };
    let forgotten = if forgotten.is_empty() {
        Vec::new()
    } else {
        vec![ForgottenTopic::default()
            .with_topic_id(topic)
            .with_partitions(forgotten.to_vec())]
    };
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 24)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
}

async fn send(c: &mut Connection, version: i16, req: FetchRequest) -> FetchResponse {
    match c.send(version, Request::Fetch(req)).await.unwrap() {
        Response::Fetch(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// (partition, high watermark, record bytes) of every partition the answer carries.
fn carried(r: &FetchResponse) -> Vec<(i32, i64, usize)> {
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let n = p.records.as_ref().map_or(0, Bytes::len);
            (p.partition_index, p.high_watermark, n)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_fetch_hears_only_of_partitions_with_news() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "sess", 3).await, 0);
    let id = topic_id(&mut c, "sess").await;
    assert_eq!(
        produce(&mut c, "sess", 0, 1, batch("a", 0, 5)).await,
        (0, 0)
    );

    // Epoch 0 opens a session; the answer carries every partition.
    let r = send(
        &mut c,
        13,
        request(id, &[(0, 0), (1, 0), (2, 0)], (0, 0), &[], 0),
    )
    .await;
    assert_eq!(r.error_code, 0);
    let session = r.session_id;
    assert_ne!(session, 0, "a session was opened");
    let all = carried(&r);
    assert_eq!(all.len(), 3);
    assert!(all[0].2 > 0 && all[0].1 == 5);

    // Epoch 1 moves partition 0 to its end: nothing changed, nothing is carried.
    let r = send(&mut c, 13, request(id, &[(0, 5)], (session, 1), &[], 0)).await;
    assert_eq!((r.error_code, r.session_id), (0, session));
    assert_eq!(carried(&r), vec![]);

    // New data on partition 1, which the request does not name: it is carried, alone.
    assert_eq!(
        produce(&mut c, "sess", 1, 1, batch("b", 0, 3)).await,
        (0, 0)
    );
    let r = send(&mut c, 13, request(id, &[], (session, 2), &[], 0)).await;
    let news = carried(&r);
    assert_eq!(news.len(), 1);
    assert_eq!((news[0].0, news[0].1), (1, 3));
    assert!(news[0].2 > 0);

    // The same epoch again (a retry) is refused; an unknown session too.
    let r = send(&mut c, 13, request(id, &[], (session, 2), &[], 0)).await;
    assert_eq!(r.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.code());
    let r = send(&mut c, 13, request(id, &[], (session ^ 1, 1), &[], 0)).await;
    assert_eq!(r.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.code());
    // A request naming topics by name cannot use a session of topic ids.
    let by_name = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_session_id(session)
        .with_session_epoch(3)
        .with_max_bytes(1 << 20);
    let r = send(&mut c, 12, by_name).await;
    assert_eq!(r.error_code, ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR.code());

    // Partition 1 at its end, partition 2 forgotten: a waiting fetch is answered when data
    // comes to a partition of the session, with that partition only.
    let mut waiting = b.connect().await;
    let wait = tokio::spawn(async move {
        let req = request(id, &[(1, 3)], (session, 3), &[2], 10_000);
        send(&mut waiting, 13, req).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        produce(&mut c, "sess", 0, 1, batch("c", 5, 2)).await,
        (0, 5)
    );
    let r = wait.await.unwrap();
    assert_eq!(r.error_code, 0);
    let news = carried(&r);
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!((news[0].0, news[0].1), (0, 7));

    // Forgetting the rest closes the session.
    let r = send(&mut c, 13, request(id, &[], (session, 4), &[0, 1], 0)).await;
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(carried(&r), vec![]);
    let r = send(&mut c, 13, request(id, &[], (session, 5), &[], 0)).await;
    assert_eq!(r.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.code());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_declined_when_the_cache_has_no_slot_and_closed_by_final_epoch() {
    let b = TestBroker::start(&["max.incremental.fetch.session.cache.slots=1"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "slots", 1).await, 0);
    let id = topic_id(&mut c, "slots").await;
    let first = send(&mut c, 13, request(id, &[(0, 0)], (0, 0), &[], 0)).await;
    assert_ne!(first.session_id, 0);
    // The only slot is taken by a young session of the same size: no session, a full answer.
    let second = send(&mut c, 13, request(id, &[(0, 0)], (0, 0), &[], 0)).await;
    assert_eq!((second.error_code, second.session_id), (0, 0));
    assert_eq!(carried(&second).len(), 1);
    // Epoch -1 closes the first one; the slot is free again.
    let closing = request(id, &[(0, 0)], (first.session_id, -1), &[], 0);
    let r = send(&mut c, 13, closing).await;
    assert_eq!((r.error_code, r.session_id), (0, 0));
    let third = send(&mut c, 13, request(id, &[(0, 0)], (0, 0), &[], 0)).await;
    assert_ne!(third.session_id, 0);
}

/// A partition a session's last answer found with nothing to send is skipped while it does not
/// change; a change no fetch waits for (DeleteRecords moving the log start offset) still gets it
/// carried again, and so does new data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_partition_is_carried_again_when_its_log_start_moves() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "quiet", 1).await, 0);
    let id = topic_id(&mut c, "quiet").await;
    assert_eq!(
        produce(&mut c, "quiet", 0, 1, batch("q", 0, 5)).await,
        (0, 0)
    );
    // Opened at the log end: nothing to send.
    let r = send(&mut c, 13, request(id, &[(0, 5)], (0, 0), &[], 0)).await;
    let session = r.session_id;
    assert_ne!(session, 0);
    assert_eq!(carried(&r), vec![(0, 5, 0)]);
    let r = send(&mut c, 13, request(id, &[], (session, 1), &[], 0)).await;
    assert_eq!(carried(&r), vec![], "unchanged: not carried");

    let delete = Request::DeleteRecords(DeleteRecordsRequest::default().with_topics(
        vec![DeleteRecordsTopic::default()
            .with_name(common::topic_name("quiet"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(3)])],
    ));
    let Response::DeleteRecords(deleted) = c.send(2, delete).await.unwrap() else {
        panic!("unexpected answer to DeleteRecords")
    };
    assert_eq!(deleted.topics[0].partitions[0].low_watermark, 3);
    let r = send(&mut c, 13, request(id, &[], (session, 2), &[], 0)).await;
    let starts: Vec<(i32, i64)> = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.log_start_offset))
        .collect();
    assert_eq!(starts, vec![(0, 3)], "the new log start offset is carried");
    let r = send(&mut c, 13, request(id, &[], (session, 3), &[], 0)).await;
    assert_eq!(carried(&r), vec![], "quiet again");

    assert_eq!(
        produce(&mut c, "quiet", 0, 1, batch("r", 5, 2)).await,
        (0, 5)
    );
    let r = send(&mut c, 13, request(id, &[], (session, 4), &[], 0)).await;
    let news = carried(&r);
    assert_eq!(news.len(), 1);
    assert_eq!((news[0].0, news[0].1), (0, 7));
    assert!(news[0].2 > 0, "the new records are sent");
}
