//! OffsetFetch (key 9), v1-10: a group's committed offsets. v1-7 ask for one group (v2+: null
//! topics means every committed partition, and a top-level error code); v8+ ask for several
//! groups, each answered with its own error code; v10 names topics by id. A partition without a
//! commit answers offset -1, leader epoch -1 (v5+) and empty metadata, as Kafka. A group-level
//! error (coordinator loading or unavailable, invalid group id) is the top-level error code in
//! v2-7, each requested partition's error in v1 (which has no top-level code), and the group's
//! error code in v8+. With `require_stable` (v7+), a partition whose offset an open
//! transaction is committing answers UNSTABLE_OFFSET_COMMIT (the client retries). Offsets
//! answered are committed: the answer waits until the ISR holds the group's last records.

use std::collections::BTreeMap;

use kavka_coordinator::group::api::CommittedOffset;
use kavka_metadata::MetadataImage;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kavka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kavka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::{topic_name, RequestContext};

/// First version with a top-level error code.
const TOP_LEVEL_ERROR_VERSION: i16 = 2;
/// First version asking for several groups.
const GROUPS_VERSION: i16 = 8;
/// First version naming topics by id.
const TOPIC_IDS_VERSION: i16 = 10;

/// The answer for one partition: offset, leader epoch, metadata, error.
struct PartitionAnswer {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: ErrorCode,
    /// An open transaction is committing a newer offset.
    pending: bool,
}

impl PartitionAnswer {
    /// Nothing committed (or nothing known), with `error`.
    fn none(partition: i32, error: ErrorCode) -> PartitionAnswer {
        PartitionAnswer {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error,
            pending: false,
        }
    }

    fn committed(c: CommittedOffset) -> PartitionAnswer {
        PartitionAnswer {
            partition: c.partition,
            offset: c.offset,
            leader_epoch: c.leader_epoch,
            metadata: c.metadata,
            error: ErrorCode::NONE,
            pending: c.pending,
        }
    }
}

/// A topic of the answer: its name and, in v10, its id.
struct TopicAnswer {
    name: String,
    topic_id: Uuid,
    partitions: Vec<PartitionAnswer>,
}

/// A topic of the request once resolved: its name (None for an unknown id), its id (v10) and
/// the partitions asked for.
struct TopicAsked {
    name: Option<String>,
    topic_id: Uuid,
    partitions: Vec<i32>,
}

/// Fetches the offsets of one group: the topics answered, or the group's error. `asked` None
/// means every committed partition; `by_id` maps the names of that case back to topic ids
/// (topics that no longer exist are left out).
async fn fetch(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    group_id: &str,
    asked: Option<Vec<TopicAsked>>,
    by_id: bool,
    require_stable: bool,
) -> Result<Vec<TopicAnswer>, ErrorCode> {
    let mut topics = fetch_committed(ctx, image, group_id, asked, by_id).await?;
    if require_stable {
        for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.pending {
                *p = PartitionAnswer::none(p.partition, ErrorCode::UNSTABLE_OFFSET_COMMIT);
            }
        }
    }
    Ok(topics)
}

/// The committed offsets of `fetch`, pending ones marked.
async fn fetch_committed(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    group_id: &str,
    asked: Option<Vec<TopicAsked>>,
    by_id: bool,
) -> Result<Vec<TopicAnswer>, ErrorCode> {
    let Some(asked) = asked else {
        let offsets = ctx.broker.groups().fetch_offsets(group_id, None).await?;
        let mut by_topic: BTreeMap<String, Vec<PartitionAnswer>> = BTreeMap::new();
        for c in offsets {
            by_topic
                .entry(c.topic.clone())
                .or_default()
                .push(PartitionAnswer::committed(c));
        }
        return Ok(by_topic
            .into_iter()
            .filter_map(|(name, mut partitions)| {
                let topic_id = if by_id {
                    image.topic_by_name(&name)?.topic_id
                } else {
                    Uuid::nil()
                };
                partitions.sort_by_key(|p| p.partition);
                Some(TopicAnswer {
                    name,
                    topic_id,
                    partitions,
                })
            })
            .collect());
    };
    let wanted: Vec<(String, i32)> = asked
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?, &t.partitions)))
        .flat_map(|(name, partitions)| partitions.iter().map(move |p| (name.clone(), *p)))
        .collect();
    let mut offsets = ctx
        .broker
        .groups()
        .fetch_offsets(group_id, Some(&wanted))
        .await?
        .into_iter();
    Ok(asked
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| match t.name {
                    None => PartitionAnswer::none(p, ErrorCode::UNKNOWN_TOPIC_ID),
                    Some(_) => offsets.next().map_or_else(
                        || PartitionAnswer::none(p, ErrorCode::UNKNOWN_SERVER_ERROR),
                        PartitionAnswer::committed,
                    ),
                })
                .collect();
            TopicAnswer {
                name: t.name.unwrap_or_default(),
                topic_id: t.topic_id,
                partitions,
            }
        })
        .collect())
}

