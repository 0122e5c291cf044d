//! The help and usage errors of the tools that Kafka parses with argparse4j
//! (`kafka-metadata-quorum`, `kafka-transactions.sh`, `kafka-cluster`,
//! `kafka-producer-perf-test.sh`), in argparse4j's layout:
//!
//! ```text
//! usage: kafka-cluster unregister [-h] [--config CONFIG] --id ID
//!                      (--bootstrap-server BOOTSTRAP_SERVER |
//!                      --bootstrap-controller BOOTSTRAP_CONTROLLER)
//!
//! optional arguments:
//!   -h, --help             show this help message and exit
//!   --id ID, -i ID         The ID of the broker to unregister.
//! ```
//!
//! A usage line lists the flags in declaration order, then the mutually exclusive groups, then
//! the commands; it wraps before an item that would pass the width, continued under the
//! program name. Help texts start at column 25 (on the next line when the flags take more than
//! 21 columns) and wrap where Java's line breaker may break; every wrapped line is justified:
//! the spaces it lacks are shared among its gaps, the odd ones to the middle gaps. The width is
//! 75 columns, or `COLUMNS` less 5 when that is set (argparse4j also asks `stty` for a
//! terminal's width, which is not done here). The parser's model is built from the clap
//! definitions of a tool (`from_clap`) or, in tests, from Kafka's own definitions.

/// The width argparse4j falls back on when it cannot see a terminal.
const DEFAULT_WIDTH_COLUMNS: usize = 75;
/// Where help texts start.
const HELP_INDENT_COLUMNS: usize = 25;
/// Flags wider than this put their help text on the next line.
const TITLE_COLUMNS_MAX: usize = 21;
/// A program name wider than this starts the usage items on the next line.
const USAGE_PROG_COLUMNS_MAX: usize = 30;
/// Where usage items continue under a long program name.
const USAGE_INDENT_COLUMNS: usize = 6;

/// A named argument.
#[derive(Debug, Clone, Default)]
pub struct Opt {
    /// The flags in declaration order (`--bootstrap-server`, `-b`).
    pub flags: Vec<String>,
    /// The value as the help shows it (`ID`, `P [P ...]`); empty for a flag without value.
    pub metavar: String,
    pub help: String,
    pub default: Option<String>,
    pub required: bool,
    /// The index of the group the argument was added to.
    pub group: Option<usize>,
}

impl Opt {
    /// `--id ID, -i ID`
    fn title(&self) -> String {
        let with_value = |f: &String| {
            if self.metavar.is_empty() {
                f.clone()
            } else {
                format!("{f} {}", self.metavar)
            }
        };
        self.flags
            .iter()
            .map(with_value)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `--id/-i`, as argparse4j names an argument in its messages.
    pub fn name(&self) -> String {
        self.flags.join("/")
    }

    fn syntax(&self, bracket: bool) -> String {
        let first = self.flags.first().cloned().unwrap_or_default();
        let plain = if self.metavar.is_empty() {
            first
        } else {
            format!("{first} {}", self.metavar)
        };
        if bracket && !self.required {
            format!("[{plain}]")
        } else {
            plain
        }
    }
}

/// An argument group: titled or described groups get a help section of their own; mutually
/// exclusive ones show as `(a | b)` in the usage line (`[a | b]` when not required).
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub title: String,
    pub description: String,
    pub mutex: bool,
    pub required: bool,
}

impl Group {
    fn separate(&self) -> bool {
        !self.title.is_empty() || !self.description.is_empty()
    }
}

/// A parser's commands (`{describe,add-controller}` or a metavar such as `COMMAND`).
#[derive(Debug, Clone, Default)]
pub struct Commands {
    pub title: String,
    pub metavar: String,
    /// Each command's name and help line.
    pub commands: Vec<(String, String)>,
}

impl Commands {
    fn syntax(&self) -> String {
        if self.metavar.is_empty() {
            let names: Vec<&str> = self.commands.iter().map(|c| c.0.as_str()).collect();
            format!("{{{}}}", names.join(","))
        } else {
            self.metavar.clone()
        }
    }
}

/// A parser: a tool, or one of its commands (with `upper` the tool's parser).
#[derive(Debug, Clone, Default)]
pub struct Parser {
    pub prog: String,
    pub command: Option<String>,
    pub description: String,
    /// Whether help texts end with `(default: ...)`.
    pub default_help: bool,
    pub opts: Vec<Opt>,
    pub groups: Vec<Group>,
    pub commands: Option<Commands>,
    pub upper: Option<Box<Parser>>,
}

impl Parser {
    /// A parser with argparse4j's `-h, --help`.
    pub fn new(prog: &str) -> Parser {
        Parser {
            prog: prog.to_string(),
            opts: vec![Opt {
                flags: vec!["-h".into(), "--help".into()],
                help: "show this help message and exit".into(),
                ..Opt::default()
            }],
            ..Parser::default()
        }
    }

