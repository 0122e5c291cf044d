//! Kafka's offset checkpoint file of a log directory (`replication-offset-checkpoint`: each
//! partition's high watermark), in Kafka's layout — a version line (0), a count line, then
//! `topic partition offset` per line — replaced atomically and durably like the partition
//! checkpoints. A file that does not parse is refused as corrupt rather than half read.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint;
use crate::error::{IoContext, StorageError};

/// Name of the high watermark checkpoint in a log directory.
pub const REPLICATION_OFFSET_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";

/// Offsets by (topic, partition).
pub type Offsets = HashMap<(String, i32), i64>;

/// The file's text for `offsets`.
pub fn encode(offsets: &[(&str, i32, i64)]) -> String {
    let mut text = format!("0\n{}\n", offsets.len());
    for (topic, partition, offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// The offsets of a file's text, or why it is malformed.
pub fn decode(text: &str) -> Result<Offsets, &'static str> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err("unknown version");
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("bad entry count")?;
    let mut offsets = Offsets::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.split(' ');
        let (Some(topic), Some(partition), Some(offset), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("bad entry");
        };
        let partition = partition.parse().map_err(|_| "bad partition")?;
        let offset = offset.parse().map_err(|_| "bad offset")?;
        offsets.insert((topic.to_string(), partition), offset);
    }
    if offsets.len() != count || lines.next().is_some() {
        return Err("entry count does not match");
    }
    Ok(offsets)
}

/// Replaces `dir/name` with `offsets`, atomically and durably.
pub fn write(dir: &Path, name: &str, offsets: &[(&str, i32, i64)]) -> Result<(), StorageError> {
    checkpoint::write_bytes(dir, name, encode(offsets).as_bytes())
}

/// The offsets of `dir/name`; empty when the file does not exist.
pub fn read(dir: &Path, name: &str) -> Result<Offsets, StorageError> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Offsets::new()),
        Err(e) => return Err(e).at(&path),
    };
    decode(&text).map_err(|why| StorageError::Corrupt(format!("{}: {why}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_kafkas_layout_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let name = REPLICATION_OFFSET_CHECKPOINT_FILE;
        assert!(read(dir.path(), name).unwrap().is_empty());
        write(dir.path(), name, &[("orders", 0, 42), ("orders", 3, 7)]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(text, "0\n2\norders 0 42\norders 3 7\n");
        let offsets = read(dir.path(), name).unwrap();
        assert_eq!(offsets[&("orders".to_string(), 3)], 7);
        for damaged in [
            "1\n0\n",
            "0\n2\norders 0 42\n",
            "0\n1\norders x 1\n",
            "0\n1\na 0 1\nb 0 2\n",
        ] {
            std::fs::write(dir.path().join(name), damaged).unwrap();
            assert!(
                matches!(read(dir.path(), name), Err(StorageError::Corrupt(_))),
                "{damaged:?}"
            );
        }
    }
}
