//! Kafka's `meta.properties`: the identity of a log directory (which cluster, which node, which
//! directory), written once when the directory is formatted and checked at every start.
//!
//! Java properties format, version 1 (KRaft):
//!
//! ```text
//! version=1
//! cluster.id=<22-char base64url UUID>
//! node.id=<n>
//! directory.id=<22-char base64url UUID>
//! ```
//!
//! Comparing the loaded `node.id` and `cluster.id` with the configuration is the broker's job;
//! this module reads and writes the file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::MetadataError;
use crate::fsutil::sync_dir;
use crate::kafka_uuid::{kafka_uuid_from_str, kafka_uuid_to_string, random_kafka_uuid};

/// Name of the file inside a log directory.
pub const META_PROPERTIES_FILE_NAME: &str = "meta.properties";

/// The only version written and read: KRaft's.
pub const META_PROPERTIES_VERSION: u32 = 1;

/// The content of `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// Format version; always [`META_PROPERTIES_VERSION`].
    pub version: u32,
    /// The cluster this directory belongs to. Kafka writes a base64url UUID but accepts any
    /// non-empty string, and so does this.
    pub cluster_id: String,
    /// The node that owns this directory.
    pub node_id: i32,
    /// This directory's own id (KIP-858); optional in files written by older Kafka.
    pub directory_id: Option<Uuid>,
}

impl MetaProperties {
    /// New properties for `node_id` with a random cluster id and directory id.
    pub fn generate(node_id: i32) -> MetaProperties {
        MetaProperties {
            version: META_PROPERTIES_VERSION,
            cluster_id: kafka_uuid_to_string(&random_kafka_uuid()),
            node_id,
            directory_id: Some(random_kafka_uuid()),
        }
    }

    /// Reads `dir/meta.properties`; `Ok(None)` when the file does not exist (an unformatted
    /// directory).
    pub fn load(dir: &Path) -> Result<Option<MetaProperties>, MetadataError> {
        let path = dir.join(META_PROPERTIES_FILE_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MetadataError::io(&path)(e)),
        };
        MetaProperties::parse(&text)
            .map(Some)
            .map_err(|reason| MetadataError::Corrupt { path, reason })
    }

    /// Formats `dir` (created if missing) for `node_id` with new random ids, and returns what
    /// was written. Refuses ([`MetadataError::AlreadyFormatted`]) to overwrite an existing file.
    pub fn format(dir: &Path, node_id: i32) -> Result<MetaProperties, MetadataError> {
        let path = dir.join(META_PROPERTIES_FILE_NAME);
        if path.try_exists().map_err(MetadataError::io(&path))? {
            return Err(MetadataError::AlreadyFormatted { path });
        }
        let properties = MetaProperties::generate(node_id);
        properties.write(dir)?;
        Ok(properties)
    }

    /// Writes `dir/meta.properties` atomically (temp file, fsync, rename, fsync of the
    /// directory), replacing any existing file. Creates `dir` if missing.
    pub fn write(&self, dir: &Path) -> Result<(), MetadataError> {
        fs::create_dir_all(dir).map_err(MetadataError::io(dir))?;
        let tmp: PathBuf = dir.join(format!("{META_PROPERTIES_FILE_NAME}.tmp"));
        let mut file = File::create(&tmp).map_err(MetadataError::io(&tmp))?;
        file.write_all(self.to_properties().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(MetadataError::io(&tmp))?;
        drop(file);
        let path = dir.join(META_PROPERTIES_FILE_NAME);
        fs::rename(&tmp, &path).map_err(MetadataError::io(&path))?;
        sync_dir(dir)
    }

    /// The file's text.
    pub fn to_properties(&self) -> String {
        let mut text = format!(
            "#\n# Written by Kavka. Identifies this log directory; do not edit.\n\
             version={}\ncluster.id={}\nnode.id={}\n",
            self.version, self.cluster_id, self.node_id
        );
        if let Some(id) = &self.directory_id {
            text.push_str(&format!("directory.id={}\n", kafka_uuid_to_string(id)));
        }
        text
    }

    /// Parses the file's text. Tolerates what Java's `Properties` writes or accepts: `#` and
    /// `!` comments, blank lines, spaces around the separator, `:` as separator, unknown keys.
    pub fn parse(text: &str) -> Result<MetaProperties, String> {
        let mut version = None;
        let mut cluster_id = None;
        let mut node_id = None;
        let mut directory_id = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (key, value) = line
                .split_once(['=', ':'])
                .ok_or_else(|| format!("line without '=': {line:?}"))?;
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value),
                "cluster.id" => cluster_id = Some(value),
                "node.id" => node_id = Some(value),
                "directory.id" => directory_id = Some(value),
                _ => {}
            }
        }
        let version = version.ok_or("missing version")?;
        if version != META_PROPERTIES_VERSION.to_string() {
            return Err(format!(
                "unsupported version {version:?} (only {META_PROPERTIES_VERSION}, KRaft)"
            ));
        }
        let cluster_id = cluster_id.filter(|id| !id.is_empty());
        let cluster_id = cluster_id.ok_or("missing cluster.id")?.to_owned();
        let node_id = node_id.ok_or("missing node.id")?;
        let node_id = node_id
            .parse::<i32>()
            .ok()
            .filter(|&id| id >= 0)
            .ok_or_else(|| format!("invalid node.id {node_id:?}"))?;
        let directory_id = match directory_id {
            None => None,
            Some(s) => {
                Some(kafka_uuid_from_str(s).ok_or_else(|| format!("invalid directory.id {s:?}"))?)
            }
        };
        Ok(MetaProperties {
            version: META_PROPERTIES_VERSION,
            cluster_id,
            node_id,
            directory_id,
        })
    }
}

#[cfg(test)]
#[path = "meta_properties_tests.rs"]
mod tests;