    /// The parser of one of this parser's commands.
    pub fn command_parser(&self, name: &str) -> Parser {
        let mut sub = Parser::new(&self.prog);
        sub.command = Some(name.to_string());
        sub.upper = Some(Box::new(self.clone()));
        sub
    }

    /// The argument with this flag.
    pub fn opt(&self, flag: &str) -> Option<&Opt> {
        self.opts.iter().find(|o| o.flags.iter().any(|f| f == flag))
    }

    /// The usage line(s).
    pub fn usage(&self, width: usize) -> String {
        let prog = format!("usage: {}", self.prog);
        let mut out = prog.clone();
        let (offset, first, subsequent) = if prog.chars().count() > USAGE_PROG_COLUMNS_MAX {
            out.push('\n');
            let indent = " ".repeat(USAGE_INDENT_COLUMNS);
            (USAGE_INDENT_COLUMNS, indent.clone(), indent)
        } else {
            let n = prog.chars().count();
            (n, String::new(), " ".repeat(n))
        };
        let mut items = Vec::new();
        if let Some(upper) = &self.upper {
            upper.required_usage(&mut items);
        }
        self.push_usage(&mut items, false);
        if let Some(c) = &self.commands {
            items.push(c.syntax());
            items.push("...".into());
        }
        out.push_str(&usage_items(&items, offset, &first, &subsequent, width));
        out
    }

    /// What a command's usage line shows of the parser above it: its required arguments.
    fn required_usage(&self, items: &mut Vec<String>) {
        if let Some(upper) = &self.upper {
            upper.required_usage(items);
        }
        self.push_usage(items, true);
    }

    /// This parser's usage items (its command, flags, mutually exclusive groups), all of them
    /// or (`required_only`) those a command below it repeats.
    fn push_usage(&self, items: &mut Vec<String>, required_only: bool) {
        items.extend(self.command.clone());
        for o in &self.opts {
            let in_mutex = o.group.is_some_and(|g| self.groups[g].mutex);
            if !in_mutex && (o.required || !required_only) {
                items.push(o.syntax(true));
            }
        }
        for (g, group) in self.groups.iter().enumerate().filter(|(_, g)| g.mutex) {
            let members: Vec<&Opt> = self.opts.iter().filter(|o| o.group == Some(g)).collect();
            match members.as_slice() {
                [] => {}
                [one] if group.required => items.push(one.syntax(false)),
                [one] if one.required || !required_only => items.push(one.syntax(true)),
                [_] => {}
                many if group.required || !required_only => {
                    push_alternatives(items, many, group.required)
                }
                _ => {}
            }
        }
    }

    /// The full help, as `--help` prints it.
    pub fn help(&self, width: usize) -> String {
        let mut out = self.usage(width);
        if !self.description.is_empty() {
            out.push('\n');
            out.push_str(&wrap(&self.description, width, 0, ""));
            out.push('\n');
        }
        let untitled = self.commands.as_ref().filter(|c| c.title.is_empty());
        if let Some(c) = untitled {
            out.push_str("\npositional arguments:\n");
            out.push_str(&commands_help(c, width));
        }
        let inline: Vec<&Opt> = self
            .opts
            .iter()
            .filter(|o| !o.group.is_some_and(|g| self.groups[g].separate()))
            .collect();
        if !inline.is_empty() {
            out.push_str("\noptional arguments:\n");
            for o in inline {
                out.push_str(&self.opt_help(o, width));
            }
        }
        if let Some(c) = self.commands.as_ref().filter(|c| !c.title.is_empty()) {
            out.push_str(&format!("\n{}:\n", c.title));
            out.push_str(&commands_help(c, width));
        }
        for (g, group) in self.groups.iter().enumerate().filter(|(_, g)| g.separate()) {
            out.push('\n');
            if !group.title.is_empty() {
                out.push_str(&format!("{}:\n", group.title));
            }
            if !group.description.is_empty() {
                out.push_str(&format!(
                    "  {}\n\n",
                    wrap(&group.description, width, 2, "  ")
                ));
            }
            for o in self.opts.iter().filter(|o| o.group == Some(g)) {
                out.push_str(&self.opt_help(o, width));
            }
        }
        out
    }

    fn opt_help(&self, o: &Opt, width: usize) -> String {
        let mut help = o.help.clone();
        if let Some(d) = o.default.as_ref().filter(|_| self.default_help) {
            if !help.is_empty() {
                help.push(' ');
            }
            help.push_str(&format!("(default: {d})"));
        }
        entry(&o.title(), &help, width)
    }