/// Handles OffsetFetch.
pub async fn handle(ctx: &RequestContext<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = ctx.version();
    let image = ctx.broker.image();
    if version >= GROUPS_VERSION {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            groups.push(fetch_group(ctx, &image, version, g, request.require_stable).await);
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked: Option<Vec<TopicAsked>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| TopicAsked {
                name: Some(t.name.0.as_str().to_string()),
                topic_id: Uuid::nil(),
                partitions: t.partition_indexes.clone(),
            })
            .collect()
    });
    let group_id = request.group_id.0.as_str();
    match fetch(ctx, &image, group_id, asked, false, request.require_stable).await {
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&t.name))
                        .with_partitions(t.partitions.into_iter().map(v1_partition).collect())
                })
                .collect(),
        ),
        Err(code) if version >= TOP_LEVEL_ERROR_VERSION => {
            OffsetFetchResponse::default().with_error_code(code.code())
        }
        // v1 has no top-level error code: each requested partition carries it.
        Err(code) => OffsetFetchResponse::default().with_topics(
            request
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&p| v1_partition(PartitionAnswer::none(p, code)))
                        .collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect(),
        ),
    }
}

/// One group of a v8+ request.
async fn fetch_group(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    version: i16,
    group: &OffsetFetchRequestGroup,
    require_stable: bool,
) -> OffsetFetchResponseGroup {
    let by_id = version >= TOPIC_IDS_VERSION;
    let asked: Option<Vec<TopicAsked>> = group.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| TopicAsked {
                name: if by_id {
                    image.topic_by_id(&t.topic_id).map(|ti| ti.name.clone())
                } else {
                    Some(t.name.0.as_str().to_string())
                },
                topic_id: t.topic_id,
                partitions: t.partition_indexes.clone(),
            })
            .collect()
    });
    let answer = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
    match fetch(
        ctx,
        image,
        group.group_id.0.as_str(),
        asked,
        by_id,
        require_stable,
    )
    .await
    {
        Ok(topics) => answer.with_topics(
            topics
                .into_iter()
                .map(|t| {
                    let partitions = t.partitions.into_iter().map(v8_partition).collect();
                    let topic = OffsetFetchResponseTopics::default().with_partitions(partitions);
                    if by_id {
                        topic.with_topic_id(t.topic_id)
                    } else {
                        topic.with_name(topic_name(&t.name))
                    }
                })
                .collect(),
        ),
        Err(code) => answer.with_error_code(code.code()),
    }
}

fn v1_partition(p: PartitionAnswer) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(p.partition)
        .with_committed_offset(p.offset)
        .with_committed_leader_epoch(p.leader_epoch)
        .with_metadata(Some(StrBytes::from_string(p.metadata)))
        .with_error_code(p.error.code())
}

fn v8_partition(p: PartitionAnswer) -> OffsetFetchResponsePartitions {
    OffsetFetchResponsePartitions::default()
        .with_partition_index(p.partition)
        .with_committed_offset(p.offset)
        .with_committed_leader_epoch(p.leader_epoch)
        .with_metadata(Some(StrBytes::from_string(p.metadata)))
        .with_error_code(p.error.code())
}
