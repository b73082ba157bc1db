//! An S3 protocol server on loopback: gofakes3 (built from its Go module by
//! `testenv/build-bins.sh` into `.bin/`), in-memory, with one bucket. The code under test talks
//! real S3 (signed requests, multipart uploads, listings) to it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::process::Watched;
use crate::{Error, Result, bin_dir, free_port};

/// A running gofakes3; stopped on drop.
pub struct FakeS3 {
    _process: Watched,
    endpoint: String,
    bucket: String,
    _dir: PathBuf,
}

impl FakeS3 {
    /// Starts gofakes3 with bucket `bucket` and waits until it answers.
    pub async fn start(bucket: &str) -> Result<Self> {
        let program = bin_dir().join("gofakes3");
        if !program.exists() {
            return Err(Error::Missing {
                what: "gofakes3",
                path: program.display().to_string(),
                hint: "build it with `make bins` (testenv/build-bins.sh builds it from its Go module)",
            });
        }
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("javari-fake-s3-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let args = vec![
            "-backend".to_owned(),
            "memory".to_owned(),
            "-initialbucket".to_owned(),
            bucket.to_owned(),
            "-host".to_owned(),
            format!("127.0.0.1:{port}"),
            "-quiet".to_owned(),
        ];
        let mut process = Watched::spawn(&program, &args, &dir.join("gofakes3.log"), Some(&dir))?;
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if !process.is_running() || started.elapsed() > Duration::from_secs(20) {
                return Err(Error::NotReady {
                    what: "gofakes3",
                    seconds: 20,
                    log: process.log_tail(20),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            _process: process,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_owned(),
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}
