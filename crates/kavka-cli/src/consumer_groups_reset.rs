//! `kavka consumer-groups --reset-offsets`: computes new committed offsets for inactive groups
//! by one of Kafka's scenarios (--to-earliest, --to-latest, --to-offset, --to-datetime,
//! --by-duration, --shift-by, --to-current, --from-file), prints Kafka's plan table (or CSV
//! with --export) and commits it with --execute (a dry run otherwise).

use std::collections::BTreeMap;

use kavka_client::{Admin, OffsetSpec};

use crate::common;
use crate::consumer_groups::{group_ids, print_error, topic_partitions, Args};
use crate::ToolError;

type Partition = (String, i32);

/// Resets offsets of every group named (or all groups).
pub(crate) async fn run(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    if !args.dry_run && !args.execute {
        eprintln!("WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.");
    }
    let scenarios = [
        args.to_offset.is_some(),
        args.to_datetime.is_some(),
        args.by_duration.is_some(),
        args.to_earliest,
        args.to_latest,
        args.shift_by.is_some(),
        args.from_file.is_some(),
        args.to_current,
    ];
    if scenarios.iter().filter(|s| **s).count() != 1 {
        return Err(ToolError::usage("Option '[reset-offsets]' requires one of the following scenarios: [to-offset], [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current]"));
    }
    if !args.all_topics && args.topic.is_empty() && args.from_file.is_none() {
        return Err(ToolError::usage(
            "One of the reset scopes should be defined: --all-topics, --topic.",
        ));
    }
    let ids = if args.all_groups {
        group_ids(admin).await?
    } else {
        args.group.clone()
    };
    let plan_from_file = match &args.from_file {
        Some(path) => Some(read_plan(path, &ids)?),
        None => None,
    };
    let mut plan: BTreeMap<String, BTreeMap<Partition, i64>> = BTreeMap::new();
    for group in admin.describe_groups(&ids).await? {
        let id = group.group_id.clone();
        if group.state != "Empty" && group.state != "Dead" {
            print_error(&format!(
                "Assignments can only be reset if the group '{id}' is inactive, but the current state is {}.",
                group.state
            ));
            plan.insert(id, BTreeMap::new());
            continue;
        }
        let committed: BTreeMap<Partition, i64> = admin
            .list_group_offsets(&id)
            .await?
            .into_iter()
            .filter(|o| o.offset >= 0)
            .map(|o| ((o.topic, o.partition), o.offset))
            .collect();
        let offsets = match &plan_from_file {
            Some(file) => match file.get(&id) {
                Some(p) => check_range(admin, p.clone()).await?,
                None => {
                    print_error(&format!("No reset plan for group {id} found"));
                    BTreeMap::new()
                }
            },
            None => {
                let partitions = if args.all_topics {
                    committed.keys().cloned().collect()
                } else {
                    topic_partitions(admin, &args.topic).await?
                };
                prepare(admin, args, &partitions, &committed).await?
            }
        };
        if args.execute && !offsets.is_empty() {
            let commits: Vec<(String, i32, i64)> = offsets
                .iter()
                .map(|((t, p), o)| (t.clone(), *p, *o))
                .collect();
            admin.alter_group_offsets(&id, &commits).await?;
        }
        plan.insert(id, offsets);
    }
    if args.export {
        let single = args.group.len() == 1;
        for (group, offsets) in &plan {
            for ((t, p), o) in offsets {
                if single {
                    outln!("{t},{p},{o}");
                } else {
                    outln!("{group},{t},{p},{o}");
                }
            }
        }
    } else if !plan.is_empty() {
        outln!(
            "\n{:<30} {:<30} {:<10} {:<15}",
            "GROUP",
            "TOPIC",
            "PARTITION",
            "NEW-OFFSET"
        );
        for (group, offsets) in &plan {
            for ((t, p), o) in offsets {
                outln!("{group:<30} {t:<30} {p:<10} {o:<15}");
            }
        }
    }
    Ok(())
}

async fn offsets(
    admin: &Admin,
    partitions: &[Partition],
    spec: OffsetSpec,
) -> Result<BTreeMap<Partition, i64>, ToolError> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for l in admin.list_offsets(partitions, spec).await? {
        if let Some(e) = l.error {
            return Err(ToolError::failed(format!(
                "Error getting offset of topic partition: {}-{}: {e}",
                l.topic, l.partition
            )));
        }
        out.insert((l.topic, l.partition), l.offset);
    }
    Ok(out)
}

/// Clamps requested offsets into [log start, log end], as Kafka's `checkOffsetsRange`.
async fn check_range(
    admin: &Admin,
    requested: BTreeMap<Partition, i64>,
) -> Result<BTreeMap<Partition, i64>, ToolError> {
    let tps: Vec<Partition> = requested.keys().cloned().collect();
    let start = offsets(admin, &tps, OffsetSpec::Earliest).await?;
    let end = offsets(admin, &tps, OffsetSpec::Latest).await?;
    Ok(requested
        .into_iter()
        .map(|(tp, o)| {
            let hi = end.get(&tp).copied().unwrap_or(o);
            let lo = start.get(&tp).copied().unwrap_or(o);
            let clamped = if o > hi {
                hi
            } else if o < lo {
                lo
            } else {
                o
            };
            (tp, clamped)
        })
        .collect())
}

