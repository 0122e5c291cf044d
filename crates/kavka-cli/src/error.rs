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

/// Prints a failure: one line naming the tool and the reason; usage errors add the usage line
/// and a hint, as Kafka's tools print their usage.
pub(crate) fn report(tool: &str, err: &ToolError) {
    let text = err.to_string();
    // One line: a multi-line message (a broker's message may hold newlines) is joined.
    let line = text
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("kavka {tool}: {line}");
    if let ToolError::Usage(_) = err {
        let usage = usage(tool);
        if !usage.is_empty() {
            eprintln!("{usage}");
            eprintln!("For more information, try 'kavka {tool} --help'.");
        }
    }
}
