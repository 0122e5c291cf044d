//! The files of `kafka-reassign-partitions.sh`: the reassignment JSON
//! (`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`)
//! read with Kafka's checks and written in Kafka's compact layout, the topics-to-move JSON
//! (`{"version":1,"topics":[{"topic":"t"}]}`), and `--generate`'s assignment (Kafka's
//! rack-unaware round-robin over the given brokers).

use std::collections::BTreeMap;

use crate::ToolError;

/// A partition: topic and index.
pub type TopicPartition = (String, i32);

/// Partitions and their replicas, ordered by topic then partition.
pub type Assignment = BTreeMap<TopicPartition, Vec<i32>>;

/// The `log_dirs` value of a replica on any directory.
const ANY_LOG_DIR: &str = "any";

fn parse(text: &str) -> Result<serde_json::Value, ToolError> {
    serde_json::from_str(text)
        .map_err(|e| ToolError::failed(format!("The input string is not a valid JSON: {e}")))
}

fn version(json: &serde_json::Value) -> Result<(), ToolError> {
    match json.get("version").map(serde_json::Value::as_i64) {
        None | Some(Some(1)) => Ok(()),
        Some(v) => Err(ToolError::failed(format!(
            "Not supported version field value {}",
            v.map_or_else(|| json["version"].to_string(), |v| v.to_string())
        ))),
    }
}

fn field<'a>(entry: &'a serde_json::Value, name: &str) -> Result<&'a serde_json::Value, ToolError> {
    entry
        .get(name)
        .ok_or_else(|| ToolError::failed(format!("No such field exists: `{name}`")))
}

/// The partitions of a reassignment file, in file order, after Kafka's checks (not empty, no
/// empty replica list, no partition twice, no broker twice in a partition). Log directories
/// other than `any` (moves between a broker's directories) are refused: Kavka has one
/// directory per partition and no AlterReplicaLogDirs.
pub fn parse_reassignment(text: &str) -> Result<Vec<(TopicPartition, Vec<i32>)>, ToolError> {
    let json = parse(text)?;
    version(&json)?;
    let mut out: Vec<(TopicPartition, Vec<i32>)> = Vec::new();
    for entry in json
        .get("partitions")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let topic = field(entry, "topic")?
            .as_str()
            .ok_or_else(|| ToolError::failed("topic must be a string"))?
            .to_string();
        let partition = field(entry, "partition")?
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| ToolError::failed("partition must be an int"))?;
        let replicas: Vec<i32> = field(entry, "replicas")?
            .as_array()
            .ok_or_else(|| ToolError::failed("replicas must be a list of ints"))?
            .iter()
            .map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| ToolError::failed("replicas must be a list of ints"))?;
        if let Some(dirs) = entry.get("log_dirs") {
            let dirs: Vec<&str> = dirs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .collect();
            if dirs.len() != replicas.len() {
                return Err(ToolError::failed(format!(
                    "Size of replicas list {replicas:?} is different from size of log dirs list {dirs:?} for partition {topic}-{partition}"
                )));
            }
            if dirs.iter().any(|d| *d != ANY_LOG_DIR) {
                return Err(ToolError::failed(
                    "moving replicas between log directories (log_dirs other than \"any\") is not supported",
                ));
            }
        }
        out.push(((topic, partition), replicas));
    }
    if out.is_empty() {
        return Err(ToolError::failed(
            "Partition reassignment list cannot be empty",
        ));
    }
    if out.iter().any(|(_, r)| r.is_empty()) {
        return Err(ToolError::failed("Partition replica list cannot be empty"));
    }
    let mut seen = std::collections::BTreeSet::new();
    let twice: Vec<String> = out
        .iter()
        .filter(|(tp, _)| !seen.insert(tp.clone()))
        .map(|((t, p), _)| format!("{t}-{p}"))
        .collect();
    if !twice.is_empty() {
        return Err(ToolError::failed(format!(
            "Partition reassignment contains duplicate topic partitions: {}",
            twice.join(",")
        )));
    }
    let duplicates: Vec<String> = out
        .iter()
        .filter_map(|((t, p), r)| {
            let dup: Vec<String> = r
                .iter()
                .enumerate()
                .filter(|(i, b)| r[..*i].contains(b))
                .map(|(_, b)| b.to_string())
                .collect();
            (!dup.is_empty())
                .then(|| format!("{t}-{p} contains multiple entries for {}", dup.join(",")))
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(ToolError::failed(format!(
            "Partition replica lists may not contain duplicate entries: {}",
            duplicates.join(". ")
        )));
    }
    Ok(out)
}

