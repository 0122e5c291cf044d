//! `kavka install-shims DIR`: writes `kafka-*.sh` scripts that exec this binary, so commands
//! written for Kafka's distribution (`kafka-topics.sh --create ...`) run unchanged once DIR is
//! on `PATH`.

use std::path::{Path, PathBuf};

use crate::ToolError;

/// Each Kafka script and the `kavka` subcommand it runs.
pub const SHIMS: &[(&str, &str)] = &[
    ("kafka-topics.sh", "topics"),
    ("kafka-console-producer.sh", "console-producer"),
    ("kafka-console-consumer.sh", "console-consumer"),
    ("kafka-consumer-groups.sh", "consumer-groups"),
    ("kafka-configs.sh", "configs"),
    ("kafka-broker-api-versions.sh", "broker-api-versions"),
    ("kafka-get-offsets.sh", "get-offsets"),
    ("kafka-delete-records.sh", "delete-records"),
    ("kafka-transactions.sh", "transactions"),
    ("kafka-producer-perf-test.sh", "producer-perf-test"),
    ("kafka-consumer-perf-test.sh", "consumer-perf-test"),
    ("kafka-dump-log.sh", "dump-log"),
];

/// Command-line arguments of install-shims.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the scripts into (created if missing); put it on PATH.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Single-quotes a string for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script that runs `tool` through the binary at `binary`.
pub fn script(binary: &Path, tool: &str) -> String {
    format!(
        "#!/bin/sh\n# Written by `kavka install-shims`: Kafka's {tool} tool, served by kavka.\nexec {} {tool} \"$@\"\n",
        sh_quote(&binary.to_string_lossy())
    )
}

/// Writes every shim into the directory.
pub fn run(args: Args) -> Result<(), ToolError> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| ToolError::failed(format!("cannot find the kavka binary: {e}")))?;
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| ToolError::failed(format!("cannot create {}: {e}", args.dir.display())))?;
    for (script_name, tool) in SHIMS {
        let path = args.dir.join(script_name);
        std::fs::write(&path, script(&binary, tool))
            .map_err(|e| ToolError::failed(format!("cannot write {}: {e}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(
                |e| ToolError::failed(format!("cannot make {} executable: {e}", path.display())),
            )?;
        }
        outln!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_execs_the_binary_with_the_tool_and_all_arguments() {
        let s = script(Path::new("/opt/it's/kavka"), "topics");
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.ends_with("exec '/opt/it'\\''s/kavka' topics \"$@\"\n"));
    }
}
