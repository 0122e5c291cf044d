//! The tools' error type and how a failure is reported: one line on stderr.

use clap::Subcommand;
use kavka_client::ClientError;

/// Why a tool stopped.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The command line is wrong (reported with the usage line, as Kafka does).
    #[error("{0}")]
    Usage(String),
    /// A client call failed: unreachable broker, timeout, or a Kafka error code (its name and
    /// the broker's message).
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Failed(String),
    /// A failure the tool has already printed in Kafka's words: nothing more is printed, the
    /// exit code is 1.
    #[error("failed")]
    Reported,
}

impl ToolError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> ToolError {
        ToolError::Usage(message.into())
    }

    /// A run-time failure phrased for the user.
    pub fn failed(message: impl Into<String>) -> ToolError {
        ToolError::Failed(message.into())
    }
}

/// The usage line of a tool (`Usage: kavka topics [OPTIONS]`).
pub(crate) fn usage(tool: &str) -> String {
    let mut cmd = crate::Tool::augment_subcommands(clap::Command::new("kavka"));
    cmd.build();
    match cmd.find_subcommand_mut(tool) {
        Some(sub) => sub.render_usage().to_string(),
        None => String::new(),
    }
}

/// Prints a failure: one line naming the tool and the reason. A usage error of a tool that
/// Kafka parses with joptsimple prints Kafka's message and the option table (as Kafka's
/// `printUsageAndExit`); of the others, the reason, the usage line and a hint.
pub(crate) fn report(tool: &str, err: &ToolError) {
    if let ToolError::Reported = err {
        return;
    }
    let text = err.to_string();
    // One line: a multi-line message (a broker's message may hold newlines) is joined.
    let line = text
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ");
    if let ToolError::Usage(_) = err {
        // Kafka's argparse4j tools print a check's message alone (`TerseException`).
        if crate::argparse_tools::is_argparse_tool(tool) {
            eprintln!("{line}");
            return;
        }
        if crate::help::JOPT_TOOLS.contains(&tool) {
            eprintln!("{line}");
            eprint!("{}", crate::help::option_table(tool));
            return;
        }
    }
    eprintln!("kavka {tool}: {line}");
    if let ToolError::Usage(_) = err {
        let usage = usage(tool);
        if !usage.is_empty() {
            eprintln!("{usage}");
            eprintln!("For more information, try 'kavka {tool} --help'.");
        }
    }
}

/// joptsimple's message for a command-line mistake (`bogus is not a recognized option`,
/// `Option partitions requires an argument`, `Cannot parse argument 'x' of option partitions`).
pub(crate) fn jopt_message(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    // `--partitions <Integer: # of partitions>` -> `partitions`
    let option = |s: String| {
        s.split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_start_matches('-')
            .to_string()
    };
    match err.kind() {
        ErrorKind::UnknownArgument => {
            if let Some(arg) = context(ContextKind::InvalidArg) {
                return format!("{} is not a recognized option", option(arg));
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let arg = context(ContextKind::InvalidArg).map(option);
            let value = context(ContextKind::InvalidValue);
            match (arg, value) {
                (Some(arg), Some(v)) if v.is_empty() => {
                    return format!("Option {arg} requires an argument")
                }
                (Some(arg), Some(v)) => {
                    return format!("Cannot parse argument '{v}' of option {arg}")
                }
                _ => {}
            }
        }
        ErrorKind::ArgumentConflict => {
            if let (Some(a), Some(b)) = (
                context(ContextKind::InvalidArg).map(option),
                context(ContextKind::PriorArg).map(option),
            ) {
                return format!("Option \"[{b}]\" can't be used with option \"[{a}]\"");
            }
        }
        _ => {}
    }
    clap_message(err)
}

/// clap's own one-line message for a parse error (`unexpected argument '--x' found`).
pub(crate) fn clap_message(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default().to_string();
    first
        .strip_prefix("error: ")
        .map(str::to_string)
        .unwrap_or(first)
}
