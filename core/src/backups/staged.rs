//! Following `pg_dump --format=directory` while it writes its staging directory, so each
//! table's file is compressed, encrypted and uploaded while it is being written and while the
//! other tables are still being dumped.
//!
//! An inotify watch on the staging directory reports each file as pg_dump creates it and when
//! pg_dump closes it after writing. pg_dump writes every data file (`<dump id>.dat`,
//! `blob_<oid>.dat`) once, front to back, and closes it; a reader follows such a file as it
//! grows and ends at its real end once the file is complete: its close-after-write was seen,
//! or pg_dump has exited. The watch only makes that known sooner: a lost event (a full inotify
//! queue) costs time, never data, because pg_dump's exit completes every file and the files
//! the watch did not report are picked up from the directory then.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use inotify::{EventMask, EventStream, Inotify, WatchMask};

/// How long a reader at the current end of a file waits before it looks again (a close or
/// pg_dump's exit wakes it sooner).
const POLL: Duration = Duration::from_millis(20);

/// Whether pg_dump writes `name` once and closes it (table data, large objects), so it can be
/// streamed while the dump runs. Everything else (`toc.dat`, `blobs.toc`, which pg_dump opens
/// for appending) waits until pg_dump has exited.
pub(crate) fn streams_early(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".dat") else {
        return false;
    };
    let digits = stem.strip_prefix("blob_").unwrap_or(stem);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dump {
    Running,
    Exited,
    Failed,
}

/// Where a staged file stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    Writing,
    Complete,
    DumpFailed,
}

struct State {
    closed: HashSet<String>,
    dump: Dump,
}

/// What is known about the staged files, shared by the watcher and the reading threads.
pub(crate) struct Progress {
    state: Mutex<State>,
    changed: Condvar,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                closed: HashSet::new(),
                dump: Dump::Running,
            }),
            changed: Condvar::new(),
        }
    }
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// pg_dump closed `name` after writing it.
    pub(crate) fn closed(&self, name: &str) {
        self.lock().closed.insert(name.to_owned());
        self.changed.notify_all();
    }

    /// pg_dump exited (successfully or not): every file is as complete as it will get.
    pub(crate) fn dump_ended(&self, success: bool) {
        self.lock().dump = if success { Dump::Exited } else { Dump::Failed };
        self.changed.notify_all();
    }

    fn state_of(s: &State, name: &str) -> FileState {
        match s.dump {
            Dump::Failed => FileState::DumpFailed,
            Dump::Exited => FileState::Complete,
            Dump::Running if s.closed.contains(name) => FileState::Complete,
            Dump::Running => FileState::Writing,
        }
    }

    /// The state of `name`, after waiting up to `timeout` for a change if it is being written.
    fn wait_while_writing(&self, name: &str, timeout: Duration) -> FileState {
        let s = self.lock();
        if Self::state_of(&s, name) != FileState::Writing {
            return Self::state_of(&s, name);
        }
        let (s, _) = self
            .changed
            .wait_timeout(s, timeout)
            .unwrap_or_else(|p| p.into_inner());
        Self::state_of(&s, name)
    }
}

/// Reads a staged file as pg_dump writes it: at the current end it waits for more until the
/// file is complete, then reads on to the real end.
pub(crate) struct GrowingFile {
    file: std::fs::File,
    name: String,
    progress: Arc<Progress>,
    complete: bool,
}

impl GrowingFile {
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        progress: Arc<Progress>,
    ) -> std::io::Result<GrowingFile> {
        Ok(GrowingFile {
            file: std::fs::File::open(dir.join(name))?,
            name: name.to_owned(),
            progress,
            complete: false,
        })
    }
}

