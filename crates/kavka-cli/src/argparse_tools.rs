//! The four tools Kafka parses with argparse4j: their parser model built from the clap
//! definitions (plus what clap cannot hold: Kafka's program name, description, group
//! descriptions), which command of a tool a command line reached, and argparse4j's message
//! for a clap parse error.

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, Subcommand};

use std::process::ExitCode;

use crate::argparse_help::{self, Commands, Group, Opt, Parser};

/// What clap does not hold of a tool's Kafka parser.
struct Spec {
    tool: &'static str,
    /// The program name Kafka's usage line shows.
    prog: &'static str,
    description: &'static str,
    /// Whether the tool's own help texts end with `(default: ...)` (its commands' do not).
    default_help: bool,
    commands_title: &'static str,
    commands_metavar: &'static str,
    /// Group descriptions, by clap group id or help heading.
    group_descriptions: &'static [(&'static str, &'static str)],
}

const SPECS: &[Spec] = &[
    Spec {
        tool: "metadata-quorum",
        prog: "kafka-metadata-quorum",
        description: "This tool describes kraft metadata quorum status.",
        default_help: true,
        commands_title: "",
        commands_metavar: "",
        group_descriptions: &[],
    },
    Spec {
        tool: "cluster",
        prog: "kafka-cluster",
        description: "The Kafka cluster tool.",
        default_help: true,
        commands_title: "",
        commands_metavar: "",
        group_descriptions: &[],
    },
    Spec {
        tool: "transactions",
        prog: "kafka-transactions.sh",
        description: "This tool is used to analyze the transactional state of producers in the \
                      cluster. It can be used to detect and recover from hanging transactions.",
        default_help: false,
        commands_title: "commands",
        commands_metavar: "COMMAND",
        group_descriptions: &[
            (
                "Brokers on versions 3.0 and above",
                "For newer brokers, only the start offset of the transaction to be aborted is \
                 required",
            ),
            (
                "Brokers on versions older than 3.0",
                "For older brokers, you must provide all of these arguments",
            ),
        ],
    },
    Spec {
        tool: "producer-perf-test",
        prog: "producer-performance",
        description: "This tool is used to verify the producer performance. To enable \
                      transactions, you can specify a transaction id or set a transaction \
                      duration using --transaction-duration-ms. There are three ways to specify \
                      the transaction id: set transaction.id=<id> via --producer-props, set \
                      transaction.id=<id> in the config file via --producer.config, or use \
                      --transaction-id <id>.",
        default_help: true,
        commands_title: "",
        commands_metavar: "",
        group_descriptions: &[(
            "payload",
            "either --record-size or --payload-file must be specified but not both.",
        )],
    },
];

/// Whether Kafka parses this tool's command line with argparse4j.
pub fn is_argparse_tool(tool: &str) -> bool {
    SPECS.iter().any(|s| s.tool == tool)
}

fn spec(tool: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.tool == tool)
}

fn tool_command(tool: &str) -> Option<Command> {
    let mut cmd = crate::Tool::augment_subcommands(Command::new("kavka"));
    cmd.build();
    cmd.find_subcommand(tool).cloned()
}

/// The parser of `tool`, or of its `command`.
pub fn parser(tool: &str, command: Option<&str>) -> Option<Parser> {
    let spec = spec(tool)?;
    let cmd = tool_command(tool)?;
    let mut top = Parser::new(spec.prog);
    top.description = spec.description.to_string();
    top.default_help = spec.default_help;
    add_args(&mut top, &cmd, spec);
    let commands: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect();
    if !commands.is_empty() {
        top.commands = Some(Commands {
            title: spec.commands_title.to_string(),
            metavar: spec.commands_metavar.to_string(),
            commands,
        });
    }
    let Some(name) = command else {
        return Some(top);
    };
    let sub_cmd = cmd.find_subcommand(name)?;
    let mut sub = top.command_parser(name);
    if let Some(d) = sub_cmd.get_long_about() {
        sub.description = d.to_string();
    }
    add_args(&mut sub, sub_cmd, spec);
    Some(sub)
}

