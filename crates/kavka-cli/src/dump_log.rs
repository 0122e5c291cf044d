//! `kavka dump-log` (kafka-dump-log.sh): prints the batches (and with `--deep-iteration` or
//! `--print-data-log` the records) of `.log` segment files, and the entries of `.index` and
//! `.timeindex` files, offline, in Kafka's `DumpLogSegments` layout. Nothing is repaired.

use std::collections::BTreeMap;
use std::path::Path;

use kavka_protocol::batch::{attributes, BatchView, Compression};
use kavka_protocol::records::RecordIter;

use crate::ToolError;

/// Command-line flags of kafka-dump-log.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The comma separated list of data and index log files to be dumped.
    #[arg(long, value_name = "file1, file2, ...")]
    files: Option<String>,
    /// Instead of --files: every segment of this topic's partition (--partition) in the broker's
    /// log directories (log.dirs of --config, or ./kavka-data).
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// The partition of --topic.
    #[arg(long, value_name = "Integer: partition")]
    partition: Option<i32>,
    /// The broker's server.properties, for the log directories of --topic.
    #[arg(long, value_name = "server.properties")]
    config: Option<std::path::PathBuf>,
    /// If set, printing the messages content when dumping data logs. Automatically sets
    /// --deep-iteration.
    #[arg(long = "print-data-log")]
    print_data_log: bool,
    /// If set, uses deep instead of shallow iteration.
    #[arg(long = "deep-iteration")]
    deep_iteration: bool,
    /// If set, just verify the index log without printing its content.
    #[arg(long = "verify-index-only")]
    verify_index_only: bool,
    /// If set, just checks the index sanity without printing its content.
    #[arg(long = "index-sanity-check")]
    index_sanity_check: bool,
    /// Limit the amount of total batches read in bytes avoiding reading the whole .log file(s).
    #[arg(long = "max-bytes", value_name = "Integer: size", default_value_t = i32::MAX)]
    max_bytes: i32,
    /// Size of largest message (accepted, unused).
    #[arg(long = "max-message-size", value_name = "Integer: size")]
    max_message_size: Option<i32>,
    /// Whether to skip printing metadata for each record.
    #[arg(long = "skip-record-metadata")]
    skip_record_metadata: bool,
    /// Key decoder class (accepted; keys print as UTF-8 strings).
    #[arg(long = "key-decoder-class", value_name = "String", num_args = 0..=1, default_missing_value = "")]
    key_decoder_class: Option<String>,
    /// Value decoder class (accepted; values print as UTF-8 strings).
    #[arg(long = "value-decoder-class", value_name = "String", num_args = 0..=1, default_missing_value = "")]
    value_decoder_class: Option<String>,
    /// Decode __consumer_offsets records (accepted; printed as strings).
    #[arg(long = "offsets-decoder")]
    offsets_decoder: bool,
    /// Decode __transaction_state records (accepted; printed as strings).
    #[arg(long = "transaction-log-decoder")]
    transaction_log_decoder: bool,
    /// Decode cluster metadata records (accepted; printed as strings).
    #[arg(long = "cluster-metadata-decoder")]
    cluster_metadata_decoder: bool,
}

/// The files to dump: those `--files` names, or the segments of `--topic`'s `--partition`.
fn files_of(args: &Args) -> Result<Vec<String>, ToolError> {
    match (&args.files, &args.topic, args.partition) {
        (Some(files), None, None) => Ok(files
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        (None, Some(topic), Some(partition)) => segments_of(args, topic, partition),
        (None, Some(_), None) => Err(ToolError::usage(
            "Missing required argument \"[partition]\"",
        )),
        (Some(_), Some(_), _) => Err(ToolError::usage(
            "Option \"[files]\" can't be used with option \"[topic]\"",
        )),
        _ => Err(ToolError::usage("Missing required argument \"[files]\"")),
    }
}

/// The `.log` files of a partition's directory, in offset order, found under the log
/// directories of `--config` (`log.dirs`, else `log.dir`; relative ones from here, then from the
/// file's directory) or under `./kavka-data`, the broker's default.
fn segments_of(args: &Args, topic: &str, partition: i32) -> Result<Vec<String>, ToolError> {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    match &args.config {
        Some(file) => {
            let text = std::fs::File::open(file)
                .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", file.display())))?;
            let props = java_properties::read(std::io::BufReader::new(text))
                .map_err(|e| ToolError::failed(format!("{}: {e}", file.display())))?;
            let listed = props
                .get("log.dirs")
                .or(props.get("log.dir"))
                .cloned()
                .unwrap_or_else(|| "./kavka-data".to_string());
            let base = file.parent().unwrap_or(Path::new("."));
            for dir in listed.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                dirs.push(dir.into());
                dirs.push(base.join(dir));
            }
        }
        None => dirs.push("./kavka-data".into()),
    }
    let name = format!("{topic}-{partition}");
    let Some(dir) = dirs.iter().map(|d| d.join(&name)).find(|d| d.is_dir()) else {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(ToolError::failed(format!(
            "no directory {name} in {} (give the broker's server.properties with --config)",
            looked.join(", ")
        )));
    };
    let mut logs: Vec<(i64, String)> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| Some((base_offset_of(&p).ok()?, p.display().to_string())))
        .collect();
    logs.sort();
    Ok(logs.into_iter().map(|(_, p)| p).collect())
}

