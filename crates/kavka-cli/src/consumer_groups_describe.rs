//! `kavka consumer-groups --describe`: the offsets table (GROUP TOPIC PARTITION CURRENT-OFFSET
//! LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID), `--members [--verbose]` and `--state`, in
//! Kafka's layouts, with Kafka's notes about empty, rebalancing and unknown groups.

use std::collections::BTreeMap;

use kavka_client::{Admin, GroupDescription, OffsetSpec};

use crate::consumer_groups::{groups, print_error, Args};
use crate::ToolError;

/// Prints Kafka's note for a group's state; `false` when there is nothing to show.
fn state_note(group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => {
            print_error(&format!("Consumer group '{group}' does not exist."));
            return false;
        }
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    rows > 0
}

/// The member owning a partition: (consumer id, host, client id).
type Owner = (String, String, String);

/// One row of the offsets table.
struct OffsetRow {
    topic: String,
    partition: String,
    current: String,
    log_end: String,
    lag: String,
    consumer_id: String,
    host: String,
    client_id: String,
}

async fn offset_rows(admin: &Admin, group: &GroupDescription) -> Result<Vec<OffsetRow>, ToolError> {
    let committed: BTreeMap<(String, i32), i64> = admin
        .list_group_offsets(&group.group_id)
        .await?
        .into_iter()
        .filter(|o| o.offset >= 0)
        .map(|o| ((o.topic, o.partition), o.offset))
        .collect();
    // Members with partitions, most partitions first, then committed partitions no member owns.
    let mut members: Vec<_> = group
        .members
        .iter()
        .filter(|m| m.assignment.iter().any(|(_, p)| !p.is_empty()))
        .collect();
    members.sort_by_key(|m| {
        std::cmp::Reverse(m.assignment.iter().map(|(_, p)| p.len()).sum::<usize>())
    });
    let mut wanted: Vec<((String, i32), Option<Owner>)> = Vec::new();
    for m in members {
        let mut tps: Vec<(String, i32)> = m
            .assignment
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect();
        tps.sort_by_key(|(t, p)| (*p, t.clone()));
        for tp in tps {
            let who = (
                m.member_id.clone(),
                m.client_host.clone(),
                m.client_id.clone(),
            );
            wanted.push((tp, Some(who)));
        }
    }
    for tp in committed.keys() {
        if !wanted.iter().any(|(w, _)| w == tp) {
            wanted.push((tp.clone(), None));
        }
    }
    let tps: Vec<(String, i32)> = wanted.iter().map(|(tp, _)| tp.clone()).collect();
    let mut log_end: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if !tps.is_empty() {
        for l in admin.list_offsets(&tps, OffsetSpec::Latest).await? {
            if l.error.is_none() {
                log_end.insert((l.topic, l.partition), l.offset);
            }
        }
    }
    let dash = || "-".to_string();
    Ok(wanted
        .into_iter()
        .map(|(tp, who)| {
            let current = committed.get(&tp).copied();
            let end = log_end.get(&tp).copied();
            let lag = match (current, end) {
                (Some(c), Some(e)) => (e - c).to_string(),
                _ => dash(),
            };
            let (consumer_id, host, client_id) = who.unwrap_or_else(|| (dash(), dash(), dash()));
            OffsetRow {
                topic: tp.0,
                partition: tp.1.to_string(),
                current: current.map_or_else(dash, |c| c.to_string()),
                log_end: end.map_or_else(dash, |e| e.to_string()),
                lag,
                consumer_id,
                host,
                client_id,
            }
        })
        .collect())
}

