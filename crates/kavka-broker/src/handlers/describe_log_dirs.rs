//! DescribeLogDirs (key 35): each data directory with the partitions it holds and their sizes,
//! and (v4) the file system's total and usable bytes.

use std::collections::BTreeMap;
use std::path::Path;

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kavka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::{topic_name, RequestContext};

/// (total, usable) bytes of the file system holding `dir`, -1 when unknown.
fn space(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let block = s.f_frsize.max(1) as i64;
            (s.f_blocks as i64 * block, s.f_bavail as i64 * block)
        }
        Err(_) => (-1, -1),
    }
}

/// Handles DescribeLogDirs.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted = |topic: &str, partition: i32| match &request.topics {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&partition)),
    };
    // dir -> topic -> [(partition, size)]
    let mut by_dir: BTreeMap<std::path::PathBuf, BTreeMap<String, Vec<(i32, u64)>>> =
        BTreeMap::new();
    for dir in ctx.broker.log_dirs() {
        by_dir.entry(dir.clone()).or_default();
    }
    for p in ctx.broker.partitions() {
        if !wanted(&p.topic, p.index) {
            continue;
        }
        if let Some((size, path)) = p.size_and_dir() {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            by_dir
                .entry(dir)
                .or_default()
                .entry(p.topic.to_string())
                .or_default()
                .push((p.index, size));
        }
    }
    let results = by_dir
        .into_iter()
        .map(|(dir, topics)| {
            let (total, usable) = if ctx.version() >= 4 {
                space(&dir)
            } else {
                (-1, -1)
            };
            let topics = topics
                .into_iter()
                .map(|(name, mut parts)| {
                    parts.sort_unstable();
                    DescribeLogDirsTopic::default()
                        .with_name(topic_name(&name))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(index, size)| {
                                    DescribeLogDirsPartition::default()
                                        .with_partition_index(index)
                                        .with_partition_size(size as i64)
                                })
                                .collect(),
                        )
                })
                .collect();
            DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_string(dir.display().to_string()))
                .with_topics(topics)
                .with_total_bytes(total)
                .with_usable_bytes(usable)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}
