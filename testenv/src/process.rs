//! Child processes that cannot outlive the process that started them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{Error, Result};

/// A server process run under a small watchdog: when `owner_pid` exits (or the server dies),
/// the watchdog stops the server and removes `cleanup_dir`, if any (kept when
/// `JAVARI_TESTENV_KEEP` is set, for debugging).
pub struct Watched {
    child: Child,
    log: PathBuf,
}

impl Watched {
    pub fn spawn(
        program: &Path,
        args: &[String],
        log: &Path,
        cleanup_dir: Option<&Path>,
    ) -> Result<Self> {
        if !program.exists() {
            return Err(Error::Missing {
                what: "binary",
                path: program.display().to_string(),
                hint: "build the test control plane with `make testenv` (testenv/build-bins.sh)",
            });
        }
        let log_file = File::create(log).map_err(|source| Error::Io {
            path: log.display().to_string(),
            source,
        })?;
        let log_err = log_file.try_clone().map_err(|source| Error::Io {
            path: log.display().to_string(),
            source,
        })?;
        // $1 = owner pid, $2 = dir to remove, then the command line.
        let watchdog = r#"owner=$1; dir=$2; shift 2
"$@" & server=$!
stop() {
  kill -TERM "$server" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null; wait "$server" 2>/dev/null
  [ -n "$dir" ] && rm -rf "$dir"
}
trap stop EXIT
trap 'exit 0' TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.3; done"#;
        let child = Command::new("bash")
            .arg("-c")
            .arg(watchdog)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(
                cleanup_dir
                    .filter(|_| std::env::var_os("JAVARI_TESTENV_KEEP").is_none())
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            )
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|source| Error::Spawn {
                command: program.display().to_string(),
                source,
            })?;
        Ok(Self {
            child,
            log: log.to_owned(),
        })
    }

    /// Whether the server (through its watchdog) is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the server wrote, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// Stops the server and waits for its watchdog.
    pub fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command to completion; a non-zero exit becomes an error carrying its output.
pub fn run(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|source| Error::Spawn {
        command: shown.clone(),
        source,
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(Error::Command {
            command: shown,
            output: text,
        })
    }
}
