//! The actions of `kavka reassign-partitions`: `--generate`, `--execute`, `--verify`,
//! `--cancel`, `--list`, with Kafka's report lines.

use std::collections::{BTreeMap, BTreeSet};

use kavka_client::Admin;

use super::throttles::{clear_throttles, set_throttles};
use super::{current, joined, read, refused, Args};
use crate::reassign_json::{self, Assignment, TopicPartition};
use crate::ToolError;

pub(super) async fn generate(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let brokers: Vec<i32> = args
        .broker_list
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|b| {
            b.trim()
                .parse::<i32>()
                .map_err(|_| ToolError::failed(format!("For input string: \"{}\"", b.trim())))
        })
        .collect::<Result<_, _>>()?;
    let dup: BTreeSet<i32> = brokers
        .iter()
        .enumerate()
        .filter(|(i, b)| brokers[..*i].contains(b))
        .map(|(_, b)| *b)
        .collect();
    if !dup.is_empty() {
        return Err(ToolError::failed(format!(
            "Broker list contains duplicate entries: {dup:?}"
        )));
    }
    let topics = reassign_json::parse_topics(&read(&args.topics_to_move_json_file)?)?;
    let set: BTreeSet<String> = topics.iter().cloned().collect();
    if set.len() != topics.len() {
        return Err(ToolError::failed(
            "List of topics to reassign contains duplicate entries",
        ));
    }
    let current = current(admin, &set).await?;
    let live = crate::common::broker_ids(admin).await?;
    let usable: Vec<i32> = brokers
        .iter()
        .copied()
        .filter(|b| live.contains(b))
        .collect();
    let mut proposed = Assignment::new();
    for topic in &set {
        let parts: Vec<(&TopicPartition, &Vec<i32>)> =
            current.iter().filter(|((t, _), _)| t == topic).collect();
        let rf = parts.first().map_or(1, |(_, r)| r.len());
        let assigned = reassign_json::assign(&usable, parts.len() as i32, rf)?;
        for (p, replicas) in assigned.into_iter().enumerate() {
            proposed.insert((topic.clone(), p as i32), replicas);
        }
    }
    println!(
        "Current partition replica assignment\n{}\n",
        reassign_json::format(&current)
    );
    println!(
        "Proposed partition reassignment configuration\n{}",
        reassign_json::format(&proposed)
    );
    Ok(())
}

pub(super) async fn execute(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let proposed: Assignment =
        reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?
            .into_iter()
            .collect();
    let ongoing = admin.list_partition_reassignments(None).await?;
    if !args.additional && !ongoing.is_empty() {
        return Err(ToolError::failed("Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment."));
    }
    let known = crate::common::broker_ids(admin).await?;
    if let Some(b) = proposed.values().flatten().find(|b| !known.contains(b)) {
        return Err(ToolError::failed(format!("Unknown broker id {b}")));
    }
    let topics: BTreeSet<String> = proposed.keys().map(|(t, _)| t.clone()).collect();
    let all = current(admin, &topics).await?;
    let missing: Vec<String> = proposed
        .keys()
        .filter(|k| !all.contains_key(k))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::failed(format!(
            "Unable to find partition: {}",
            missing.join(", ")
        )));
    }
    let current: Assignment = all
        .into_iter()
        .filter(|(k, _)| proposed.contains_key(k))
        .collect();
    println!("Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback", reassign_json::format(&current));
    if let Some(throttle) = args.throttle.filter(|t| *t >= 0) {
        println!("Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.");
        set_throttles(admin, &ongoing, &proposed, &current, throttle).await?;
        println!("The inter-broker throttle limit was set to {throttle} B/s");
    }
    let requests: Vec<(String, i32, Option<Vec<i32>>)> = proposed
        .iter()
        .map(|((t, p), r)| (t.clone(), *p, Some(r.clone())))
        .collect();
    let outcomes = admin.alter_partition_reassignments(&requests).await?;
    let errors = refused(&outcomes);
    if !errors.is_empty() {
        return Err(ToolError::failed(format!(
            "Error reassigning partition(s):\n{}",
            errors.join("\n")
        )));
    }
    let parts: BTreeSet<TopicPartition> = proposed.keys().cloned().collect();
    let s = if parts.len() == 1 { "" } else { "s" };
    println!(
        "Successfully started partition reassignment{s} for {}",
        joined(&parts)
    );
    Ok(())
}

