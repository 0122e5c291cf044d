//! The argparse4j layout against Kafka 4's own output, recorded in `kafka4_help/argparse/`
//! (see its README): the parsers below are Kafka's definitions of kafka-metadata-quorum,
//! kafka-cluster, kafka-transactions.sh and kafka-producer-perf-test.sh, transcribed from
//! Kafka's sources; `argparse_help` lays them out and the result must equal, byte for byte,
//! what argparse4j printed for the same definitions.

use kavka_cli::argparse_help::{Commands, Group, Opt, Parser};

const WIDTH: usize = 75;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/kafka4_help/argparse/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An argument with argparse4j's default metavar (the flag's name in capitals) unless given.
fn add(p: &mut Parser, flags: &[&str], metavar: Option<&str>, help: &str, required: bool) {
    let name = flags[0].trim_start_matches('-').replace('-', "_");
    let metavar = metavar.map_or_else(|| name.to_uppercase(), str::to_string);
    p.opts.push(Opt {
        flags: flags.iter().map(|f| f.to_string()).collect(),
        metavar,
        help: help.into(),
        required,
        ..Opt::default()
    });
}

fn flag(p: &mut Parser, flags: &[&str], help: &str) {
    add(p, flags, Some(""), help, false);
    p.opts.last_mut().unwrap().default = Some("false".into());
}

fn in_group(p: &mut Parser, group: usize) {
    p.opts.last_mut().unwrap().group = Some(group);
}

fn group(p: &mut Parser, title: &str, description: &str, mutex: bool) -> usize {
    p.groups.push(Group {
        title: title.into(),
        description: description.into(),
        mutex,
        required: mutex,
    });
    p.groups.len() - 1
}

fn commands(p: &mut Parser, title: &str, metavar: &str, list: &[(&str, &str)]) {
    p.commands = Some(Commands {
        title: title.into(),
        metavar: metavar.into(),
        commands: list
            .iter()
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect(),
    });
}

fn quorum() -> Parser {
    let mut p = Parser::new("kafka-metadata-quorum");
    p.default_help = true;
    p.description = "This tool describes kraft metadata quorum status.".into();
    let g = group(&mut p, "", "", true);
    add(&mut p, &["--bootstrap-server"], None, "A comma-separated list of host:port pairs to use for establishing the connection to the Kafka cluster.", false);
    in_group(&mut p, g);
    add(&mut p, &["--bootstrap-controller"], None, "A comma-separated list of host:port pairs to use for establishing the connection to the Kafka controllers.", false);
    in_group(&mut p, g);
    add(
        &mut p,
        &["--command-config"],
        None,
        "Property file containing configs to be passed to Admin Client.",
        false,
    );
    commands(
        &mut p,
        "",
        "",
        &[
            ("describe", "Describe the metadata quorum info"),
            (
                "add-controller",
                "Add a controller to the KRaft controller cluster",
            ),
            (
                "remove-controller",
                "Remove a controller from the KRaft controller cluster",
            ),
        ],
    );
    p
}

fn quorum_command(name: &str) -> Parser {
    let mut p = quorum().command_parser(name);
    match name {
        "describe" => {
            let s = group(&mut p, "Status", "", false);
            flag(&mut p, &["--status"], "A short summary of the quorum status and the other provides detailed information about the status of replication.");
            in_group(&mut p, s);
            let r = group(&mut p, "Replication", "", false);
            flag(
                &mut p,
                &["--replication"],
                "Detailed information about the status of replication",
            );
            in_group(&mut p, r);
            flag(&mut p, &["--human-readable"], "Human-readable output");
            in_group(&mut p, r);
        }
        "add-controller" => {
            flag(
                &mut p,
                &["--dry-run"],
                "True if we should print what would be done, but not do it.",
            );
        }
        _ => {
            add(
                &mut p,
                &["--controller-id", "-i"],
                None,
                "The id of the controller to remove.",
                true,
            );
            add(
                &mut p,
                &["--controller-directory-id", "-d"],
                None,
                "The directory ID of the controller to remove.",
                true,
            );
            flag(
                &mut p,
                &["--dry-run"],
                "True if we should print what would be done, but not do it.",
            );
        }
    }
    p
}

fn cluster() -> Parser {
    let mut p = Parser::new("kafka-cluster");
    p.default_help = true;
    p.description = "The Kafka cluster tool.".into();
    commands(
        &mut p,
        "",
        "",
        &[
            ("cluster-id", "Get information about the ID of a cluster."),
            ("unregister", "Unregister a broker."),
        ],
    );
    p
}

