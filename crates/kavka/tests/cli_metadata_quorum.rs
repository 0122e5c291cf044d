//! `kavka metadata-quorum` (kafka-metadata-quorum.sh) against a running node: the status
//! summary and the replication table, in Kafka's layouts, and the usage errors.

mod cli_support;
mod common;

use cli_support::{broker, kavka, kavka_ok, stderr};

#[test]
fn describe_status_and_replication() {
    let b = broker();
    let addr = b.addr.to_string();
    let status = kavka_ok(&[
        "metadata-quorum",
        "--bootstrap-server",
        &addr,
        "describe",
        "--status",
    ]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 8, "{status}");
    assert!(
        lines[0].starts_with("ClusterId:              ") && lines[0].len() > 24,
        "{status}"
    );
    assert_eq!(lines[1], "LeaderId:               1");
    assert_eq!(lines[2], "LeaderEpoch:            1");
    let hw: i64 = lines[3]
        .strip_prefix("HighWatermark:          ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(hw >= 1, "{status}");
    assert_eq!(lines[4], "MaxFollowerLag:         0");
    assert_eq!(lines[5], "MaxFollowerLagTimeMs:   0");
    assert!(
        lines[6].starts_with("CurrentVoters:          [{\"id\": 1, \"directoryId\": \""),
        "{status}"
    );
    assert_eq!(lines[7], "CurrentObservers:       []");

    let table = kavka_ok(&[
        "metadata-quorum",
        "--bootstrap-server",
        &addr,
        "describe",
        "--replication",
    ]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split('\t').map(str::trim).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NodeId",
            "DirectoryId",
            "LogEndOffset",
            "Lag",
            "LastFetchTimestamp",
            "LastCaughtUpTimestamp",
            "Status"
        ]
    );
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!((rows[1][0], rows[1][3], rows[1][6]), ("1", "0", "Leader"));
    assert!(rows[1][2].parse::<i64>().unwrap() >= hw);

    // --human-readable: the timestamps as "N ms ago" (a single voter leads and has fetched
    // nothing: -1 stays -1).
    let human = kavka_ok(&[
        "metadata-quorum",
        "--bootstrap-server",
        &addr,
        "describe",
        "--replication",
        "--human-readable",
    ]);
    let cells: Vec<Vec<&str>> = human
        .lines()
        .map(|l| l.split('\t').map(str::trim).collect())
        .collect();
    assert_eq!(cells.len(), 2, "{human}");
    for cell in &cells[1][4..6] {
        assert!(*cell == "-1" || cell.ends_with(" ms ago"), "{human}");
    }

    let both = kavka(&["metadata-quorum", "--bootstrap-server", &addr, "describe"]);
    assert_eq!(both.status.code(), Some(1));
    assert!(
        stderr(&both).contains("One of --status or --replication must be specified"),
        "{}",
        stderr(&both)
    );
}
