//! The tools' help in the layout of Kafka's option parser (joptsimple's built-in help
//! formatter), so `kavka topics --help` reads like `kafka-topics.sh --help`:
//!
//! ```text
//! This tool helps to create, delete, describe, or change a topic.
//! Option                                   Description
//! ------                                   -----------
//! --bootstrap-server <String: server to    REQUIRED: The Kafka server to connect
//!   connect to>                              to.
//! ```
//!
//! Rows are sorted by option name; the option column is at most half of 80 columns less the
//! 2-column separator, the description takes the rest; a piece that does not fit wraps at a
//! space or after a hyphen, continued two columns in; every cell is padded to its column's
//! width (as joptsimple does). An option's argument shows as `<Type: description>` (`[...]`
//! when the argument is optional): the type comes from the clap value name when it starts
//! with a Java type name and a colon (`Integer: # of partitions`), `String` otherwise.

use clap::{Arg, ArgAction, Command, Subcommand};

/// The overall width of a help line and the gap between the two columns.
const WIDTH_COLUMNS: usize = 80;
const SEPARATOR_COLUMNS: usize = 2;
/// How far a wrapped piece is indented within its column.
const INDENT_COLUMNS: usize = 2;

/// The Java type names a value name may start with (`Long: timeout (ms)`).
const TYPE_NAMES: &[&str] = &["Integer", "Long", "Double", "Boolean", "Short", "String"];

/// The tools whose Kafka counterpart parses its flags with joptsimple (four others use
/// argparse4j: `argparse_help`).
pub const JOPT_TOOLS: &[&str] = &[
    "topics",
    "console-producer",
    "console-consumer",
    "consumer-groups",
    "configs",
    "broker-api-versions",
    "get-offsets",
    "delete-records",
    "consumer-perf-test",
    "dump-log",
    "leader-election",
    "reassign-partitions",
    "install-shims",
];

/// The line a Kafka tool prints above its option table.
fn message(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "topics" => "This tool helps to create, delete, describe, or change a topic.",
        "console-producer" => {
            "This tool helps to read data from standard input and publish it to Kafka."
        }
        "console-consumer" => {
            "This tool helps to read data from Kafka topics and outputs it to standard output."
        }
        "consumer-groups" => {
            "This tool helps to list all consumer groups, describe a consumer group, delete \
             consumer group info, or reset consumer group offsets."
        }
        "configs" => {
            "This tool helps to manipulate and describe entity config for a topic, client, \
             user, broker, ip or client-metrics"
        }
        "broker-api-versions" => "This tool helps to retrieve broker version information.",
        "get-offsets" => "An interactive shell for getting topic-partition offsets.",
        "delete-records" => {
            "This tool helps to delete records of the given partitions down to the specified \
             offset."
        }
        "consumer-perf-test" => {
            "This tool helps in performance test for the full zookeeper consumer"
        }
        "dump-log" => {
            "This tool helps to parse a log file and dump its contents to the console, \
             useful for debugging a seemingly corrupt log segment."
        }
        "leader-election" => {
            "This tool attempts to elect a new leader for a set of topic partitions. The type \
             of elections supported are preferred replicas and unclean replicas."
        }
        "reassign-partitions" => "This tool helps to move topic partitions between replicas.",
        _ => return None,
    })
}

/// The full help of a tool: its message line and the option table (what Kafka's tools print
/// for `--help` or no arguments at all).
pub fn render(tool: &str) -> String {
    let about = message(tool).map(str::to_string).unwrap_or_else(|| {
        with_command(tool, |sub| sub.get_about().map(|a| a.to_string()))
            .flatten()
            .unwrap_or_default()
    });
    format!("{about}\n{}", option_table(tool))
}

/// A tool's option table alone (what Kafka's tools print under a usage error).
pub fn option_table(tool: &str) -> String {
    with_command(tool, table).unwrap_or_default()
}