fn cluster_command(name: &str) -> Parser {
    let mut p = cluster().command_parser(name);
    let g = group(&mut p, "", "", true);
    add(
        &mut p,
        &["--bootstrap-server", "-b"],
        None,
        "A list of host/port pairs to use for establishing the connection to the Kafka cluster.",
        false,
    );
    in_group(&mut p, g);
    add(&mut p, &["--bootstrap-controller", "-C"], None, "A list of host/port pairs to use for establishing the connection to the KRaft controllers.", false);
    in_group(&mut p, g);
    add(
        &mut p,
        &["--config", "-c"],
        None,
        "A property file containing configurations for the Admin client.",
        false,
    );
    if name == "unregister" {
        add(
            &mut p,
            &["--id", "-i"],
            None,
            "The ID of the broker to unregister.",
            true,
        );
    }
    p
}

fn transactions() -> Parser {
    let mut p = Parser::new("kafka-transactions.sh");
    p.description = "This tool is used to analyze the transactional state of producers in the cluster. It can be used to detect and recover from hanging transactions.".into();
    add(
        &mut p,
        &["-v", "--version"],
        Some(""),
        "show the version of this Kafka distribution and exit",
        false,
    );
    add(
        &mut p,
        &["--command-config"],
        Some("FILE"),
        "property file containing configs to be passed to admin client",
        false,
    );
    add(&mut p, &["--bootstrap-server"], Some("host:port"), "hostname and port for the broker to connect to, in the form `host:port`  (multiple comma-separated entries can be given)", true);
    commands(
        &mut p,
        "commands",
        "COMMAND",
        &[
            ("list", "list transactions"),
            (
                "describe",
                "describe the state of an active transactional-id",
            ),
            (
                "describe-producers",
                "describe the states of active producers for a topic partition",
            ),
            (
                "abort",
                "abort a hanging transaction (requires administrative privileges)",
            ),
            ("find-hanging", "find hanging transactions"),
        ],
    );
    p
}

fn transactions_command(name: &str) -> Parser {
    let mut p = transactions().command_parser(name);
    match name {
        "list" => add(&mut p, &["--duration-filter"], None, "Duration (in millis) to filter by: if < 0, all transactions will be returned; otherwise, only transactions running longer than this duration will be returned", false),
        "describe" => {
            p.description = "Describe the state of an active transactional-id.".into();
            add(&mut p, &["--transactional-id"], None, "transactional id", true);
        }
        "describe-producers" => {
            add(&mut p, &["--broker-id"], None, "optional broker id to describe the producer state on a specific replica", false);
            add(&mut p, &["--topic"], None, "topic name", true);
            add(&mut p, &["--partition"], None, "partition number", true);
        }
        "abort" => {
            add(&mut p, &["--topic"], None, "topic name", true);
            add(&mut p, &["--partition"], None, "partition number", true);
            let n = group(&mut p, "Brokers on versions 3.0 and above", "For newer brokers, only the start offset of the transaction to be aborted is required", false);
            add(&mut p, &["--start-offset"], None, "start offset of the transaction to abort", false);
            in_group(&mut p, n);
            let o = group(&mut p, "Brokers on versions older than 3.0", "For older brokers, you must provide all of these arguments", false);
            for (f, h) in [("--producer-id", "producer id"), ("--producer-epoch", "producer epoch"), ("--coordinator-epoch", "coordinator epoch")] {
                add(&mut p, &[f], None, h, false);
                in_group(&mut p, o);
            }
        }
        _ => {
            add(&mut p, &["--broker-id"], None, "broker id to search for hanging transactions", false);
            add(&mut p, &["--max-transaction-timeout"], None, "maximum transaction timeout in minutes to limit the scope of the search (15 minutes by default)", false);
            p.opts.last_mut().unwrap().default = Some("15".into());
            add(&mut p, &["--topic"], None, "topic name to limit search to (required if --partition is specified)", false);
            add(&mut p, &["--partition"], None, "partition number", false);
        }
    }
    p
}