fn add_args(p: &mut Parser, cmd: &Command, spec: &Spec) {
    let description = |key: &str| {
        spec.group_descriptions
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(String::new(), |(_, d)| d.to_string())
    };
    // Mutually exclusive groups, in declaration order.
    let mut mutex: Vec<(String, Vec<String>)> = Vec::new();
    for g in cmd.get_groups() {
        let mut g = g.clone();
        if g.is_multiple() {
            continue;
        }
        let id = g.get_id().to_string();
        let members = g.get_args().map(|a| a.to_string()).collect();
        p.groups.push(Group {
            title: String::new(),
            description: description(&id),
            mutex: true,
            required: g.is_required_set(),
        });
        mutex.push((id, members));
    }
    let first_mutex = p.groups.len() - mutex.len();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let version = id == "version" && arg.get_short() == Some('v');
        if arg.is_positional() || arg.is_hide_set() || id == "help" || (id == "version" && !version)
        {
            continue;
        }
        let mut opt = opt(arg, version);
        if let Some(i) = mutex.iter().position(|(_, m)| m.iter().any(|a| a == id)) {
            opt.group = Some(first_mutex + i);
        } else if let Some(heading) = arg.get_help_heading() {
            let at = p.groups.iter().position(|g| !g.mutex && g.title == heading);
            opt.group = Some(at.unwrap_or_else(|| {
                p.groups.push(Group {
                    title: heading.to_string(),
                    description: description(heading),
                    mutex: false,
                    required: false,
                });
                p.groups.len() - 1
            }));
        }
        p.opts.push(opt);
    }
}

fn opt(arg: &Arg, version: bool) -> Opt {
    let mut flags = Vec::new();
    if let Some(l) = arg.get_long() {
        flags.push(format!("--{l}"));
    }
    if let Some(s) = arg.get_short() {
        flags.push(format!("-{s}"));
    }
    if version {
        flags.reverse();
    }
    let takes_value = !matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Version
    );
    let metavar = if takes_value {
        let name = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.to_string());
        match arg.get_num_args() {
            Some(n) if n.max_values() > 1 => format!("{name} [{name} ...]"),
            _ => name,
        }
    } else {
        String::new()
    };
    let default = arg
        .get_default_values()
        .first()
        .map(|v| v.to_string_lossy().into_owned());
    Opt {
        flags,
        metavar,
        help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        default: default.filter(|_| !version),
        required: arg.is_required_set(),
        group: None,
    }
}

/// Reports a parse error of an argparse4j tool as Kafka's does: `--help` prints the help of
/// the parser the command line reached (stdout, exit code 0), `--version` the version; a
/// mistake prints that parser's usage and argparse4j's message (stderr, exit code 1).
pub fn report_parse_error(err: &clap::Error, tool: &str, args: &[String]) -> ExitCode {
    let reached = reached_command(tool, args);
    let mut command = reached.clone();
    // A required argument of the tool itself missing after a command: argparse4j reports it
    // against the tool's parser.
    if err.kind() == ErrorKind::MissingRequiredArgument {
        let missing = missing_flag(err);
        let top = parser(tool, None);
        if top.is_some_and(|t| t.opt(&missing).is_some_and(|o| o.required)) {
            command = None;
        }
    }
    let width = argparse_help::width();
    let Some(parser) = parser(tool, command.as_deref()) else {
        let _ = err.print();
        return ExitCode::FAILURE;
    };
    match err.kind() {
        ErrorKind::DisplayHelp => {
            out!("{}", parser.help(width));
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayVersion => {
            outln!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            let text = parser.error(&message(err, tool, reached.as_deref(), args), width);
            eprint!("{text}");
            ExitCode::FAILURE
        }
    }
}

/// Which command of `tool` the command line (the arguments after the tool's name) reached,
/// walking it as argparse4j does: a flag that takes a value consumes the next argument.
pub fn reached_command(tool: &str, args: &[String]) -> Option<String> {
    let cmd = tool_command(tool)?;
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            // An unknown flag stops argparse4j where it stands; a long flag may be abbreviated.
            let known = |x: &Arg| match a.strip_prefix("--") {
                Some(long) => {
                    let name = long.split('=').next().unwrap_or(long);
                    x.get_long().is_some_and(|l| l.starts_with(name))
                }
                None => a.len() == 2 && x.get_short() == a.chars().nth(1),
            };
            let arg = cmd.get_arguments().find(|x| known(x))?;
            skip = takes_value(arg) && !a.contains('=');
            continue;
        }
        if cmd.find_subcommand(a).is_some() {
            return Some(a.clone());
        }
        return None;
    }
    None
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
}