/// The topics of a topics-to-move file.
pub fn parse_topics(text: &str) -> Result<Vec<String>, ToolError> {
    let json = parse(text)?;
    version(&json)?;
    let mut topics = Vec::new();
    for entry in json
        .get("topics")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        let topic = field(entry, "topic")?
            .as_str()
            .ok_or_else(|| ToolError::failed("topic must be a string"))?;
        topics.push(topic.to_string());
    }
    Ok(topics)
}

/// An assignment in Kafka's reassignment JSON, compact, partitions in order.
pub fn format(assignment: &Assignment) -> String {
    let partitions: Vec<String> = assignment
        .iter()
        .map(|((topic, partition), replicas)| {
            let ids: Vec<String> = replicas.iter().map(i32::to_string).collect();
            let dirs: Vec<String> = replicas
                .iter()
                .map(|_| format!("\"{ANY_LOG_DIR}\""))
                .collect();
            format!(
                "{{\"topic\":{},\"partition\":{partition},\"replicas\":[{}],\"log_dirs\":[{}]}}",
                serde_json::Value::String(topic.clone()),
                ids.join(","),
                dirs.join(",")
            )
        })
        .collect();
    format!(
        "{{\"version\":1,\"partitions\":[{}]}}",
        partitions.join(",")
    )
}

/// Kafka's rack-unaware assignment of `partitions` partitions of `replication_factor`
/// replicas over `brokers` (with a fixed start instead of a random one): partition `p`'s first
/// replica is broker `p mod n`, the others follow it with a shift that grows every `n`
/// partitions, so replicas spread evenly.
pub fn assign(
    brokers: &[i32],
    partitions: i32,
    replication_factor: usize,
) -> Result<Vec<Vec<i32>>, ToolError> {
    let n = brokers.len();
    if replication_factor > n {
        return Err(ToolError::failed(format!(
            "Replication factor: {replication_factor} larger than available brokers: {n}."
        )));
    }
    let mut shift = 0usize;
    let mut out = Vec::new();
    for p in 0..partitions.max(0) as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = p % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..replication_factor.saturating_sub(1) {
            let index = (first + 1 + (shift + j) % (n - 1)) % n;
            replicas.push(brokers[index]);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassignment_files_are_read_with_kafkas_checks() {
        let ok = r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}"#;
        assert_eq!(
            parse_reassignment(ok).unwrap(),
            vec![(("a".to_string(), 0), vec![2, 3])]
        );
        let refused = |text: &str| parse_reassignment(text).unwrap_err().to_string();
        assert!(refused(r#"{"partitions":[]}"#).contains("cannot be empty"));
        assert!(
            refused(r#"{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}"#)
                .contains("replica list cannot be empty")
        );
        assert!(
            refused(r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}"#)
                .contains("a-0 contains multiple entries for 1")
        );
        assert!(refused(r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#).contains("duplicate topic partitions: a-0"));
        assert!(refused(r#"{"version":2,"partitions":[]}"#)
            .contains("Not supported version field value 2"));
        assert!(refused("not json").contains("not a valid JSON"));
        assert!(refused(
            r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d"]}]}"#
        )
        .contains("not supported"));
    }

    #[test]
    fn assignments_are_written_as_kafka_writes_them() {
        let mut a = Assignment::new();
        a.insert(("b".into(), 1), vec![3, 1]);
        a.insert(("b".into(), 0), vec![1, 2]);
        assert_eq!(
            format(&a),
            r#"{"version":1,"partitions":[{"topic":"b","partition":0,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"b","partition":1,"replicas":[3,1],"log_dirs":["any","any"]}]}"#
        );
        assert_eq!(
            parse_topics(r#"{"topics":[{"topic":"x"}],"version":1}"#).unwrap(),
            vec!["x"]
        );
    }

    #[test]
    fn generated_assignments_spread_replicas() {
        let a = assign(&[1, 2, 3], 4, 2).unwrap();
        assert_eq!(a, vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![1, 3]]);
        assert!(assign(&[1, 2], 1, 3)
            .unwrap_err()
            .to_string()
            .contains("larger than available brokers: 2"));
    }
}
