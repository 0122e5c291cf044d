//! The benchmark's smoke mode against a debug `kavka` (tiny counts), so that the benchmark
//! cannot rot: every workload runs and yields a positive figure.

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use kavka_bench::broker::{temp_data_dir, LocalBroker};
use kavka_bench::{Figures, Options, Results};

/// `$KAVKA_BIN` (scripts/test sets it), else `<workspace>/target/debug/kavka`, built if missing.
fn kavka_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KAVKA_BIN") {
        return bin.into();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the workspace")
        .to_path_buf();
    let bin = workspace.join("target/debug/kavka");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bin", "kavka"])
            .current_dir(&workspace)
            .status()
            .expect("cargo build --bin kavka");
        assert!(status.success(), "cargo build --bin kavka failed");
    }
    bin
}

fn options(extra: &[&str]) -> Options {
    let bin = kavka_bin();
    let mut args = vec!["kavka-bench", "--smoke", "--kavka", bin.to_str().unwrap()];
    args.extend(extra);
    Options::parse_from(args)
}

fn assert_positive(results: &Results) {
    for row in &results.rows {
        assert!(
            row.figures.headline() > 0.0,
            "{} measured nothing: {:?}",
            row.workload,
            row.figures
        );
    }
}

#[test]
fn every_workload_against_a_local_broker() {
    let results = kavka_bench::run(&options(&[])).expect("benchmark run");
    println!("{}", results.render());
    assert_eq!(
        results.rows.len(),
        38,
        "8 P1 rows (4 of them the idempotent comparison, 1 transactional), 3 P2, 1 P3, 3 P5, \
         3 P4, 3 P8, 17 P9 (4 rounds of produce and consume off and on, the ratios)"
    );
    assert_positive(&results);
    for row in &results.rows {
        match &row.figures {
            Figures::Throughput { moved, broker } => {
                let broker = broker.expect("local broker: CPU and RSS measured");
                assert!(moved.bytes > 0 && broker.peak_rss_bytes > 0 && broker.cpu_secs >= 0.0);
            }
            Figures::Latency { latency, acked, .. } => {
                let acked = acked.as_ref().expect("acknowledgements timed");
                for p in [latency, acked] {
                    assert!(p.p50 > std::time::Duration::ZERO);
                    assert!(p.p50 <= p.p99 && p.p99 <= p.max);
                }
            }
            Figures::Recovery { log_bytes, .. } => assert!(*log_bytes > 1_000_000),
            Figures::IdleConnections { connections, .. } => assert_eq!(*connections, 200),
            Figures::Comparison { text, .. } => assert!(text.contains("records counted in")),
            Figures::IdleRss { .. } | Figures::StartToApiVersions { .. } => {}
        }
    }
    let table = results.render();
    assert!(table.contains("| P3 latency"), "{table}");
    assert!(table.contains("| P8 200 idle connections"), "{table}");
    assert!(table.contains("| P9 metrics on / off"), "{table}");
    assert!(
        table.contains("| P4 produce 1 KiB RF=3 acks=all"),
        "{table}"
    );
    assert!(
        table.contains("| P4 latency 1 KiB at 1 MB/s RF=3 acks=all"),
        "{table}"
    );
}

#[test]
fn bootstrap_mode_reports_broker_figures_as_na() {
    let data = temp_data_dir(None, "kavka-bench-test-").unwrap();
    let broker = LocalBroker::start(&kavka_bin(), data.path(), &[]).unwrap();
    let addr = broker.addr().to_string();
    let results = kavka_bench::run(&options(&["--bootstrap", &addr, "--workloads", "p1,p2"]))
        .expect("benchmark run");
    assert_eq!(results.rows.len(), 11, "8 P1 rows, 3 P2");
    assert_positive(&results);
    for row in &results.rows {
        let Figures::Throughput { broker, .. } = &row.figures else {
            panic!("{} is not a throughput row", row.workload);
        };
        assert!(broker.is_none());
    }
    assert!(results.render().contains("n/a"));
}
