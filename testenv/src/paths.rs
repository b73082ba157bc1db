use std::path::PathBuf;

/// The repository root (where `Cargo.toml` of the workspace lives).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Where `testenv/build-bins.sh` puts kube-apiserver, etcd, kubectl and helm.
/// `JAVARI_BIN_DIR` overrides it.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("JAVARI_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".bin"))
}