fn producer_perf() -> Parser {
    let mut p = Parser::new("producer-performance");
    p.default_help = true;
    p.description = "This tool is used to verify the producer performance. To enable transactions, you can specify a transaction id or set a transaction duration using --transaction-duration-ms. There are three ways to specify the transaction id: set transaction.id=<id> via --producer-props, set transaction.id=<id> in the config file via --producer.config, or use --transaction-id <id>.".into();
    let payload = group(
        &mut p,
        "",
        "either --record-size or --payload-file must be specified but not both.",
        true,
    );
    add(
        &mut p,
        &["--topic"],
        Some("TOPIC"),
        "produce messages to this topic",
        true,
    );
    add(
        &mut p,
        &["--num-records"],
        Some("NUM-RECORDS"),
        "number of messages to produce",
        true,
    );
    add(&mut p, &["--record-size"], Some("RECORD-SIZE"), "message size in bytes. Note that you must provide exactly one of --record-size or --payload-file or --payload-monotonic.", false);
    in_group(&mut p, payload);
    add(&mut p, &["--payload-file"], Some("PAYLOAD-FILE"), "file to read the message payloads from. This works only for UTF-8 encoded text files. Payloads will be read from this file and a payload will be randomly selected when sending messages. Note that you must provide exactly one of --record-size or --payload-file or --payload-monotonic.", false);
    in_group(&mut p, payload);
    flag(&mut p, &["--payload-monotonic"], "payload is monotonically increasing integer. Note that you must provide exactly one of --record-size or --payload-file or --payload-monotonic.");
    in_group(&mut p, payload);
    add(&mut p, &["--payload-delimiter"], Some("PAYLOAD-DELIMITER"), "provides delimiter to be used when --payload-file is provided. Defaults to new line. Note that this parameter will be ignored if --payload-file is not provided.", false);
    p.opts.last_mut().unwrap().default = Some("\\n".into());
    add(&mut p, &["--throughput"], Some("THROUGHPUT"), "throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this to -1 to disable throttling.", true);
    add(&mut p, &["--producer-props"], Some("PROP-NAME=PROP-VALUE [PROP-NAME=PROP-VALUE ...]"), "kafka producer related configuration properties like bootstrap.servers,client.id etc. These configs take precedence over those passed via --producer.config.", false);
    add(
        &mut p,
        &["--producer.config"],
        Some("CONFIG-FILE"),
        "producer config properties file.",
        false,
    );
    flag(
        &mut p,
        &["--print-metrics"],
        "print out metrics at the end of the test.",
    );
    add(&mut p, &["--transactional-id"], Some("TRANSACTIONAL-ID"), "The transactional id to use. This config takes precedence over the transactional.id specified via --producer.config or --producer-props. Note that if the transactional id is not specified while --transaction-duration-ms is provided, the default value for the transactional id will be performance-producer- followed by a random uuid.", false);
    add(&mut p, &["--transaction-duration-ms"], Some("TRANSACTION-DURATION"), "The max age of each transaction. The commitTransaction will be called after this time has elapsed. The value should be greater than 0. If the transactional id is specified via --producer-props, --producer.config, or --transactional-id but --transaction-duration-ms is not specified, the default value will be 3000.", false);
    p
}

/// Kafka's definitions of the four tools and their commands, by recording name.
pub fn kafka_parsers() -> Vec<(String, Parser)> {
    let mut out = vec![
        ("metadata-quorum".to_string(), quorum()),
        ("cluster".to_string(), cluster()),
        ("transactions".to_string(), transactions()),
        ("producer-perf-test".to_string(), producer_perf()),
    ];
    for c in ["describe", "add-controller", "remove-controller"] {
        out.push((format!("metadata-quorum-{c}"), quorum_command(c)));
    }
    for c in ["cluster-id", "unregister"] {
        out.push((format!("cluster-{c}"), cluster_command(c)));
    }
    for c in [
        "list",
        "describe",
        "describe-producers",
        "abort",
        "find-hanging",
    ] {
        out.push((format!("transactions-{c}"), transactions_command(c)));
    }
    out
}

#[test]
fn every_help_is_laid_out_as_argparse4j_lays_out_kafkas_definitions() {
    for (name, parser) in kafka_parsers() {
        assert_eq!(parser.help(WIDTH), fixture(&name), "{name}");
    }
}

#[test]
fn usage_errors_read_as_argparse4j_writes_them() {
    let cases: Vec<(&str, Parser, String)> = vec![
        (
            "err-cluster-no-command",
            cluster(),
            "too few arguments".into(),
        ),
        (
            "err-cluster-missing-connection",
            cluster_command("cluster-id"),
            "one of the arguments --bootstrap-server/-b --bootstrap-controller/-C is required"
                .into(),
        ),
        (
            "err-cluster-bad-integer",
            cluster_command("unregister"),
            "argument --id/-i: could not convert 'three' to Integer (For input string: \"three\")"
                .into(),
        ),
        (
            "err-cluster-bad-command",
            cluster(),
            "invalid choice: 'bogus' (choose from 'cluster-id', 'unregister')".into(),
        ),
        (
            "err-cluster-unknown-flag",
            cluster_command("cluster-id"),
            "unrecognized arguments: '--bogus'".into(),
        ),
        (
            "err-cluster-missing-value",
            cluster_command("unregister"),
            "argument --id/-i: expected one argument".into(),
        ),
        (
            "err-transactions-missing-bootstrap",
            transactions(),
            "argument --bootstrap-server is required".into(),
        ),
        (
            "err-transactions-describe-missing",
            transactions_command("describe"),
            "argument --transactional-id is required".into(),
        ),
        (
            "err-metadata-quorum-unknown-flag",
            quorum_command("describe"),
            "unrecognized arguments: '--bogus'".into(),
        ),
        (
            "err-producer-perf-test-conflict",
            producer_perf(),
            "argument --payload-monotonic: not allowed with argument --record-size".into(),
        ),
        (
            "err-producer-perf-test-missing-payload",
            producer_perf(),
            "one of the arguments --record-size --payload-file --payload-monotonic is required"
                .into(),
        ),
    ];
    for (name, parser, message) in cases {
        assert_eq!(parser.error(&message, WIDTH), fixture(name), "{name}");
    }
}