/// argparse4j's message for a clap parse error of `tool` whose command line reached `command`.
pub fn message(err: &clap::Error, tool: &str, command: Option<&str>, args: &[String]) -> String {
    let Some(parser) = parser(tool, command) else {
        return crate::error::clap_message(err);
    };
    let parser = &parser;
    let cmd = tool_command(tool);
    let cmd = match command {
        Some(c) => cmd.and_then(|t| t.find_subcommand(c).cloned()),
        None => cmd,
    };
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    // An argument of the command, or of the tool above it.
    let find = |f: &str| parser.opt(f).or_else(|| parser.upper.as_ref()?.opt(f));
    let named = |s: &str| {
        let f = flag_of(s);
        find(&f).map_or(f, Opt::name)
    };
    let missing_command = parser.commands.is_some() && command.is_none();
    match err.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "too few arguments".into()
        }
        ErrorKind::MissingRequiredArgument if missing_command => "too few arguments".into(),
        ErrorKind::MissingRequiredArgument => {
            let flag = missing_flag(err);
            let owner = match (parser.opt(&flag), &parser.upper) {
                (None, Some(upper)) => upper.as_ref(),
                _ => parser,
            };
            let Some(opt) = owner.opt(&flag) else {
                return format!("argument {flag} is required");
            };
            match opt.group.filter(|&g| owner.groups[g].mutex) {
                Some(g) => {
                    let names: Vec<String> = owner
                        .opts
                        .iter()
                        .filter(|o| o.group == Some(g))
                        .map(Opt::name)
                        .collect();
                    format!("one of the arguments {} is required", names.join(" "))
                }
                None => format!("argument {} is required", opt.name()),
            }
        }
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg).unwrap_or_default();
            format!("unrecognized arguments: '{arg}'")
        }
        ErrorKind::InvalidSubcommand => {
            let given = context(ContextKind::InvalidSubcommand).unwrap_or_default();
            let choices: Vec<String> = parser
                .commands
                .iter()
                .flat_map(|c| c.commands.iter().map(|(n, _)| format!("'{n}'")))
                .collect();
            format!(
                "invalid choice: '{given}' (choose from {})",
                choices.join(", ")
            )
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let arg = context(ContextKind::InvalidArg).unwrap_or_default();
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            if value.is_empty() {
                return format!("argument {}: expected one argument", named(&arg));
            }
            let java_type = java_type(cmd.as_ref(), &flag_of(&arg));
            format!(
                "argument {}: could not convert '{value}' to {java_type} (For input string: \"{value}\")",
                named(&arg)
            )
        }
        ErrorKind::ArgumentConflict => {
            let a = flag_of(&context(ContextKind::InvalidArg).unwrap_or_default());
            let b = flag_of(&context(ContextKind::PriorArg).unwrap_or_default());
            // argparse4j names the later of the two on the command line first.
            let at = |f: &str| {
                args.iter()
                    .rposition(|x| x == f || x.starts_with(&format!("{f}=")))
            };
            let (later, prior) = if at(&a) >= at(&b) { (a, b) } else { (b, a) };
            format!(
                "argument {}: not allowed with argument {}",
                named(&later),
                named(&prior)
            )
        }
        _ => crate::error::clap_message(err),
    }
}

/// The first flag of the first missing argument of a MissingRequiredArgument error.
fn missing_flag(err: &clap::Error) -> String {
    let first = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(v)) => v.first().cloned().unwrap_or_default(),
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    flag_of(&first)
}

/// `--id <ID>` or `<--a <A>|--b <B>>` -> the first flag.
fn flag_of(s: &str) -> String {
    s.split([' ', '|', '<', '='])
        .find(|w| w.starts_with('-'))
        .unwrap_or_default()
        .to_string()
}

/// The Java type Kafka declares for an argument, from the Rust type clap parses it into.
fn java_type(cmd: Option<&Command>, flag: &str) -> &'static str {
    let Some(arg) = cmd.and_then(|c| {
        c.get_arguments()
            .find(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
    }) else {
        return "String";
    };
    let id = arg.get_value_parser().type_id();
    let is = |v: ValueParser| v.type_id() == id;
    if is(clap::value_parser!(i64).into()) || is(clap::value_parser!(u64).into()) {
        "Long"
    } else if is(clap::value_parser!(f64).into()) {
        "Double"
    } else if is(clap::value_parser!(i16).into()) {
        "Short"
    } else if is(clap::value_parser!(String)) {
        "String"
    } else {
        "Integer"
    }
}