/// Dumps every file named by `--files`, or every segment of `--topic`'s `--partition`.
pub fn run(args: Args) -> Result<(), ToolError> {
    let deep = args.deep_iteration || args.print_data_log;
    let mut non_consecutive: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for name in files_of(&args)? {
        let name = name.as_str();
        outln!("Dumping {name}");
        let path = Path::new(name);
        match path.extension().and_then(|e| e.to_str()) {
            Some("log") => {
                let gaps = dump_log(path, &args, deep)?;
                if !gaps.is_empty() {
                    non_consecutive.insert(name.to_string(), gaps);
                }
            }
            Some("index") => dump_index(path, &args, 8)?,
            Some("timeindex") => dump_index(path, &args, 12)?,
            _ => eprintln!("Ignoring unknown file {name}"),
        }
    }
    for (name, gaps) in non_consecutive {
        eprintln!("Non-consecutive offsets in {name}");
        for (a, b) in gaps {
            eprintln!("  {a} is followed by {b}");
        }
    }
    Ok(())
}

/// The base offset a segment or index file is named after.
fn base_offset_of(path: &Path) -> Result<i64, ToolError> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.parse::<i64>().map_err(|_| {
        ToolError::failed(format!(
            "{} is not named after a base offset",
            path.display()
        ))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ToolError> {
    std::fs::read(path)
        .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", path.display())))
}

/// Prints the batches of a segment; returns the non-consecutive offset pairs seen.
fn dump_log(path: &Path, args: &Args, deep: bool) -> Result<Vec<(i64, i64)>, ToolError> {
    outln!("Log starting offset: {}", base_offset_of(path)?);
    let data = read(path)?;
    let limit = usize::try_from(args.max_bytes).unwrap_or(0).min(data.len());
    let data = &data[..limit];
    let mut position = 0usize;
    let mut last_offset = -1i64;
    let mut gaps = Vec::new();
    while position < data.len() {
        let Ok(view) = BatchView::parse(&data[position..]) else {
            break;
        };
        print_batch(&view, position);
        if deep {
            dump_records(&view, args, &mut last_offset, &mut gaps);
        }
        position += view.size();
    }
    if position < data.len() && args.max_bytes == i32::MAX {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        outln!(
            "Found {} invalid bytes at the end of {name}",
            data.len() - position
        );
    }
    Ok(gaps)
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap to 0 after `i32::MAX`.
fn sequence_plus(base: i32, delta: i64) -> i32 {
    if base < 0 {
        return -1;
    }
    let sum = i64::from(base) + delta;
    if sum > i64::from(i32::MAX) {
        (sum - i64::from(i32::MAX) - 1) as i32
    } else {
        sum as i32
    }
}

fn timestamp_type(view: &BatchView<'_>) -> &'static str {
    if view.is_log_append_time() {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

fn print_batch(view: &BatchView<'_>, position: usize) {
    let delete_horizon = if view.attributes() & attributes::DELETE_HORIZON != 0 {
        format!("OptionalLong[{}]", view.base_timestamp())
    } else {
        "OptionalLong.empty".to_string()
    };
    let codec = view.compression().map_or("unknown", Compression::name);
    outln!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} \
         deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} compresscodec: {} crc: {} \
         isvalid: {}",
        view.base_offset(),
        view.last_offset(),
        view.record_count(),
        view.base_sequence(),
        sequence_plus(view.base_sequence(), i64::from(view.last_offset_delta())),
        view.producer_id(),
        view.producer_epoch(),
        view.partition_leader_epoch(),
        view.is_transactional(),
        view.is_control(),
        delete_horizon,
        position,
        timestamp_type(view),
        view.max_timestamp(),
        view.size(),
        view.magic(),
        codec,
        view.crc(),
        view.verify_crc().is_ok(),
    );
}

fn dump_records(
    view: &BatchView<'_>,
    args: &Args,
    last_offset: &mut i64,
    gaps: &mut Vec<(i64, i64)>,
) {
    let records = match RecordIter::new(view) {
        Ok(r) => r,
        Err(e) => {
            outln!("| cannot read the records of this batch: {e}");
            return;
        }
    };
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                outln!("| malformed record: {e}");
                return;
            }
        };
        if record.offset != *last_offset + 1 {
            gaps.push((*last_offset, record.offset));
        }
        *last_offset = record.offset;
        let mut line = String::new();
        if !args.skip_record_metadata {
            let headers: Vec<String> = record
                .headers
                .iter()
                .map(|h| String::from_utf8_lossy(&h.key).into_owned())
                .collect();
            line.push_str(&format!(
                "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
                record.offset,
                timestamp_type(view),
                record.timestamp,
                record.key.as_ref().map_or(-1, |k| k.len() as i64),
                record.value.as_ref().map_or(-1, |v| v.len() as i64),
                sequence_plus(view.base_sequence(), record.offset - view.base_offset()),
                headers.join(",")
            ));
            if view.is_control() {
                line.push_str(&control_record(
                    record.key.as_deref(),
                    record.value.as_deref(),
                ));
            }
        }
        if args.print_data_log && !view.is_control() {
            let mut prefix = if args.skip_record_metadata { "| " } else { " " };
            if let Some(key) = &record.key {
                line.push_str(&format!("{prefix}key: {}", String::from_utf8_lossy(key)));
                prefix = " ";
            }
            if let Some(value) = &record.value {
                line.push_str(&format!(
                    "{prefix}payload: {}",
                    String::from_utf8_lossy(value)
                ));
            }
        }
        outln!("{line}");
    }
}

