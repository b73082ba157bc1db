//! Writes the CRD YAML of every Javari kind into `charts/javari/crds/` (or the directory given).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/javari/crds"));
    std::fs::create_dir_all(&dir)?;
    for crd in javari_crds::all_crds() {
        let path = dir.join(javari_crds::crd_file_name(&crd));
        std::fs::write(&path, javari_crds::crd_yaml(&crd)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
