//! `kavka-bench`: runs the benchmark workloads and prints the summary table on stdout
//! (progress goes to stderr). See `bench/README.md`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let options = kavka_bench::Options::parse();
    let results = kavka_bench::run(&options)?;
    println!("{}", results.render());
    Ok(())
}
