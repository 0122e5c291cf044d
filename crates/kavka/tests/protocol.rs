//! Raw-bytes protocol tests over TCP against a real `kavka server`.

mod common;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kavka_protocol::api::ApiKey;
use kavka_protocol::codec::Decodable;
use kavka_protocol::messages::ApiVersionsResponse;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SERVED_API_COUNT: i32 = 43;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// An ApiVersions request of any version, by hand.
fn api_versions_request(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(18);
    b.put_i16(version);
    b.put_i32(correlation_id);
    b.put_i16(4);
    b.put_slice(b"test");
    if version >= 3 {
        b.put_u8(0); // header tagged fields
        b.put_u8(5); // compact string "kavk" + 1
        b.put_slice(b"kavk");
        b.put_u8(4);
        b.put_slice(b"1.0");
        b.put_u8(0); // body tagged fields
    }
    frame(&b)
}

async fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut size))
        .await
        .expect("broker answered or closed in time")
        .ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

/// True when the broker closed the connection (EOF or reset) within the timeout.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn still_serves(b: &TestBroker) {
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&api_versions_request(3, 42)).await.unwrap();
    let resp = read_frame(&mut s).await.expect("a response");
    assert_eq!(&resp[..4], &42i32.to_be_bytes());
    assert_eq!(&resp[4..6], &0i16.to_be_bytes());
}

#[tokio::test]
async fn api_versions_every_version_and_too_new() {
    let b = TestBroker::start(&[]);
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    for version in 0..=4i16 {
        s.write_all(&api_versions_request(version, 100 + version as i32))
            .await
            .unwrap();
        let mut resp = read_frame(&mut s).await.unwrap();
        // Response header v0 whatever the version: correlation id, then the body.
        assert_eq!(&resp[..4], &(100 + version as i32).to_be_bytes());
        assert_eq!(&resp[4..6], &[0, 0], "error_code NONE for v{version}");
        let _ = resp.split_to(4);
        let body = ApiVersionsResponse::decode(&mut resp, version).unwrap();
        let keys: Vec<i16> = body.api_keys.iter().map(|k| k.api_key).collect();
        for key in [
            0i16, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 32, 33, 35, 37, 42,
            44, 47, 60, 22, 61, 24, 25, 26, 27, 28, 64, 65, 66,
        ] {
            assert!(keys.contains(&key), "v{version} lists api {key}");
        }
        assert!(
            !keys.contains(&68),
            "ConsumerGroupHeartbeat is not advertised before the KIP-848 protocol works"
        );
        let produce = body.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 13));
    }
    // Too new: a v0-encoded answer with UNSUPPORTED_VERSION and the ranges (KIP-511).
    s.write_all(&api_versions_request(9, 7)).await.unwrap();
    let resp = read_frame(&mut s).await.unwrap();
    assert_eq!(&resp[..4], &7i32.to_be_bytes());
    assert_eq!(&resp[4..6], &35i16.to_be_bytes());
    assert_eq!(
        &resp[6..10],
        &SERVED_API_COUNT.to_be_bytes(),
        "v0 array of api keys"
    );
    assert_eq!(
        resp.len(),
        10 + 6 * SERVED_API_COUNT as usize,
        "exactly a v0 body"
    );
    // The connection stays usable.
    s.write_all(&api_versions_request(0, 8)).await.unwrap();
    assert_eq!(&read_frame(&mut s).await.unwrap()[..4], &8i32.to_be_bytes());
}

#[tokio::test]
async fn oversized_frame_is_refused_before_reading_it() {
    let b = TestBroker::start(&["socket.request.max.bytes=1048576"]);
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&0x7fff_fff0i32.to_be_bytes()).await.unwrap();
    assert!(
        closed(&mut s).await,
        "oversized frame closes the connection"
    );
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&(1_048_577i32).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await);
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await, "negative size closes the connection");
    still_serves(&b).await;
}

#[tokio::test]
async fn truncated_frame_and_short_header_harm_no_one() {
    let b = TestBroker::start(&[]);
    // A frame announcing 100 bytes, of which 10 arrive, then the client goes away.
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&100i32.to_be_bytes()).await.unwrap();
    s.write_all(&[0u8; 10]).await.unwrap();
    drop(s);
    // A frame too short to hold a header.
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[0, 18, 0])).await.unwrap();
    assert!(closed(&mut s).await);
    // A stalled half frame does not block anyone else.
    let mut stalled = TcpStream::connect(b.addr).await.unwrap();
    stalled.write_all(&50i32.to_be_bytes()).await.unwrap();
    still_serves(&b).await;
    drop(stalled);
}

