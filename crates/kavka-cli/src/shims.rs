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
    ("kafka-storage.sh", "storage"),
    ("kafka-metadata-quorum.sh", "metadata-quorum"),
    ("kafka-cluster.sh", "cluster"),
    ("kafka-leader-election.sh", "leader-election"),
    ("kafka-reassign-partitions.sh", "reassign-partitions"),
];

/// The usage line of `kafka-server-start.sh`, as Kafka prints it.
const SERVER_START_USAGE: &str =
    "USAGE: $0 [-daemon] server.properties [--override property=value]*";

/// `kafka-server-start.sh [-daemon] server.properties [--override key=value]*`: runs
/// `kavka server` in the foreground, or with `-daemon` in the background with its output in
/// `$LOG_DIR/kavkaServer.out` (`LOG_DIR` defaults to `logs` beside the scripts' directory, as
/// Kafka's layout has it).
pub fn server_start_script(binary: &Path) -> String {
    let bin = sh_quote(&binary.to_string_lossy());
    format!(
        r#"#!/bin/sh
# Written by `kavka install-shims`: Kafka's kafka-server-start.sh, served by kavka.
daemon=
if [ "$1" = "-daemon" ]; then daemon=1; shift; fi
if [ $# -lt 1 ]; then
  echo "{SERVER_START_USAGE}"
  exit 1
fi
config=$1
shift
if [ -n "$daemon" ]; then
  log_dir=${{LOG_DIR:-$(dirname "$0")/../logs}}
  mkdir -p "$log_dir" || exit 1
  nohup {bin} server --config "$config" "$@" > "$log_dir/kavkaServer.out" 2>&1 < /dev/null &
  exit 0
fi
exec {bin} server --config "$config" "$@"
"#
    )
}

/// `kafka-server-stop.sh`: SIGTERM to every `kavka server` run from this binary (a clean
/// shutdown), or "No kafka server to stop" and exit 1, as Kafka's script does.
pub fn server_stop_script(binary: &Path) -> String {
    let bin = sh_quote(&binary.to_string_lossy());
    format!(
        r#"#!/bin/sh
# Written by `kavka install-shims`: Kafka's kafka-server-stop.sh, served by kavka.
pids=$(ps ax -o pid= -o args= | awk -v bin={bin} '$2 == bin && $3 == "server" {{print $1}}')
if [ -z "$pids" ]; then
  echo "No kafka server to stop"
  exit 1
fi
kill -s TERM $pids
"#
    )
}

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
    let scripts = SHIMS
        .iter()
        .map(|(name, tool)| (*name, script(&binary, tool)))
        .chain([
            ("kafka-server-start.sh", server_start_script(&binary)),
            ("kafka-server-stop.sh", server_stop_script(&binary)),
        ]);
    for (script_name, text) in scripts {
        let path = args.dir.join(script_name);
        std::fs::write(&path, text)
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