pub(crate) async fn describe(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let mut ids = groups(admin, args).await?;
    ids.sort();
    ids.dedup();
    let described = admin.describe_groups(&ids).await?;
    let mut missing = Vec::new();
    for group in described {
        if let Some(e) = &group.error {
            if e.code == kavka_client::ErrorCode::GROUP_ID_NOT_FOUND {
                print_error(&format!(
                    "Consumer group '{}' does not exist.",
                    group.group_id
                ));
                missing.push(group.group_id.clone());
            } else {
                print_error(&format!(
                    "Executing consumer group command failed due to {e}"
                ));
                missing.push(group.group_id.clone());
            }
            continue;
        }
        let id = &group.group_id;
        if args.members {
            describe_members(&group, args.verbose);
        } else if args.state.is_some() {
            if state_note(id, &group.state, 1) {
                let c = &group.coordinator;
                let coordinator = format!("{}:{}  ({})", c.host, c.port, c.node_id);
                let w = coordinator.len().max(25);
                outln!(
                    "\n{:<w$} {:<25} {:<20} {:<15} {}",
                    "GROUP",
                    "COORDINATOR (ID)",
                    "ASSIGNMENT-STRATEGY",
                    "STATE",
                    "#MEMBERS"
                );
                outln!(
                    "{:<w$} {:<25} {:<20} {:<15} {}",
                    id,
                    coordinator,
                    group.protocol,
                    group.state,
                    group.members.len()
                );
                outln!();
            }
        } else {
            let rows = if group.state == "Dead" {
                Vec::new()
            } else {
                offset_rows(admin, &group).await?
            };
            if state_note(id, &group.state, rows.len()) {
                let wg = id.len().max(15);
                let wt = rows
                    .iter()
                    .map(|r| r.topic.len())
                    .max()
                    .unwrap_or(0)
                    .max(15);
                let wc = rows
                    .iter()
                    .map(|r| r.consumer_id.len())
                    .max()
                    .unwrap_or(0)
                    .max(15);
                let wh = rows.iter().map(|r| r.host.len()).max().unwrap_or(0).max(15);
                outln!();
                outln!(
                    "{:<wg$} {:<wt$} {:<10} {:<15} {:<15} {:<15} {:<wc$} {:<wh$} {}",
                    "GROUP",
                    "TOPIC",
                    "PARTITION",
                    "CURRENT-OFFSET",
                    "LOG-END-OFFSET",
                    "LAG",
                    "CONSUMER-ID",
                    "HOST",
                    "CLIENT-ID"
                );
                for r in rows {
                    outln!(
                        "{:<wg$} {:<wt$} {:<10} {:<15} {:<15} {:<15} {:<wc$} {:<wh$} {}",
                        id,
                        r.topic,
                        r.partition,
                        r.current,
                        r.log_end,
                        r.lag,
                        r.consumer_id,
                        r.host,
                        r.client_id
                    );
                }
                outln!();
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        // Kafka's line for each group is printed above; nothing more is said.
        Err(ToolError::Reported)
    }
}

fn describe_members(group: &GroupDescription, verbose: bool) {
    let id = &group.group_id;
    if !state_note(id, &group.state, group.members.len()) && group.state == "Dead" {
        return;
    }
    let members = &group.members;
    let wg = id.len().max(15);
    let wc = members
        .iter()
        .map(|m| m.member_id.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let wi = members
        .iter()
        .map(|m| m.group_instance_id.as_deref().unwrap_or("").len())
        .max()
        .unwrap_or(0)
        .max(17);
    let wh = members
        .iter()
        .map(|m| m.client_host.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let wl = members
        .iter()
        .map(|m| m.client_id.len())
        .max()
        .unwrap_or(0)
        .max(15);
    let with_instance = members.iter().any(|m| {
        m.group_instance_id
            .as_deref()
            .is_some_and(|i| !i.is_empty())
    });
    let mut header = if with_instance {
        format!(
            "{:<wg$} {:<wc$} {:<wi$} {:<wh$} {:<wl$} {:<15} ",
            "GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    } else {
        format!(
            "{:<wg$} {:<wc$} {:<wh$} {:<wl$} {:<15} ",
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
        )
    };
    if verbose {
        header.push_str("ASSIGNMENT");
    }
    outln!("\n{header}");
    for m in members {
        let count: usize = m.assignment.iter().map(|(_, p)| p.len()).sum();
        let mut line = if with_instance {
            let inst = m.group_instance_id.as_deref().unwrap_or("");
            format!(
                "{id:<wg$} {:<wc$} {inst:<wi$} {:<wh$} {:<wl$} {count:<15} ",
                m.member_id, m.client_host, m.client_id
            )
        } else {
            format!(
                "{id:<wg$} {:<wc$} {:<wh$} {:<wl$} {count:<15} ",
                m.member_id, m.client_host, m.client_id
            )
        };
        if verbose {
            let mut parts: Vec<String> = m
                .assignment
                .iter()
                .filter(|(_, p)| !p.is_empty())
                .map(|(t, ps)| {
                    let mut ps = ps.clone();
                    ps.sort_unstable();
                    let list: Vec<String> = ps.iter().map(i32::to_string).collect();
                    format!("{t}({})", list.join(","))
                })
                .collect();
            parts.sort();
            line.push_str(&if parts.is_empty() {
                "-".to_string()
            } else {
                parts.join(", ")
            });
        }
        outln!("{line}");
    }
}