#[tokio::test]
async fn unknown_key_unserved_api_and_garbage_close_only_that_connection() {
    let b = TestBroker::start(&[]);
    let mut other = TcpStream::connect(b.addr).await.unwrap();

    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff]))
        .await
        .unwrap();
    assert!(closed(&mut s).await, "unknown api key 9999");

    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[0, 22, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 1, 2, 3]))
        .await
        .unwrap();
    assert!(closed(&mut s).await, "InitProducerId is not served yet");

    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[0, 11, 0, 5, 0, 0, 0, 1, 0xff, 0xff, 1, 2, 3]))
        .await
        .unwrap();
    assert!(closed(&mut s).await, "undecodable JoinGroup body");

    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[
        0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x13,
    ]))
    .await
    .unwrap();
    assert!(closed(&mut s).await, "undecodable Metadata v12");

    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&frame(&[0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff]))
        .await
        .unwrap();
    assert!(closed(&mut s).await, "Produce v2 is below the served range");

    // The connection opened before all this still works.
    other.write_all(&api_versions_request(2, 5)).await.unwrap();
    assert_eq!(
        &read_frame(&mut other).await.unwrap()[..4],
        &5i32.to_be_bytes()
    );
}

#[tokio::test]
async fn produce_errors_carry_kafka_codes() {
    let b = TestBroker::start(&["message.max.bytes=2000"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "codes", 1).await, 0);

    let good = batch("v", 0, 3);
    assert_eq!(produce(&mut c, "codes", 0, 1, good.clone()).await, (0, 0));
    assert_eq!(produce(&mut c, "codes", 0, -1, good.clone()).await, (0, 3));

    let mut crc = good.to_vec();
    let last = crc.len() - 1;
    crc[last] ^= 0x55;
    assert_eq!(
        produce(&mut c, "codes", 0, 1, crc.into()).await.0,
        2,
        "CORRUPT_MESSAGE"
    );

    let mut magic = good.to_vec();
    magic[16] = 1;
    assert_eq!(
        produce(&mut c, "codes", 0, 1, magic.into()).await.0,
        87,
        "INVALID_RECORD"
    );

    assert_eq!(
        produce(&mut c, "codes", 0, 1, good.slice(..good.len() - 3))
            .await
            .0,
        2,
        "truncated batch"
    );

    let big = batch(&"x".repeat(500), 0, 10);
    assert_eq!(
        produce(&mut c, "codes", 0, 1, big).await.0,
        10,
        "MESSAGE_TOO_LARGE"
    );

    assert_eq!(
        produce(&mut c, "nope", 0, 1, good.clone()).await.0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        produce(&mut c, "codes", 7, 1, good.clone()).await.0,
        3,
        "no partition 7"
    );
    assert_eq!(
        produce(&mut c, "codes", 0, 2, good.clone()).await.0,
        21,
        "INVALID_REQUIRED_ACKS"
    );

    // Nothing refused was written.
    let all = read_all(&mut c, "codes", 0).await;
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn acks_zero_gets_no_response_and_the_connection_goes_on() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "quiet", 1).await, 0);
    for i in 0..5 {
        c.send_only(9, produce_request("quiet", 0, 0, batch("q", i, 1)))
            .await
            .unwrap();
    }
    // The next response on this connection is the Fetch's: nothing was sent for acks=0.
    let all = read_all(&mut c, "quiet", 0).await;
    assert_eq!(all.len(), 5);
    // A failed acks=0 produce closes the connection: the only signal the protocol has.
    c.send_only(9, produce_request("missing", 0, 0, batch("q", 0, 1)))
        .await
        .unwrap();
    assert!(closed(c.stream()).await);
}