fn with_command<T>(tool: &str, f: impl FnOnce(&Command) -> T) -> Option<T> {
    let mut cmd = crate::Tool::augment_subcommands(Command::new("kavka"));
    cmd.build();
    cmd.find_subcommand(tool).map(f)
}

/// The option table of a command.
pub fn table(cmd: &Command) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new(); // (sort key, option, description)
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() {
            continue;
        }
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let Some((key, option)) = option_cell(arg) else {
            continue;
        };
        rows.push((key, option, description_cell(arg)));
    }
    rows.push((
        "help".into(),
        "--help".into(),
        "Print usage information.".into(),
    ));
    rows.push((
        "version".into(),
        "--version".into(),
        "Display Kafka version.".into(),
    ));
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut cells = vec![
        ("Option".to_string(), "Description".to_string()),
        ("------".to_string(), "-----------".to_string()),
    ];
    cells.extend(rows.into_iter().map(|(_, o, d)| (o, d)));
    layout(&cells)
}

/// The option cell (`-b, --bootstrap-server <String: server to connect to>`) and the name the
/// rows are sorted by (the first name, without dashes).
fn option_cell(arg: &Arg) -> Option<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    for alias in arg.get_visible_aliases().unwrap_or_default() {
        names.push(format!("--{alias}"));
    }
    let key = names.first()?.trim_start_matches('-').to_string();
    let mut cell = names.join(", ");
    if takes_value(arg) {
        let name = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map(|s| s.to_string())
            .unwrap_or_default();
        let typed = match name.split_once(": ") {
            Some((t, _)) if TYPE_NAMES.contains(&t) => name.clone(),
            _ if TYPE_NAMES.contains(&name.as_str()) => name.clone(),
            _ if name.is_empty() => "String".to_string(),
            _ => format!("String: {name}"),
        };
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        if optional {
            cell.push_str(&format!(" [{typed}]"));
        } else {
            cell.push_str(&format!(" <{typed}>"));
        }
    }
    Some((key, cell))
}

fn takes_value(arg: &Arg) -> bool {
    !matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Help
    ) && arg.get_num_args().is_none_or(|n| n.takes_values())
}

/// The description: the help text as Kafka words it (clap drops the final period of a
/// one-paragraph doc comment: it is put back) and the default value, if any.
fn description_cell(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // clap drops the final period of a one-paragraph doc comment (not of `used.)`).
    if arg.get_long_help().is_none()
        && text.ends_with(|c: char| c.is_alphanumeric() || c == ')' || c == '\'' || c == '"')
        && !text.ends_with(".)")
    {
        text.push('.');
    }
    if !takes_value(arg) {
        return text;
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    match defaults.len() {
        0 => text,
        1 => format!("{text} (default: {})", defaults[0])
            .trim()
            .to_string(),
        _ => format!("{text} (default: [{}])", defaults.join(", "))
            .trim()
            .to_string(),
    }
}

/// Lays the cells out in two columns, as joptsimple's `Rows`: column widths fitted to the
/// widest cell, within the overall width; every line padded to both widths.
pub fn layout(cells: &[(String, String)]) -> String {
    let widest_option = cells.iter().map(|c| c.0.chars().count()).max().unwrap_or(0);
    let widest_description = cells.iter().map(|c| c.1.chars().count()).max().unwrap_or(0);
    let option_columns = widest_option.min((WIDTH_COLUMNS - SEPARATOR_COLUMNS) / 2);
    let description_columns =
        widest_description.min(WIDTH_COLUMNS - option_columns - SEPARATOR_COLUMNS);
    let mut lines: Vec<(String, String)> = Vec::new();
    for (option, description) in cells {
        let o = pieces(option, option_columns);
        let d = pieces(description, description_columns);
        for i in 0..o.len().max(d.len()) {
            lines.push((
                o.get(i).cloned().unwrap_or_default(),
                d.get(i).cloned().unwrap_or_default(),
            ));
        }
    }
    // The widths are measured again over the wrapped pieces, as joptsimple renders them.
    let option_columns = lines.iter().map(|l| l.0.chars().count()).max().unwrap_or(0);
    let option_columns = option_columns.min((WIDTH_COLUMNS - SEPARATOR_COLUMNS) / 2);
    let widest_description = lines.iter().map(|l| l.1.chars().count()).max().unwrap_or(0);
    let description_columns =
        widest_description.min(WIDTH_COLUMNS - option_columns - SEPARATOR_COLUMNS);
    let mut out = String::new();
    for (o, d) in lines {
        out.push_str(&pad(&o, option_columns));
        out.push_str(&" ".repeat(SEPARATOR_COLUMNS));
        out.push_str(&pad(&d, description_columns));
        out.push('\n');
    }
    out
}

fn pad(s: &str, columns: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(columns.saturating_sub(n)))
}

