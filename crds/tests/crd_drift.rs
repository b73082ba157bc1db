//! The committed CRD YAML is exactly what the Rust types generate.

use std::path::PathBuf;

#[test]
fn committed_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/javari/crds");
    let crds = javari_crds::all_crds();
    assert_eq!(crds.len(), 5);
    for crd in crds {
        let path = dir.join(javari_crds::crd_file_name(&crd));
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let generated = javari_crds::crd_yaml(&crd).expect("serialize CRD");
        assert!(
            committed == generated,
            "{} is out of date with the Rust types: run `make crds` and commit the result",
            path.display()
        );
    }
}

#[test]
fn every_kind_has_short_name_category_status_and_printer_columns() {
    for crd in javari_crds::all_crds() {
        let names = &crd.spec.names;
        assert_eq!(
            names.categories.as_deref(),
            Some(&["javari".to_owned()][..]),
            "{}",
            names.kind
        );
        assert!(
            names
                .short_names
                .as_ref()
                .is_some_and(|s| s[0].starts_with('j')),
            "{}",
            names.kind
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, javari_crds::VERSION);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} status subresource",
            names.kind
        );
        assert!(
            version
                .additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 3),
            "{} printer columns",
            names.kind
        );
    }
}
