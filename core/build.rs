//! `sqlx::migrate!` embeds ../migrations at compile time, and the runbooks of ../runbooks are
//! built into the binary (so an installation has them without mounting a folder): rebuild when
//! either changes.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=../runbooks");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .filter(|p| p.file_stem().is_some_and(|s| s != "README"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    let mut out = String::from("&[\n");
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let path = path.canonicalize().unwrap_or(path);
        let _ = writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("]\n");
    let target =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_runbooks.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}
