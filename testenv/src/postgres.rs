//! A private PostgreSQL cluster from Debian's `postgresql` package.
//!
//! PostgreSQL refuses to run as root; when the tests run as root the cluster is owned by and
//! run as the `postgres` system user that the package creates. When that user cannot reach
//! the asked-for folder (a checkout in a mode-700 home such as `/root`), the cluster is kept
//! in a folder of its own under `/var/tmp`, named from the asked-for path, and a line on
//! stderr says where.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{run, tail};
use crate::{Error, Result, free_port};

const INSTALL_HINT: &str =
    "install PostgreSQL with `make deps` (apt-get install postgresql postgresql-15-pgvector)";

/// A PostgreSQL cluster in `dir`, listening on 127.0.0.1:`port` with trust authentication.
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    /// Ephemeral clusters are stopped and deleted on drop; persistent ones stay up.
    ephemeral: bool,
}

impl PgCluster {
    /// Starts (creating it if needed) a cluster that outlives this process, e.g. the one
    /// `make test` shares between test binaries or the one `make run` uses. Idempotent.
    pub fn ensure(dir: &Path, port: u16) -> Result<PgCluster> {
        let cluster = Self::open(dir, port)?;
        cluster.init_if_needed()?;
        match cluster.running_port() {
            Some(port) if port == cluster.port => {}
            Some(_) => {
                // Running, but on another port than asked for: move it.
                cluster.stop()?;
                cluster.start()?;
            }
            None => cluster.start()?,
        }
        Ok(cluster)
    }

    /// The cluster in `dir` (which may not exist or run yet), without touching it.
    pub fn open(dir: &Path, port: u16) -> Result<PgCluster> {
        let asked = std::path::absolute(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let owner = run_as()?;
        let dir = match owner {
            Some((uid, gid)) if !reachable_by(&asked, uid, gid) => {
                let elsewhere = relocated(&asked);
                eprintln!(
                    "PostgreSQL cluster for {}: {} (the `postgres` user cannot reach {})",
                    asked.display(),
                    elsewhere.display(),
                    asked.parent().unwrap_or(&asked).display()
                );
                elsewhere
            }
            _ => asked,
        };
        Ok(PgCluster {
            dir,
            port,
            bin: server_bin_dir()?,
            owner,
            ephemeral: false,
        })
    }

    /// Where the cluster's files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A throw-away cluster on a free port, removed when dropped.
    pub fn ephemeral() -> Result<PgCluster> {
        let dir = std::env::temp_dir().join(format!(
            "javari-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let cluster = PgCluster {
            dir,
            port: free_port()?,
            bin: server_bin_dir()?,
            owner: run_as()?,
            ephemeral: true,
        };
        cluster.init_if_needed()?;
        cluster.start()?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init_if_needed(&self) -> Result<()> {
        if self.data_dir().join("PG_VERSION").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        self.chown(&self.dir)?;
        run(self.command("initdb").arg("-D").arg(self.data_dir()).args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C",
        ]))?;
        let settings = format!(
            "\n# javari-testenv (the port is given at each start)\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 300\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\n",
            self.dir.display()
        );
        let conf = self.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|source| Error::Io {
            path: conf.display().to_string(),
            source,
        })?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(|source| Error::Io {
            path: conf.display().to_string(),
            source,
        })
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<()> {
        let log = self.dir.join("postgres.log");
        let started = run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!("-p {}", self.port))
            .args(["-w", "-t", "60", "start"]));
        started.map(|_| ()).map_err(|e| Error::NotReady {
            what: "PostgreSQL",
            seconds: 60,
            log: format!("{e}\n{}", tail(&log, 20)),
        })
    }

    /// Stops the server (fast shutdown: active connections are closed).
    pub fn stop(&self) -> Result<()> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"]))
        .map(|_| ())
    }

    /// The port of the running server (from `postmaster.pid`), if it runs.
    fn running_port(&self) -> Option<u16> {
        if !self.is_running() {
            return None;
        }
        let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pid.lines().nth(3)?.trim().parse().ok()
    }

    pub fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin.join(tool));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command.current_dir(
            self.dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(std::env::temp_dir),
        );
        command
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.ephemeral {
            let _ = self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// True when a process running as `uid`/`gid` can enter every existing folder above `dir`
/// (search permission), so it can reach `dir` once created and chowned to it.
pub(crate) fn reachable_by(dir: &Path, uid: u32, gid: u32) -> bool {
    dir.ancestors().skip(1).all(|folder| {
        let Ok(meta) = std::fs::metadata(folder) else {
            // Not there yet: created by us below a reachable folder, and chowned.
            return true;
        };
        let mode = meta.mode();
        if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    })
}

/// `/var/tmp/javari-pg-<last parts of the path>-<hash of it>`: one folder per asked-for path,
/// the same every time, so `make test`, `make run` and `make stop` find it again.
pub(crate) fn relocated(asked: &Path) -> PathBuf {
    let text = asked.display().to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let tail: String = asked
        .components()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Path::new("/var/tmp").join(format!("javari-pg-{tail}-{:08x}", hash as u32))
}

/// The newest `/usr/lib/postgresql/<major>/bin` with a server in it.
fn server_bin_dir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| Error::Missing {
            what: "PostgreSQL server",
            path: root.display().to_string(),
            hint: INSTALL_HINT,
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| {
            bin.join("initdb").exists() && bin.join("pg_ctl").exists()
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin).ok_or(Error::Missing {
        what: "PostgreSQL server (initdb, pg_ctl)",
        path: root.display().to_string(),
        hint: INSTALL_HINT,
    })
}

/// The uid/gid to run the server as: `postgres` when we are root, ourselves otherwise.
fn run_as() -> Result<Option<(u32, u32)>> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
        })
        .map(Some)
        .ok_or(Error::Missing {
            what: "the `postgres` system user",
            path: "/etc/passwd".into(),
            hint: INSTALL_HINT,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_behind_a_private_home_is_not_reachable_and_moves_under_var_tmp() {
        let root = std::env::temp_dir().join(format!("javari-reach-{}", std::process::id()));
        let home = root.join("home");
        let checkout = home.join("javari/.javari/test-pg");
        std::fs::create_dir_all(&checkout).expect("mkdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let meta = std::fs::metadata(&home).expect("meta");
        // Someone else (not the owner, not in the group) cannot enter the mode-700 home.
        let (other_uid, other_gid) = (meta.uid().wrapping_add(4242), meta.gid().wrapping_add(4242));
        assert!(!reachable_by(&checkout, other_uid, other_gid));
        assert!(reachable_by(&checkout, meta.uid(), meta.gid()));
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(reachable_by(&checkout, other_uid, other_gid));
        let moved = relocated(&checkout);
        assert!(moved.starts_with("/var/tmp"));
        assert_eq!(moved, relocated(&checkout), "the same place every time");
        assert_ne!(moved, relocated(&root.join("other/.javari/test-pg")));
        assert!(
            moved
                .display()
                .to_string()
                .contains("javari-_javari-test-pg")
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