pub(super) async fn verify(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let targets = reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?;
    let ongoing = admin.list_partition_reassignments(None).await?;
    let topics: BTreeSet<String> = targets.iter().map(|((t, _), _)| t.clone()).collect();
    let names: Vec<String> = topics.iter().cloned().collect();
    let described = admin.describe_topics(&names).await?;
    let mut lines = vec!["Status of partition reassignment:".to_string()];
    let mut sorted = targets.clone();
    sorted.sort();
    for ((topic, p), target) in &sorted {
        if ongoing
            .iter()
            .any(|r| &r.topic == topic && r.partition == *p)
        {
            lines.push(format!(
                "Reassignment of partition {topic}-{p} is still in progress."
            ));
            continue;
        }
        let now: Vec<i32> = described
            .iter()
            .find(|t| &t.name == topic)
            .and_then(|t| t.partitions.iter().find(|x| x.partition == *p))
            .map(|x| x.replicas.clone())
            .unwrap_or_default();
        if &now == target {
            lines.push(format!(
                "Reassignment of partition {topic}-{p} is completed."
            ));
        } else {
            let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            lines.push(format!("There is no active reassignment of partition {topic}-{p}, but replica set is {} rather than {}.", ids(&now), ids(target)));
        }
    }
    println!("{}", lines.join("\n"));
    // Kafka prints the (here always empty) log directory moves' states on their own line.
    println!();
    if ongoing.is_empty() && !args.preserve_throttles {
        clear_throttles(admin, &targets).await?;
    }
    Ok(())
}

pub(super) async fn cancel(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let targets = reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?;
    let wanted: BTreeMap<String, Vec<i32>> =
        targets.iter().fold(BTreeMap::new(), |mut m, ((t, p), _)| {
            m.entry(t.clone()).or_default().push(*p);
            m
        });
    let ongoing = admin
        .list_partition_reassignments(Some(wanted.into_iter().collect()))
        .await?;
    let active: BTreeSet<TopicPartition> = ongoing
        .iter()
        .filter(|r| r.adding.is_empty() || !r.removing.is_empty())
        .map(|r| (r.topic.clone(), r.partition))
        .collect();
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        let requests: Vec<(String, i32, Option<Vec<i32>>)> =
            active.iter().map(|(t, p)| (t.clone(), *p, None)).collect();
        let outcomes = admin.alter_partition_reassignments(&requests).await?;
        let errors = refused(&outcomes);
        if !errors.is_empty() {
            let s = if errors.len() == 1 { "" } else { "s" };
            return Err(ToolError::failed(format!(
                "Error cancelling partition reassignment{s} for:\n{}",
                errors.join("\n")
            )));
        }
        let s = if active.len() == 1 { "" } else { "s" };
        println!(
            "Successfully cancelled partition reassignment{s} for: {}",
            joined(&active)
        );
    }
    // As Kafka prints it: no line break before the throttle lines.
    print!("None of the specified partition moves are active.");
    if !args.preserve_throttles {
        clear_throttles(admin, &targets).await?;
    } else {
        println!();
    }
    Ok(())
}

pub(super) async fn list(admin: &Admin) -> Result<(), ToolError> {
    let mut ongoing = admin.list_partition_reassignments(None).await?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    ongoing.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    println!("Current partition reassignments:");
    for r in ongoing {
        let adding = if r.adding.is_empty() {
            String::new()
        } else {
            format!(" adding: {}.", ids(&r.adding))
        };
        let removing = if r.removing.is_empty() {
            String::new()
        } else {
            format!(" removing: {}.", ids(&r.removing))
        };
        println!(
            "{}-{}: replicas: {}.{adding}{removing}",
            r.topic,
            r.partition,
            ids(&r.replicas)
        );
    }
    Ok(())
}