/// A transaction marker as Kafka prints it (key: version, type; value: version, coordinator
/// epoch).
fn control_record(key: Option<&[u8]>, value: Option<&[u8]>) -> String {
    let kind = key
        .filter(|k| k.len() >= 4)
        .map(|k| i16::from_be_bytes([k[2], k[3]]));
    let epoch = value
        .filter(|v| v.len() >= 6)
        .map_or(-1, |v| i32::from_be_bytes([v[2], v[3], v[4], v[5]]));
    match kind {
        Some(0) => format!(" endTxnMarker: ABORT coordinatorEpoch: {epoch}"),
        Some(1) => format!(" endTxnMarker: COMMIT coordinatorEpoch: {epoch}"),
        Some(n) => format!(" controlType: UNKNOWN({n})"),
        None => " controlType: UNKNOWN(-1)".to_string(),
    }
}

/// Prints an offset index (8-byte entries: relative offset, position) or a time index
/// (12-byte entries: timestamp, relative offset), checked against the segment beside it.
fn dump_index(path: &Path, args: &Args, entry_bytes: usize) -> Result<(), ToolError> {
    let base = base_offset_of(path)?;
    let data = read(path)?;
    let entries: Vec<&[u8]> = data.chunks_exact(entry_bytes).collect();
    let time = entry_bytes == 12;
    let decode = |e: &[u8]| -> (i64, i64) {
        if time {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            (i64::from_be_bytes(ts), base + i64::from(rel))
        } else {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            (base + i64::from(rel), i64::from(pos))
        }
    };
    if entries.is_empty() && !time {
        outln!("{} is empty.", path.display());
        return Ok(());
    }
    if args.index_sanity_check {
        let ordered = entries
            .windows(2)
            .all(|w| decode(w[0]) < decode(w[1]) || decode(w[1]).1 == base);
        if data.len() % entry_bytes != 0 || !ordered {
            return Err(ToolError::failed(format!(
                "Corrupt index found, index file ({}) has non-zero size but the entries are not \
                 in order or the size is not a multiple of {entry_bytes}",
                path.display()
            )));
        }
        outln!("{} passed sanity check.", path.display());
        return Ok(());
    }
    let log = path.with_extension("log");
    let segment = std::fs::read(&log).unwrap_or_default();
    let mut mismatches = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let (a, b) = decode(entry);
        let offset = if time { b } else { a };
        // A sparse (preallocated) file ends in zero entries.
        if i > 0 && offset == base {
            break;
        }
        if !time {
            let position = usize::try_from(b).unwrap_or(usize::MAX);
            let found = segment
                .get(position..)
                .and_then(|rest| BatchView::parse(rest).ok());
            match found {
                Some(v) if v.base_offset() <= offset && offset <= v.last_offset() => {}
                Some(v) => mismatches.push((offset, v.last_offset())),
                None => mismatches.push((offset, -1)),
            }
        }
        if !args.verify_index_only {
            if time {
                outln!("timestamp: {a} offset: {b}");
            } else {
                outln!("offset: {a} position: {b}");
            }
        }
    }
    if !mismatches.is_empty() {
        eprintln!("Mismatches in :{}", path.display());
        for (index_offset, log_offset) in mismatches {
            eprintln!("  Index offset: {index_offset}, log offset: {log_offset}");
        }
    }
    Ok(())
}
