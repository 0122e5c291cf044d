//! The data directories: formatting (`meta.properties`), the clean-shutdown marker, and where
//! each partition's log lives. Storage itself knows nothing of topics or directories of many
//! partitions; this is the bridge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kavka_metadata::MetaProperties;
use kavka_storage::{LogConfig, PartitionLog, RecoveryReport, StorageError};

use crate::error::BrokerError;

/// Name of the marker written after a clean shutdown (as Kafka's `.kafka_cleanshutdown`).
pub const CLEAN_SHUTDOWN_MARKER: &str = ".kavka_cleanshutdown";
/// Suffix of a partition directory set aside because no topic owns it.
pub const STRAY_DIR_SUFFIX: &str = "-stray";
/// Directory of the metadata log inside the first log dir.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// The formatted data directories of this node.
#[derive(Debug)]
pub struct LogManager {
    /// `log.dirs`, in configuration order.
    log_dirs: Vec<PathBuf>,
    /// Cluster id read from (or written to) `meta.properties`.
    cluster_id: String,
    /// Whether every directory carried the clean-shutdown marker at start.
    clean_shutdown: bool,
    /// The directory id (KIP-858) of the first directory, the metadata log's.
    metadata_directory_id: Option<uuid::Uuid>,
    /// The high watermarks checkpointed before this start, given out as partitions open.
    high_watermarks: std::sync::Mutex<kavka_storage::offset_checkpoint::Offsets>,
}

/// Directory name of a partition, as Kafka names it.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Each log directory's checkpoint of its partitions' high watermarks (Kafka's name).
const HIGH_WATERMARK_FILE: &str =
    kavka_storage::offset_checkpoint::REPLICATION_OFFSET_CHECKPOINT_FILE;