/// Offsets at a timestamp; empty partitions fall back to the log end, with Kafka's warning.
async fn at_timestamp(
    admin: &Admin,
    partitions: &[Partition],
    ts: i64,
) -> Result<BTreeMap<Partition, i64>, ToolError> {
    let mut found = offsets(admin, partitions, OffsetSpec::Timestamp(ts)).await?;
    let empty: Vec<Partition> = found
        .iter()
        .filter(|(_, o)| **o < 0)
        .map(|(tp, _)| tp.clone())
        .collect();
    for (t, p) in &empty {
        outln!(
            "\nWarn: Partition {p} from topic {t} is empty. Falling back to latest known offset."
        );
    }
    found.extend(offsets(admin, &empty, OffsetSpec::Latest).await?);
    Ok(found)
}

async fn prepare(
    admin: &Admin,
    args: &Args,
    partitions: &[Partition],
    committed: &BTreeMap<Partition, i64>,
) -> Result<BTreeMap<Partition, i64>, ToolError> {
    if let Some(offset) = args.to_offset {
        return check_range(
            admin,
            partitions.iter().map(|tp| (tp.clone(), offset)).collect(),
        )
        .await;
    }
    if args.to_earliest {
        return offsets(admin, partitions, OffsetSpec::Earliest).await;
    }
    if args.to_latest {
        return offsets(admin, partitions, OffsetSpec::Latest).await;
    }
    if let Some(shift) = args.shift_by {
        let mut requested = BTreeMap::new();
        for tp in partitions {
            let current = committed.get(tp).ok_or_else(|| {
                ToolError::usage(format!(
                    "Cannot shift offset for partition {}-{} since there is no current committed offset",
                    tp.0, tp.1
                ))
            })?;
            requested.insert(tp.clone(), current.saturating_add(shift));
        }
        return check_range(admin, requested).await;
    }
    if let Some(dt) = &args.to_datetime {
        let ts = common::parse_datetime_ms(dt).ok_or_else(|| {
            ToolError::failed(format!(
                "Unparseable date: \"{dt}\" (expected YYYY-MM-DDTHH:mm:SS.sss)"
            ))
        })?;
        return at_timestamp(admin, partitions, ts).await;
    }
    if let Some(d) = &args.by_duration {
        let ms = parse_duration_ms(d).ok_or_else(|| {
            ToolError::failed(format!(
                "Text cannot be parsed to a Duration: {d} (expected PnDTnHnMnS)"
            ))
        })?;
        return at_timestamp(admin, partitions, common::now_ms() - ms).await;
    }
    // --to-current: the committed offset, or the log end where there is none.
    let mut out: BTreeMap<Partition, i64> = BTreeMap::new();
    let missing: Vec<Partition> = partitions
        .iter()
        .filter(|tp| !committed.contains_key(*tp))
        .cloned()
        .collect();
    for tp in partitions {
        if let Some(o) = committed.get(tp) {
            out.insert(tp.clone(), *o);
        }
    }
    out.extend(offsets(admin, &missing, OffsetSpec::Latest).await?);
    Ok(out)
}

/// Java's `Duration.parse` for `PnDTnHnMnS` (days, hours, minutes, seconds with a fraction).
fn parse_duration_ms(text: &str) -> Option<i64> {
    let upper = text.trim().to_ascii_uppercase();
    let (sign, rest) = match upper.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut any = false;
    if !date.is_empty() {
        total += date.strip_suffix('D')?.parse::<f64>().ok()? * 86_400_000.0;
        any = true;
    }
    if let Some(mut t) = time {
        for (unit, ms) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)] {
            if let Some(at) = t.find(unit) {
                total += t[..at].parse::<f64>().ok()? * ms;
                t = &t[at + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    any.then_some(sign * total as i64)
}

/// A `--from-file` plan: `topic,partition,offset` lines for one group, or
/// `group,topic,partition,offset` lines.
fn read_plan(
    path: &str,
    groups: &[String],
) -> Result<BTreeMap<String, BTreeMap<Partition, i64>>, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ToolError::failed(format!("cannot read {path}: {e}")))?;
    let mut plan: BTreeMap<String, BTreeMap<Partition, i64>> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || ToolError::failed(format!("Invalid reset plan line: {line}"));
        let (group, topic, partition, offset) = match fields.as_slice() {
            [t, p, o] if groups.len() == 1 => (groups[0].clone(), *t, *p, *o),
            [g, t, p, o] => (g.to_string(), *t, *p, *o),
            _ => return Err(bad()),
        };
        let partition = partition.parse::<i32>().map_err(|_| bad())?;
        let offset = offset.parse::<i64>().map_err(|_| bad())?;
        plan.entry(group)
            .or_default()
            .insert((topic.to_string(), partition), offset);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_java_does() {
        assert_eq!(parse_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(
            parse_duration_ms("P1DT2M3.5S"),
            Some(86_400_000 + 120_000 + 3_500)
        );
        assert_eq!(parse_duration_ms("-PT1S"), Some(-1000));
        assert_eq!(parse_duration_ms("1H"), None);
        assert_eq!(parse_duration_ms("P"), None);
    }
}