impl Read for GrowingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || self.complete || buf.is_empty() {
                return Ok(n);
            }
            match self.progress.wait_while_writing(&self.name, POLL) {
                // Complete now: one more pass reads what was written before the close.
                FileState::Complete => self.complete = true,
                FileState::Writing => {}
                FileState::DumpFailed => {
                    return Err(std::io::Error::other(format!(
                        "pg_dump failed while writing {}",
                        self.name
                    )));
                }
            }
        }
    }
}

/// What the watch saw in the staging directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    Created(String),
    Closed(String),
    /// Something else (another event kind, a name that is not UTF-8, a full event queue).
    Other,
}

/// An inotify watch on a staging directory for created files and closes after writing.
pub(crate) fn watch(dir: &Path) -> std::io::Result<EventStream<Vec<u8>>> {
    let inotify = Inotify::init()?;
    inotify
        .watches()
        .add(dir, WatchMask::CREATE | WatchMask::CLOSE_WRITE)?;
    inotify.into_event_stream(vec![0u8; 64 << 10])
}

pub(crate) fn seen(mask: EventMask, name: Option<OsString>) -> Seen {
    let Some(name) = name.and_then(|n| n.into_string().ok()) else {
        return Seen::Other;
    };
    if mask.contains(EventMask::ISDIR) {
        Seen::Other
    } else if mask.contains(EventMask::CLOSE_WRITE) {
        Seen::Closed(name)
    } else if mask.contains(EventMask::CREATE) {
        Seen::Created(name)
    } else {
        Seen::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_write_once_files_stream_early() {
        for name in ["3001.dat", "12.dat", "blob_16385.dat"] {
            assert!(streams_early(name), "{name}");
        }
        for name in [
            "toc.dat",
            "blobs.toc",
            ".dat",
            "blob_.dat",
            "3001.dat.gz",
            "x1.dat",
        ] {
            assert!(!streams_early(name), "{name}");
        }
    }

    #[test]
    fn a_growing_file_is_read_to_its_end_once_closed() {
        let dir = std::env::temp_dir().join(format!("javari-staged-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let progress = Arc::new(Progress::default());
        let mut out = std::fs::File::create(dir.join("3001.dat")).expect("create");
        out.write_all(b"first ").expect("write");
        let mut reader = GrowingFile::open(&dir, "3001.dat", progress.clone()).expect("open");
        let writer = {
            let progress = progress.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    std::thread::sleep(Duration::from_millis(5));
                    write!(out, "{i} ").expect("write");
                }
                drop(out);
                progress.closed("3001.dat");
            })
        };
        let mut got = String::new();
        reader.read_to_string(&mut got).expect("read");
        writer.join().expect("writer");
        let want: String = std::iter::once("first ".to_owned())
            .chain((0..20).map(|i| format!("{i} ")))
            .collect();
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failed_dump_stops_the_reader() {
        let dir = std::env::temp_dir().join(format!("javari-staged-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("3002.dat"), b"partial").expect("write");
        let progress = Arc::new(Progress::default());
        let mut reader = GrowingFile::open(&dir, "3002.dat", progress.clone()).expect("open");
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).expect("read"), 7);
        progress.dump_ended(false);
        let err = reader.read(&mut buf).expect_err("dump failed");
        assert!(err.to_string().contains("3002.dat"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_watch_reports_creates_and_closes() {
        use futures::StreamExt;
        let dir = std::env::temp_dir().join(format!("javari-staged-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let events: Vec<Seen> = rt.block_on(async {
            let mut stream = watch(&dir).expect("watch");
            std::fs::write(dir.join("3003.dat"), b"rows").expect("write");
            let mut events = Vec::new();
            while events.len() < 2 {
                let ev = tokio::time::timeout(Duration::from_secs(10), stream.next())
                    .await
                    .expect("an event within 10 s")
                    .expect("stream open")
                    .expect("event");
                events.push(seen(ev.mask, ev.name));
            }
            events
        });
        assert_eq!(
            events,
            vec![
                Seen::Created("3003.dat".to_owned()),
                Seen::Closed("3003.dat".to_owned())
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
