//! Nothing acknowledged is lost: clean restarts, kill -9 during produce with fsync before ack,
//! and torn or corrupted segment tails repaired at start.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_topics_and_data() {
    let mut b = TestBroker::start(&["num.partitions=2"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "keep", 3).await, 0);
    for p in 0..3 {
        for i in 0..4 {
            assert_eq!(
                produce(&mut c, "keep", p, 1, batch(&format!("p{p}"), i * 5, 5))
                    .await
                    .0,
                0
            );
        }
    }
    drop(c);
    b.stop();
    b.restart();
    assert!(
        !b.log().contains("no clean-shutdown marker"),
        "clean shutdown skips recovery"
    );
    let mut c = b.connect().await;
    assert_eq!(
        create_topic(&mut c, "keep", 3).await,
        36,
        "TOPIC_ALREADY_EXISTS after restart"
    );
    for p in 0..3 {
        let all = read_all(&mut c, "keep", p).await;
        assert_eq!(all.len(), 20);
        for (i, (offset, value)) in all.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(value, &format!("p{p}-{i}"));
        }
        assert_eq!(
            produce(&mut c, "keep", p, 1, batch("after", 0, 1)).await,
            (0, 20)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_acks_all_produce_with_fsync_loses_nothing_acknowledged() {
    let mut b = TestBroker::start(&["log.flush.interval.messages=1", "log.segment.bytes=65536"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "crash", 3).await, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..3 {
        let addr = b.addr;
        let stop = stop.clone();
        producers.push(tokio::spawn(async move {
            let mut conn = kavka_client::Connection::connect(addr, "crash")
                .await
                .unwrap();
            let mut acked: Vec<(i64, usize)> = Vec::new(); // (base offset, first index)
            let mut next = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let req = produce_request("crash", p, -1, batch(&format!("p{p}"), next, 4));
                match conn.send(9, req).await {
                    Ok(kavka_protocol::response::Response::Produce(r)) => {
                        let part = &r.responses[0].partition_responses[0];
                        assert_eq!(part.error_code, 0);
                        acked.push((part.base_offset, next));
                        next += 4;
                    }
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(_) => break, // the broker died mid-request: not acknowledged
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for p in producers {
        acked.push(p.await.unwrap());
    }
    assert!(
        acked.iter().all(|a| a.len() > 10),
        "the producers made progress before the crash"
    );

    b.restart();
    let mut c = b.connect().await;
    for (p, acked) in acked.iter().enumerate() {
        let all = read_all(&mut c, "crash", p as i32).await;
        // Offsets are contiguous from 0 and values are in produce order.
        for (i, (offset, value)) in all.iter().enumerate() {
            assert_eq!(*offset, i as i64, "partition {p}");
            assert_eq!(value, &format!("p{p}-{i}"), "partition {p}");
        }
        let (last_base, last_index) = *acked.last().unwrap();
        assert!(
            all.len() as i64 >= last_base + 4,
            "partition {p}: {} records after restart, but offsets up to {} were acknowledged",
            all.len(),
            last_base + 3
        );
        assert_eq!(last_base, last_index as i64);
        // The log accepts appends at its end.
        let (err, base) = produce(&mut c, "crash", p as i32, 1, batch("post", 0, 1)).await;
        assert_eq!((err, base), (0, all.len() as i64));
    }
}

fn partition_dir(b: &TestBroker, topic: &str, p: i32) -> std::path::PathBuf {
    b.log_dir().join(format!("{topic}-{p}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_and_corrupt_tails_are_truncated_at_start() {
    let mut b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "torn", 1).await, 0);
    for i in 0..5 {
        produce(&mut c, "torn", 0, 1, batch("t", i * 3, 3)).await;
    }
    drop(c);
    b.kill();
    let segment = segment_files(&partition_dir(&b, "torn", 0)).pop().unwrap();

    // A torn last batch (the write was cut short).
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    b.restart();
    let mut c = b.connect().await;
    let all = read_all(&mut c, "torn", 0).await;
    assert_eq!(
        all.len(),
        12,
        "the torn batch is gone, the four before it remain"
    );
    assert_eq!(
        produce(&mut c, "torn", 0, 1, batch("t", 12, 3)).await,
        (0, 12)
    );
    drop(c);
    b.kill();

    // Garbage after the last batch.
    let segment = segment_files(&partition_dir(&b, "torn", 0)).pop().unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[
            0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
        ])
        .unwrap();
    b.restart();
    let mut c = b.connect().await;
    assert_eq!(read_all(&mut c, "torn", 0).await.len(), 15);
    drop(c);
    b.kill();

    // A flipped byte inside the last batch: its CRC fails, it is dropped.
    let segment = segment_files(&partition_dir(&b, "torn", 0)).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    // And a lost index.
    let index = segment.with_extension("index");
    let _ = std::fs::remove_file(&index);
    b.restart();
    let mut c = b.connect().await;
    let all = read_all(&mut c, "torn", 0).await;
    assert_eq!(all.len(), 12);
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, format!("t-{i}").as_str())
        );
    }
    assert_eq!(
        produce(&mut c, "torn", 0, 1, batch("t", 12, 3)).await,
        (0, 12)
    );
    assert!(
        b.log().contains("truncat"),
        "recovery says what it truncated"
    );
}

/// The metadata log snapshots its image and drops what the snapshot covers; after a kill -9
/// the node rebuilds every topic from the snapshot plus the batches after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_snapshots_and_a_kill_keep_every_committed_topic() {
    // One byte between snapshots: every metadata batch is followed by a snapshot.
    let mut b = TestBroker::start(&["metadata.log.max.record.bytes.between.snapshots=1"]);
    let mut c = b.connect().await;
    for i in 0..8 {
        assert_eq!(create_topic(&mut c, &format!("snap-{i}"), 2).await, 0);
    }
    assert_eq!(produce(&mut c, "snap-3", 1, 1, batch("v", 0, 3)).await.0, 0);
    drop(c);
    let meta_dir = b.log_dir().join("__cluster_metadata-0");
    let checkpoints = || -> Vec<String> {
        std::fs::read_dir(&meta_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".checkpoint"))
            .collect()
    };
    assert_eq!(
        checkpoints().len(),
        1,
        "one snapshot kept: {:?}",
        checkpoints()
    );
    assert_eq!(
        std::fs::metadata(meta_dir.join("journal.log"))
            .unwrap()
            .len(),
        0,
        "the snapshot covers every batch"
    );
    b.kill();
    b.restart();
    let mut c = b.connect().await;
    for i in 0..8 {
        assert_eq!(
            create_topic(&mut c, &format!("snap-{i}"), 2).await,
            36,
            "snap-{i} exists after the restart"
        );
    }
    assert_eq!(read_all(&mut c, "snap-3", 1).await.len(), 3);
    assert_eq!(create_topic(&mut c, "snap-after", 1).await, 0);
}