#[tokio::test]
async fn fetch_long_polls_until_data_or_timeout() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "poll", 1).await, 0);

    // No data: the fetch waits for max_wait_ms.
    let started = Instant::now();
    c.send(12, fetch_request("poll", 0, 0, 600, 1, 1 << 20))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(550),
        "answered after {waited:?}"
    );

    // Data arriving meanwhile wakes it early.
    let addr = b.addr;
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut p = kavka_client::Connection::connect(addr, "p").await.unwrap();
        produce(&mut p, "poll", 0, 1, batch("late", 0, 1)).await
    });
    let started = Instant::now();
    let resp = c
        .send(12, fetch_request("poll", 0, 0, 10_000, 1, 1 << 20))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(producer.await.unwrap(), (0, 0));
    assert!(
        waited < Duration::from_secs(5),
        "woken by the append, not the timeout: {waited:?}"
    );
    let Response::Fetch(r) = resp else { panic!() };
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_waiting_fetch_answers_when_its_topic_is_deleted() {
    use kavka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kavka_protocol::messages::DeleteTopicsRequest;
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "doomed", 1).await, 0);
    let addr = b.addr;
    let deleter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut d = kavka_client::Connection::connect(addr, "d").await.unwrap();
        let req = DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name("doomed")))
            ])
            .with_timeout_ms(5_000);
        match d.send(6, Request::DeleteTopics(req)).await.unwrap() {
            Response::DeleteTopics(r) => r.responses[0].error_code,
            other => panic!("unexpected {other:?}"),
        }
    });
    let started = Instant::now();
    let resp = c
        .send(12, fetch_request("doomed", 0, 0, 20_000, 1, 1 << 20))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(deleter.await.unwrap(), 0);
    assert!(
        waited < Duration::from_secs(10),
        "woken by the deletion, not the timeout: {waited:?}"
    );
    let Response::Fetch(r) = resp else { panic!() };
    assert_ne!(r.responses[0].partitions[0].error_code, 0, "{r:?}");
}

#[tokio::test]
async fn fetch_limits_offsets_and_sessions() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "limits", 1).await, 0);
    for i in 0..10 {
        produce(&mut c, "limits", 0, 1, batch("r", i * 10, 10)).await;
    }
    let one = batch("r", 0, 10).len();
    // max_bytes smaller than a batch still returns one whole batch.
    let (err, hw, bytes) = fetch(&mut c, "limits", 0, 0, 10).await;
    assert_eq!((err, hw), (0, 100));
    let v = kavka_protocol::batch::BatchView::parse(&bytes).unwrap();
    assert_eq!((v.base_offset(), v.record_count()), (0, 10), "first batch");
    assert_eq!(bytes.len(), one);
    // A limit of two and a half batches returns two.
    let two = one + batch("r", 10, 10).len();
    let (_, _, bytes) = fetch(&mut c, "limits", 0, 0, (two + one / 2) as i32).await;
    assert_eq!(bytes.len(), two);
    // From the middle of a batch: the containing batch.
    let (_, _, bytes) = fetch(&mut c, "limits", 0, 15, one as i32).await;
    let first = kavka_protocol::batch::BatchView::parse(&bytes).unwrap();
    assert_eq!(first.base_offset(), 10);
    // At the end: nothing, no error. Past it: OFFSET_OUT_OF_RANGE.
    assert_eq!(fetch(&mut c, "limits", 0, 100, 1000).await.0, 0);
    assert_eq!(fetch(&mut c, "limits", 0, 101, 1000).await.0, 1);
    assert_eq!(fetch(&mut c, "limits", 0, -1, 1000).await.0, 1);
    // A session the broker never created.
    let Request::Fetch(req) = fetch_request("limits", 0, 0, 0, 0, 1000) else {
        unreachable!()
    };
    let resp = c
        .send(
            12,
            Request::Fetch(req.with_session_id(77).with_session_epoch(1)),
        )
        .await
        .unwrap();
    let Response::Fetch(r) = resp else { panic!() };
    assert_eq!(r.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
    // Asking for a new session (epoch 0) opens one (tests/fetch_sessions.rs covers them).
    let Request::Fetch(req) = fetch_request("limits", 0, 0, 0, 0, 1000) else {
        unreachable!()
    };
    let resp = c
        .send(
            12,
            Request::Fetch(req.with_session_id(0).with_session_epoch(0)),
        )
        .await
        .unwrap();
    let Response::Fetch(r) = resp else { panic!() };
    assert_eq!(r.error_code, 0);
    assert_ne!(r.session_id, 0);
    assert_eq!(ApiKey::Fetch as i16, 1);
}

