//! Every partition this node hosts, by topic and index.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kavka_storage::{PartitionLog, StorageError};
use uuid::Uuid;

use super::{Partition, ProducePolicy, ReplicaState};
use crate::purgatory::FetchWatchers;

/// Key of a partition by topic name.
pub type TopicPartition = (Arc<str>, i32);

/// The hosted partitions of one topic, by index.
type TopicPartitions = HashMap<i32, Arc<Partition>>;

/// Every hosted partition.
#[derive(Debug, Default)]
pub struct ReplicaManager {
    /// Partitions by topic name, then index (looked up by `&str` without allocating).
    partitions: RwLock<HashMap<Arc<str>, TopicPartitions>>,
}

impl ReplicaManager {
    /// The partition of the topic with this id, if hosted (a topic deleted and created again
    /// under the same name is another topic).
    pub fn get(&self, topic: &str, topic_id: &Uuid, index: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .get(topic)
            .and_then(|t| t.get(&index))
            .filter(|p| p.topic_id == *topic_id)
            .cloned()
    }

    /// Whether a partition of this name and index is hosted.
    pub fn contains(&self, topic: &str, index: i32) -> bool {
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .get(topic)
            .is_some_and(|t| t.contains_key(&index))
    }

    /// Starts hosting partition `index` of `topic` (`topic_id`), whose log is open, at
    /// `leader_epoch`.
    pub fn add(
        &self,
        (topic, topic_id, index): (&str, Uuid, i32),
        leader_epoch: i32,
        policy: ProducePolicy,
        log: PartitionLog,
        replication: ReplicaState,
    ) {
        let topic: Arc<str> = Arc::from(topic);
        let solo = replication.is_solo();
        let partition = Arc::new(Partition {
            topic: topic.clone(),
            topic_id,
            index,
            leader_epoch: AtomicI32::new(leader_epoch),
            policy: RwLock::new(policy),
            offline: AtomicBool::new(false),
            log: Mutex::new(Some(log)),
            fetches: FetchWatchers::default(),
            replication: Mutex::new(replication),
            solo: AtomicBool::new(solo),
            metrics: std::sync::OnceLock::new(),
        });
        self.partitions
            .write()
            .expect("partitions lock poisoned")
            .entry(topic)
            .or_default()
            .insert(index, partition);
    }

    /// Stops hosting one partition and deletes its log (it moved to other brokers).
    pub fn remove(&self, topic: &str, index: i32) -> Option<StorageError> {
        let removed = {
            let mut partitions = self.partitions.write().expect("partitions lock poisoned");
            let t = partitions.get_mut(topic)?;
            let removed = t.remove(&index);
            if t.is_empty() {
                partitions.remove(topic);
            }
            removed?
        };
        let error = removed.take_log().and_then(|log| log.delete().err());
        removed.fetches.wake();
        error
    }

    /// Stops hosting every partition of a topic and deletes their logs.
    pub fn remove_topic(&self, topic: &str) -> Vec<StorageError> {
        let removed: Vec<Arc<Partition>> = self
            .partitions
            .write()
            .expect("partitions lock poisoned")
            .remove(topic)
            .map(|t| t.into_values().collect())
            .unwrap_or_default();
        let mut errors = Vec::new();
        for p in removed {
            // Readers holding the Arc finish on the open file handles; the files are unlinked.
            if let Some(log) = p.take_log() {
                if let Err(e) = log.delete() {
                    errors.push(e);
                }
            }
            p.fetches.wake();
        }
        errors
    }

    /// All hosted partitions.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .values()
            .flat_map(|t| t.values().cloned())
            .collect()
    }

    /// Closes every log (flush, checkpoints) for a clean shutdown. Offline partitions are not
    /// closed (their state is unknown), so the next start recovers them.
    pub fn close_all(&self) -> Vec<String> {
        let drained: Vec<Arc<Partition>> = self
            .partitions
            .write()
            .expect("partitions lock poisoned")
            .drain()
            .flat_map(|(_, t)| t.into_values())
            .collect();
        let mut errors = Vec::new();
        for p in drained {
            if p.offline.load(Ordering::Acquire) {
                errors.push(format!("{}-{} is offline", p.topic, p.index));
                continue;
            }
            if let Some(log) = p.take_log() {
                if let Err(e) = log.close() {
                    errors.push(format!("{}-{}: {e}", p.topic, p.index));
                }
            }
        }
        errors
    }
}
