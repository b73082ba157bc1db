//! Every runbook of a folder, checked as a whole, and the ones an incident's source suggests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::Runbook;
use super::parse::RunbookError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: RunbookError },
    #[error("{path}: id {id:?} differs from the file name")]
    IdMismatch { path: PathBuf, id: String },
}

/// What raised an incident, as triggers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    Monitor(&'a str),
    Project(&'a str),
    Provider(&'a str),
    Credential(&'a str),
    Backup(&'a str),
}

#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    runbooks: BTreeMap<String, Runbook>,
}

/// `runbooks/*.md` of this repository as they were at build time: (id, text).
const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_runbooks.rs"));

impl Catalogue {
    /// The runbooks shipped in the binary (this repository's `runbooks/`).
    pub fn builtin() -> Result<Self, CatalogueError> {
        let mut runbooks = BTreeMap::new();
        for (id, text) in BUILTIN {
            let path = PathBuf::from(format!("runbooks/{id}.md"));
            runbooks.insert((*id).to_owned(), checked(path, id, text)?);
        }
        Ok(Self { runbooks })
    }

    /// The built-in runbooks, then every runbook of `dir` (if given), which replaces a
    /// built-in one of the same id.
    pub fn builtin_and(dir: Option<&Path>) -> Result<Self, CatalogueError> {
        let mut all = Self::builtin()?;
        if let Some(dir) = dir {
            all.runbooks.extend(Self::load_dir(dir)?.runbooks);
        }
        Ok(all)
    }

    /// Loads every `*.md` of `dir` but its README; any invalid file fails the whole load.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogueError> {
        let io = |source| CatalogueError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .filter(|p| p.file_stem().is_some_and(|s| s != "README"))
            .collect();
        paths.sort();
        let mut runbooks = BTreeMap::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| CatalogueError::Io {
                path: path.clone(),
                source,
            })?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let runbook = checked(path, &stem, &text)?;
            runbooks.insert(stem, runbook);
        }
        Ok(Self { runbooks })
    }

    pub fn get(&self, id: &str) -> Option<&Runbook> {
        self.runbooks.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Runbook> {
        self.runbooks.values()
    }

    pub fn len(&self) -> usize {
        self.runbooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runbooks.is_empty()
    }

    /// Runbooks whose triggers name the source, by id.
    pub fn suggest(&self, source: Source<'_>) -> Vec<&Runbook> {
        self.runbooks
            .values()
            .filter(|r| {
                let t = &r.meta.triggers;
                let (patterns, name) = match source {
                    Source::Monitor(n) => (&t.monitors, n),
                    Source::Project(n) => (&t.projects, n),
                    Source::Provider(n) => (&t.providers, n),
                    Source::Credential(n) => (&t.credentials, n),
                    Source::Backup(n) => (&t.backups, n),
                };
                patterns.iter().any(|p| matches(p, name))
            })
            .collect()
    }
}

/// Parses and validates one runbook whose id must be `stem`.
fn checked(path: PathBuf, stem: &str, text: &str) -> Result<Runbook, CatalogueError> {
    let runbook = super::load(text).map_err(|source| CatalogueError::Invalid {
        path: path.clone(),
        source,
    })?;
    if runbook.meta.id != stem {
        return Err(CatalogueError::IdMismatch {
            path,
            id: runbook.meta.id,
        });
    }
    Ok(runbook)
}

/// `*` matches anything, `abc*` a prefix, anything else the exact name.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}