#[tokio::test]
async fn produce_follows_kafkas_batch_rules() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "rules", 1).await, 0);
    // Exactly one batch per partition (Produce v3+).
    let two = [batch("a", 0, 1), batch("a", 1, 1)].concat();
    assert_eq!(
        produce(&mut c, "rules", 0, 1, two.into()).await.0,
        87,
        "INVALID_RECORD"
    );
    // No control batches from clients.
    let mut control = batch("c", 0, 1).to_vec();
    control[22] |= 0x20;
    let crc = crc32c::crc32c(&control[21..]);
    control[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(produce(&mut c, "rules", 0, 1, control.into()).await.0, 87);
    // A record count the bytes cannot hold.
    let mut liar = batch("l", 0, 1).to_vec();
    liar[57..61].copy_from_slice(&1000i32.to_be_bytes());
    liar[23..27].copy_from_slice(&999i32.to_be_bytes());
    let crc = crc32c::crc32c(&liar[21..]);
    liar[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(produce(&mut c, "rules", 0, 1, liar.into()).await.0, 87);
    // Timestamps more than message.timestamp.after.max.ms (1 hour) ahead.
    let mut future =
        kavka_protocol::records::BatchBuilder::new(kavka_protocol::batch::Compression::None);
    future.append(i64::MAX / 2, None, Some(b"x"), &[]);
    assert_eq!(
        produce(&mut c, "rules", 0, 1, future.build().unwrap())
            .await
            .0,
        32,
        "INVALID_TIMESTAMP"
    );
    // Nothing refused was written.
    assert_eq!(read_all(&mut c, "rules", 0).await.len(), 0);
}

#[tokio::test]
async fn a_decompression_bomb_cannot_take_the_broker_down() {
    use kavka_protocol::batch::{Compression, BATCH_HEADER_BYTES};
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "bomb", 1).await, 0);
    // 8 KiB of zstd that expands to 200 MiB of zeros, claiming i32::MAX records.
    let mut bytes = batch("b", 0, 1).to_vec();
    let zeros =
        kavka_protocol::compression::compress(Compression::Zstd, &vec![0u8; 200 << 20]).unwrap();
    bytes.truncate(BATCH_HEADER_BYTES);
    bytes.extend_from_slice(&zeros);
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    bytes[21..23].copy_from_slice(&Compression::Zstd.attribute_bits().to_be_bytes());
    bytes[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let (err, _) = produce(&mut c, "bomb", 0, 1, bytes.into()).await;
    assert_eq!(
        err, 0,
        "the header is consistent: stored as sent, like Kafka's header checks"
    );
    // ListOffsets by timestamp decodes that batch: an error answer, not a dead broker.
    use kavka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kavka_protocol::messages::{BrokerId, ListOffsetsRequest};
    for ts in [0i64, -3] {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name("bomb"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])]);
        let resp = c.send(7, Request::ListOffsets(req)).await;
        assert!(resp.is_ok(), "broker answered ListOffsets {ts}");
    }
    still_serves(&b).await;
    // The partition itself stays online.
    assert_eq!(
        produce(&mut c, "bomb", 0, 1, batch("after", 0, 1)).await.0,
        0
    );
}

#[tokio::test]
async fn oversized_non_produce_requests_are_refused_unread() {
    let b = TestBroker::start(&[]);
    // A 9 MiB Metadata request: only Produce may be that large.
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let mut head = (9i32 << 20).to_be_bytes().to_vec();
    head.extend_from_slice(&[0, 3, 0, 0]);
    s.write_all(&head).await.unwrap();
    assert!(closed(&mut s).await);
    still_serves(&b).await;
}

#[tokio::test]
async fn min_bytes_never_exceeds_max_bytes() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "minmax", 1).await, 0);
    produce(&mut c, "minmax", 0, 1, batch("m", 0, 5)).await;
    let started = Instant::now();
    // min_bytes 10 MB, max_bytes 100 B, a batch larger than that present: min_bytes counts as
    // 100 B (as in Kafka), so the fetch is answered at once.
    let resp = c
        .send(12, fetch_request("minmax", 0, 0, 5_000, 10 << 20, 100))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let Response::Fetch(r) = resp else { panic!() };
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
}
