//! The tools' `--help` against Kafka 4's, recorded in `kafka4_help/`: `<tool>.txt` is what
//! Kafka 4's tool prints for `--help` below its message line, `<tool>.cells.tsv` the cells
//! (option, description; `\n`, `\t` and `\\` escaped) its option parser laid out to print it.
//! Both were recorded outside the project by building each tool's option parser as Kafka 4.0
//! defines it on joptsimple (the copy inside the JDK) and printing its help.

use std::collections::BTreeMap;

use kavka_cli::help;

const TOOLS: &[&str] = &["consumer-groups", "delete-records", "broker-api-versions"];

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/kafka4_help/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn cells(tool: &str) -> Vec<(String, String)> {
    fixture(&format!("{tool}.cells.tsv"))
        .lines()
        .map(|l| {
            let (o, d) = l.split_once('\t').expect("option<TAB>description");
            (unescape(o), unescape(d))
        })
        .collect()
}

#[test]
fn the_layout_of_kafkas_own_cells_is_kafkas_text_to_the_byte() {
    for tool in TOOLS {
        assert_eq!(
            help::layout(&cells(tool)),
            fixture(&format!("{tool}.txt")),
            "{tool}"
        );
    }
}

/// The option cells of a help text (first lines of the rows and their continuations), by
/// option name.
fn option_cells(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("------"))
        .skip(1)
    {
        let option = line.get(..39).unwrap_or(line).trim_end();
        if option.starts_with("--") {
            let name = option.split_whitespace().next().unwrap().to_string();
            out.insert(name.clone(), option.to_string());
            current = Some(name);
        } else if let (Some(name), Some(rest)) = (&current, option.strip_prefix("  ")) {
            if !rest.is_empty() && !rest.starts_with(' ') {
                let cell = out.get_mut(name).unwrap();
                if !cell.ends_with('-') {
                    cell.push(' ');
                }
                cell.push_str(rest);
            }
        }
    }
    out
}

#[test]
fn every_kafka_option_is_offered_with_kafkas_argument() {
    let mut wrong = Vec::new();
    for tool in TOOLS {
        let kafka = option_cells(&fixture(&format!("{tool}.txt")));
        let kavka = option_cells(&help::render(tool));
        for (name, cell) in &kafka {
            match kavka.get(name) {
                Some(ours) if ours == cell => {}
                Some(ours) => wrong.push(format!("{tool}: {ours:?}, Kafka {cell:?}")),
                None => wrong.push(format!("{tool}: {name} is missing, Kafka {cell:?}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