    /// A usage error: the usage line, then `prog: error: message` wrapped and justified.
    pub fn error(&self, message: &str, width: usize) -> String {
        let text = format!("{}: error: {message}\n", self.prog);
        format!("{}{}", self.usage(width), wrap(&text, width, 0, ""))
    }
}

fn push_alternatives(items: &mut Vec<String>, members: &[&Opt], required: bool) {
    let (open, close) = if required { ("(", ")") } else { ("[", "]") };
    let last = members.len() - 1;
    for (i, o) in members.iter().enumerate() {
        let mut s = o.syntax(false);
        if i == 0 {
            s = format!("{open}{s}");
        } else {
            items.push("|".into());
        }
        if i == last {
            s.push_str(close);
        }
        items.push(s);
    }
}

fn usage_items(
    items: &[String],
    offset: usize,
    first: &str,
    subsequent: &str,
    width: usize,
) -> String {
    let mut out = first.to_string();
    let mut current = offset + first.len();
    let mut first_item = true;
    for item in items {
        let n = item.chars().count();
        if !first_item && current + n + 1 > width {
            out.push_str(&format!("\n{subsequent} {item}"));
            current = subsequent.len() + 1 + n;
        } else {
            out.push(' ');
            out.push_str(item);
            current += 1 + n;
            first_item = false;
        }
    }
    out.push('\n');
    out
}

fn commands_help(c: &Commands, width: usize) -> String {
    let mut out = entry(&c.syntax(), "", width);
    for (name, help) in &c.commands {
        out.push_str(&entry(&format!("  {name}"), help, width));
    }
    out
}

/// One help entry: two spaces, the title, the help text from column 25.
fn entry(title: &str, help: &str, width: usize) -> String {
    let mut out = format!("  {title}");
    if help.is_empty() {
        out.push('\n');
        return out;
    }
    let title_columns = title.chars().count();
    let pad = if title_columns <= TITLE_COLUMNS_MAX {
        HELP_INDENT_COLUMNS - title_columns - 2
    } else {
        out.push('\n');
        HELP_INDENT_COLUMNS
    };
    out.push_str(&" ".repeat(pad));
    let indent = " ".repeat(HELP_INDENT_COLUMNS);
    out.push_str(&wrap(help, width, HELP_INDENT_COLUMNS, &indent));
    out.push('\n');
    out
}

/// argparse4j's `TextHelper.wrap`: pieces between break opportunities are added while the line
/// fits; a full line is justified and the next starts with `indent`.
pub fn wrap(text: &str, width: usize, offset: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut current = offset;
    for piece in pieces(text) {
        let n = piece.chars().count();
        current += n;
        if current > width {
            out.push_str(&justify(&line, width, current - n));
            out.push('\n');
            out.push_str(indent);
            line.clear();
            current = indent.len() + n;
        }
        line.push_str(piece);
        if piece.ends_with('\n') {
            out.push_str(&line);
            out.push_str(indent);
            line.clear();
            current = indent.len();
        }
    }
    out.push_str(&line);
    out
}

/// The text cut at Java's line-break opportunities, a newline ending its piece.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let words = crate::help::words(body);
        let count = words.len();
        for (i, w) in words.into_iter().enumerate() {
            let end = start + w.len();
            // The newline belongs to the last piece of its line.
            let end = if i + 1 == count && line.ends_with('\n') {
                end + 1
            } else {
                end
            };
            out.push(&text[start..end]);
            start = end;
        }
        if count == 0 && line.ends_with('\n') {
            out.push(&text[start..start + 1]);
            start += 1;
        }
    }
    out
}

/// argparse4j's `adjustSpace`: the line trimmed, then the columns it lacks shared among its
/// runs of spaces, one more to each of the middle runs when they do not share evenly.
fn justify(line: &str, width: usize, columns: usize) -> String {
    let trimmed = line.trim_matches(' ');
    let columns = columns.saturating_sub(line.len() - trimmed.len());
    let runs = trimmed
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] != b' ' && w[1] == b' ')
        .count();
    if runs == 0 {
        return trimmed.to_string();
    }
    let need = width.saturating_sub(columns);
    let (each, rem) = (need / runs, need % runs);
    let rem_start = (runs - rem).div_ceil(2);
    let mut out = String::with_capacity(width);
    let mut run = 0;
    let mut in_run = false;
    for c in trimmed.chars() {
        if c == ' ' && !in_run {
            let extra = each + usize::from((rem_start..rem_start + rem).contains(&run));
            out.push_str(&" ".repeat(extra));
            run += 1;
        }
        in_run = c == ' ';
        out.push(c);
    }
    out
}

/// The width argparse4j formats to: `COLUMNS` less 5 when set, else 75.
pub fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 5)
        .map_or(DEFAULT_WIDTH_COLUMNS, |c| c - 5)
}
