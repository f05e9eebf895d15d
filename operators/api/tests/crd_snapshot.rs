//! The committed CRDs in `crds/` and `charts/outrigger/crds/` are snapshots of the schemas the
//! Rust types generate; any change to a type must come with regenerated files.

use std::{fs, path::PathBuf};

use outrigger_api::crds;

#[test]
fn committed_crds_match_the_rust_types() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut stale = Vec::new();
    for dir in ["crds", "charts/outrigger/crds"] {
        for crd in crds::all() {
            let path = root.join(dir).join(crds::file_name(&crd));
            let want = crds::to_yaml(&crd).expect("serializable");
            match fs::read_to_string(&path) {
                Ok(have) if have == want => {}
                Ok(_) => stale.push(format!("{} differs", path.display())),
                Err(_) => stale.push(format!("{} is missing", path.display())),
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun `cargo run -p outrigger-api --bin crdgen` and commit crds/ and charts/outrigger/crds/",
        stale.join("\n")
    );
}
