//! The log cleaner: `log.cleaner.threads` workers compact partitions of `compact` topics. A
//! worker takes a clean task under the partition lock (cheap), runs it with no lock held (the
//! heavy part: reading, deduplicating, writing cleaned segments), then swaps the cleaned
//! segments in under the lock. Produce and fetch never wait for it. A worker that finds nothing
//! to do sleeps `log.cleaner.backoff.ms`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kavka_storage::CleanerConfig;

use crate::broker::{now_ms, Broker};
use crate::replica_manager::TopicPartition;

/// Partitions being cleaned right now (so that two workers never take the same one).
#[derive(Debug, Default)]
pub struct InProgress(Mutex<HashSet<TopicPartition>>);

/// Cleans one partition that needs it; false when none did.
pub fn clean_one(broker: &Broker, config: &CleanerConfig, in_progress: &InProgress) -> bool {
    for p in broker.partitions() {
        let key: TopicPartition = (p.topic.clone(), p.index);
        if !in_progress
            .0
            .lock()
            .expect("cleaner lock")
            .insert(key.clone())
        {
            continue;
        }
        let result = (|| {
            let task = p.clean_task(now_ms())?;
            let cleaned = match task.run(config, now_ms()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "cleaning failed");
                    return Some(false);
                }
            };
            match p.install_cleaned(cleaned) {
                Ok(stats) if stats.discarded => {
                    tracing::info!(topic = %p.topic, partition = p.index, "cleaned segments discarded: the log changed meanwhile");
                }
                Ok(stats) => {
                    let mb_per_s = if stats.elapsed_ms > 0 {
                        stats.bytes_read as f64 / 1e6 / (stats.elapsed_ms as f64 / 1e3)
                    } else {
                        0.0
                    };
                    tracing::info!(
                        topic = %p.topic,
                        partition = p.index,
                        bytes_read = stats.bytes_read,
                        bytes_written = stats.bytes_written,
                        records_read = stats.records_read,
                        records_kept = stats.records_kept,
                        tombstones_dropped = stats.tombstones_dropped,
                        elapsed_ms = stats.elapsed_ms,
                        mb_per_s = format!("{mb_per_s:.1}"),
                        "log cleaned"
                    );
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "installing cleaned segments failed");
                }
            }
            Some(true)
        })();
        in_progress.0.lock().expect("cleaner lock").remove(&key);
        if result == Some(true) {
            return true;
        }
    }
    false
}

/// Starts the cleaner workers; they run until aborted.
pub fn spawn(broker: Arc<Broker>) -> Vec<tokio::task::JoinHandle<()>> {
    if !broker.config().log_cleaner_enable || broker.config().log_cleaner_threads == 0 {
        tracing::info!("log cleaner disabled");
        return Vec::new();
    }
    let threads = broker.config().log_cleaner_threads;
    let config = Arc::new(CleanerConfig {
        dedupe_buffer_bytes: broker.config().log_cleaner_dedupe_buffer_size / threads,
        io_buffer_bytes: broker.config().log_cleaner_io_buffer_size,
    });
    let in_progress = Arc::new(InProgress::default());
    let backoff = Duration::from_millis(broker.config().log_cleaner_backoff_ms);
    (0..threads)
        .map(|_| {
            let (broker, config, in_progress) =
                (broker.clone(), config.clone(), in_progress.clone());
            tokio::spawn(async move {
                loop {
                    let (b, c, i) = (broker.clone(), config.clone(), in_progress.clone());
                    let worked = tokio::task::spawn_blocking(move || clean_one(&b, &c, &i))
                        .await
                        .unwrap_or(false);
                    if !worked {
                        tokio::time::sleep(backoff).await;
                    }
                }
            })
        })
        .collect()
}