impl LogManager {
    /// Creates and formats the directories as needed, checks that they belong to this node and
    /// one cluster, and reads (then removes) the clean-shutdown markers.
    pub fn open(
        log_dirs: &[PathBuf],
        node_id: i32,
        format_missing: bool,
    ) -> Result<LogManager, BrokerError> {
        let mut cluster_id: Option<String> = None;
        let mut clean_shutdown = true;
        let mut metadata_directory_id = None;
        for dir in log_dirs {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::io(dir, e))?;
            let marker_present = dir.join(CLEAN_SHUTDOWN_MARKER).exists();
            let (props, fresh) = match MetaProperties::load(dir)? {
                Some(p) => (p, false),
                None if !format_missing => {
                    return Err(BrokerError::Startup(format!(
                        "data directory {} is not formatted: a node of a quorum must be formatted with the cluster's id first (kavka storage format --cluster-id ID --config FILE)",
                        dir.display()
                    )))
                }
                None => {
                    let mut p = MetaProperties::generate(node_id);
                    if let Some(c) = &cluster_id {
                        p.cluster_id = c.clone();
                    }
                    p.write(dir)?;
                    tracing::info!(
                        dir = %dir.display(),
                        cluster.id = %p.cluster_id,
                        node.id = node_id,
                        "formatted new data directory"
                    );
                    (p, true)
                }
            };
            if props.node_id != node_id {
                return Err(BrokerError::Startup(format!(
                    "data directory {} belongs to node.id {} but this node is node.id {}",
                    dir.display(),
                    props.node_id,
                    node_id
                )));
            }
            match &cluster_id {
                None => {
                    cluster_id = Some(props.cluster_id.clone());
                    metadata_directory_id = props.directory_id;
                }
                Some(c) if *c != props.cluster_id => {
                    return Err(BrokerError::Startup(format!(
                        "data directory {} belongs to cluster {} but {} belongs to cluster {}",
                        dir.display(),
                        props.cluster_id,
                        log_dirs[0].display(),
                        c
                    )))
                }
                Some(_) => {}
            }
            // A directory formatted just now holds nothing to recover.
            clean_shutdown &= fresh || marker_present;
        }
        let mut high_watermarks = kavka_storage::offset_checkpoint::Offsets::new();
        for dir in log_dirs {
            match kavka_storage::offset_checkpoint::read(dir, HIGH_WATERMARK_FILE) {
                Ok(offsets) => high_watermarks.extend(offsets),
                // Only how soon consumers see committed records depends on it: start without.
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "high watermark checkpoint ignored")
                }
            }
        }
        Ok(LogManager {
            log_dirs: log_dirs.to_vec(),
            cluster_id: cluster_id.expect("at least one log dir"),
            clean_shutdown,
            metadata_directory_id,
            high_watermarks: std::sync::Mutex::new(high_watermarks),
        })
    }

    /// The high watermark `topic`'s partition `partition` had at the last checkpoint before
    /// this start (each is given once: a partition opened again later starts without).
    pub fn checkpointed_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.high_watermarks
            .lock()
            .expect("high watermarks lock poisoned")
            .remove(&(topic.to_string(), partition))
    }

    /// Writes each log directory's high watermark checkpoint: `entries` are (partition
    /// directory, topic, partition, high watermark); a directory with none gets an empty file.
    pub fn write_high_watermarks(
        &self,
        entries: &[(PathBuf, String, i32, i64)],
    ) -> Result<(), BrokerError> {
        for dir in &self.log_dirs {
            let offsets: Vec<(&str, i32, i64)> = entries
                .iter()
                .filter(|(path, ..)| path.parent() == Some(dir.as_path()))
                .map(|(_, topic, p, hw)| (topic.as_str(), *p, *hw))
                .collect();
            kavka_storage::offset_checkpoint::write(dir, HIGH_WATERMARK_FILE, &offsets)?;
        }
        Ok(())
    }

    /// The directory id of the metadata log's directory, if its `meta.properties` has one.
    pub fn metadata_directory_id(&self) -> Option<uuid::Uuid> {
        self.metadata_directory_id
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Whether the previous run shut down cleanly.
    pub fn clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// The directory of the metadata log.
    pub fn metadata_dir(&self) -> PathBuf {
        self.log_dirs[0].join(METADATA_DIR)
    }

    /// The configured directories.
    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    /// Removes the clean-shutdown markers once the logs are open: a crash from here on is an
    /// unclean shutdown.
    pub fn clear_clean_shutdown_markers(&self) -> Result<(), BrokerError> {
        for dir in &self.log_dirs {
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            match std::fs::remove_file(&marker) {
                Ok(()) => sync_dir(dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BrokerError::io(&marker, e)),
            }
        }
        Ok(())
    }

    /// Writes the clean-shutdown markers after every log was closed.
    pub fn write_clean_shutdown_markers(&self) -> Result<(), BrokerError> {
        for dir in &self.log_dirs {
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            std::fs::write(&marker, b"").map_err(|e| BrokerError::io(&marker, e))?;
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Existing partition directories, by directory name.
    pub fn existing_partition_dirs(&self) -> Result<HashMap<String, PathBuf>, BrokerError> {
        let mut found = HashMap::new();
        for dir in &self.log_dirs {
            let entries = std::fs::read_dir(dir).map_err(|e| BrokerError::io(dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| BrokerError::io(dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(kavka_storage::DELETED_DIR_SUFFIX) && entry.path().is_dir() {
                    // A deleted topic's partition whose removal a crash cut short.
                    let path = entry.path();
                    tracing::info!(dir = %path.display(), "removing the rest of a deleted partition");
                    std::fs::remove_dir_all(&path).map_err(|e| BrokerError::io(&path, e))?;
                    continue;
                }
                if name == METADATA_DIR || !entry.path().is_dir() || !is_partition_dir_name(&name) {
                    continue;
                }
                found.insert(name, entry.path());
            }
        }
        Ok(found)
    }

    /// Opens the log of a partition where it exists, or creates it in the directory holding the
    /// fewest partitions.
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        existing: Option<&Path>,
    ) -> Result<(PartitionLog, RecoveryReport), BrokerError> {
        let path = match existing {
            Some(p) => p.to_path_buf(),
            None => self
                .least_loaded_dir()?
                .join(partition_dir_name(topic, partition)),
        };
        PartitionLog::open(&path, config, self.clean_shutdown).map_err(BrokerError::Storage)
    }

    fn least_loaded_dir(&self) -> Result<&Path, BrokerError> {
        if self.log_dirs.len() == 1 {
            return Ok(&self.log_dirs[0]);
        }
        let mut best = (usize::MAX, &self.log_dirs[0]);
        for dir in &self.log_dirs {
            let n = std::fs::read_dir(dir)
                .map_err(|e| BrokerError::io(dir, e))?
                .filter_map(Result::ok)
                .filter(|e| is_partition_dir_name(&e.file_name().to_string_lossy()))
                .count();
            if n < best.0 {
                best = (n, dir);
            }
        }
        Ok(best.1)
    }

    /// Sets aside a partition directory that no topic owns (a topic deleted before a crash
    /// finished removing its files, or data the metadata log does not know): renamed to
    /// `<name>.<millis>-stray`, as Kafka does, never deleted, so that nothing is lost by mistake
    /// and the name is free for a new topic.
    pub fn set_aside_stray(&self, path: &Path) -> Result<(), BrokerError> {
        let target = kavka_storage::rename_aside(path, STRAY_DIR_SUFFIX)?;
        tracing::warn!(dir = %path.display(), renamed = %target.display(), "partition directory no topic owns set aside");
        Ok(())
    }
}

/// `<topic>-<partition>` with a legal topic name and a numeric partition.
fn is_partition_dir_name(name: &str) -> bool {
    match name.rsplit_once('-') {
        Some((topic, p)) => {
            !topic.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn sync_dir(dir: &Path) -> Result<(), BrokerError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| BrokerError::io(dir, e))
}

impl From<StorageError> for BrokerError {
    fn from(e: StorageError) -> Self {
        BrokerError::Storage(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names() {
        assert!(is_partition_dir_name("orders-0"));
        assert!(is_partition_dir_name("my-topic-12"));
        assert!(!is_partition_dir_name("orders"));
        assert!(!is_partition_dir_name("orders-x"));
        assert!(!is_partition_dir_name("-3"));
    }

    #[test]
    fn leftovers_of_deleted_partitions_are_removed_and_strays_kept_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().to_path_buf()];
        let lm = LogManager::open(&dirs, 1, true).unwrap();
        std::fs::create_dir_all(tmp.path().join("gone-0.17-delete")).unwrap();
        std::fs::write(
            tmp.path().join("gone-0.17-delete/00000000000000000000.log"),
            b"x",
        )
        .unwrap();
        std::fs::create_dir_all(tmp.path().join("live-3")).unwrap();
        let found = lm.existing_partition_dirs().unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["live-3"]);
        assert!(!tmp.path().join("gone-0.17-delete").exists());
        lm.set_aside_stray(&tmp.path().join("live-3")).unwrap();
        assert!(lm.existing_partition_dirs().unwrap().is_empty());
        assert!(std::fs::read_dir(tmp.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with("-stray")));
    }

    #[test]
    fn format_then_reopen_keeps_cluster_id_and_reads_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let lm = LogManager::open(&dirs, 1, true).unwrap();
        assert!(lm.clean_shutdown(), "fresh directories need no recovery");
        lm.clear_clean_shutdown_markers().unwrap();
        assert!(!LogManager::open(&dirs, 1, true).unwrap().clean_shutdown());
        let id = lm.cluster_id().to_string();
        lm.write_clean_shutdown_markers().unwrap();
        let lm = LogManager::open(&dirs, 1, true).unwrap();
        assert!(lm.clean_shutdown());
        assert_eq!(lm.cluster_id(), id);
        lm.clear_clean_shutdown_markers().unwrap();
        assert!(!LogManager::open(&dirs, 1, true).unwrap().clean_shutdown());
        assert!(LogManager::open(&dirs, 2, true).is_err());
    }
}