/// Splits one cell's text into pieces of at most `columns` (a single word longer than that
/// stays whole), breaking where Java's line breaker (which joptsimple uses) may break: after
/// spaces, after a hyphen that follows a letter or a hyphen and precedes a letter
/// (`kafka-configs`, `--` before `bootstrap-server`) but never before a digit (`-1`), and
/// after a colon before a digit.
fn pieces(text: &str, columns: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.trim().split('\n') {
        let mut piece = String::new();
        for word in words(line) {
            if piece.chars().count() + word.chars().count() > columns {
                out.push(piece.trim_end().to_string());
                piece = " ".repeat(INDENT_COLUMNS);
            }
            piece.push_str(word);
        }
        if !piece.is_empty() {
            out.push(piece);
        }
    }
    out
}

/// The words of a line, each with the spaces after it.
pub(crate) fn words(line: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &(at, c)) in chars.iter().enumerate() {
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let end = at + c.len_utf8();
        let breaks = match next {
            None => true,
            Some(n) if c == ' ' => n != ' ',
            Some(n) if c == '-' => {
                let previous = i.checked_sub(1).map(|p| chars[p].1);
                n.is_alphabetic() && previous.is_some_and(|p| p.is_alphanumeric() || p == '-')
            }
            // Java's line breaker also breaks between a colon and a digit (`localhost:` `9092`).
            Some(n) if c == ':' => n.is_ascii_digit(),
            Some(_) => false,
        };
        if breaks {
            out.push(&line[start..end]);
            start = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_option_wraps_with_its_continuation_indented_and_every_line_padded() {
        let cells = vec![
            ("Option".to_string(), "Description".to_string()),
            ("------".to_string(), "-----------".to_string()),
            (
                "--bootstrap-server <String: server to connect to>".to_string(),
                "REQUIRED: The Kafka server to connect to.".to_string(),
            ),
        ];
        let text = layout(&cells);
        let lines: Vec<&str> = text.lines().collect();
        // First fit: option 39 columns, description 80 - 39 - 2 = 39, so both wrap; then the
        // columns shrink to their widest pieces (37 and 37), as joptsimple renders them.
        assert_eq!(lines[0], format!("{:<39}{:<37}", "Option", "Description"));
        assert_eq!(
            lines[2],
            "--bootstrap-server <String: server to  REQUIRED: The Kafka server to connect"
        );
        assert_eq!(lines[3], format!("{:<39}{:<37}", "  connect to>", "  to."));
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn a_line_breaks_after_a_hyphen_before_a_letter_but_not_before_a_digit() {
        assert_eq!(
            words("the kafka-configs CLI"),
            vec!["the ", "kafka-", "configs ", "CLI"]
        );
        assert_eq!(
            words("a --bootstrap-server"),
            vec!["a ", "--", "bootstrap-", "server"]
        );
        assert_eq!(words("(default: -1)"), vec!["(default: ", "-1)"]);
    }

    #[test]
    fn narrow_cells_shrink_the_columns_to_their_widest_cell() {
        let cells = vec![
            ("--a".to_string(), "x".to_string()),
            ("--bb".to_string(), "yy".to_string()),
        ];
        assert_eq!(layout(&cells), "--a   x \n--bb  yy\n");
    }
}
