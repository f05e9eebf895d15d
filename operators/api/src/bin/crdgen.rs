//! Write one YAML file per CRD into `crds/` and `charts/outrigger/crds/`, or with `--check`,
//! fail when the committed files differ from what the Rust types generate.
//!
//! Usage: `crdgen [--check] [DIR...]` (default DIRs: `crds` and `charts/outrigger/crds`, relative
//! to the workspace root).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use outrigger_api::crds;

const FIX: &str = "cargo run -p outrigger-api --bin crdgen";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> ExitCode {
    let mut check = false;
    let mut dirs = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [DIR...]");
                return ExitCode::SUCCESS;
            }
            other => dirs.push(PathBuf::from(other)),
        }
    }
    if dirs.is_empty() {
        let root = workspace_root();
        dirs = vec![root.join("crds"), root.join("charts/outrigger/crds")];
    }
    let mut files = Vec::new();
    for crd in crds::all() {
        match crds::to_yaml(&crd) {
            Ok(text) => files.push((crds::file_name(&crd), text)),
            Err(e) => {
                eprintln!("crdgen: cannot serialize {}: {e}", crd.spec.names.kind);
                return ExitCode::FAILURE;
            }
        }
    }
    let mut problems = Vec::new();
    for dir in &dirs {
        if let Err(e) = sync_dir(dir, &files, check, &mut problems) {
            eprintln!("crdgen: {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    if problems.is_empty() {
        if !check {
            println!(
                "crdgen: wrote {} CRDs to {}",
                files.len(),
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("crdgen: {p}");
        }
        eprintln!(
            "crdgen: the committed CRDs differ from the Rust types; run `{FIX}` and commit the result"
        );
        ExitCode::FAILURE
    }
}

fn sync_dir(
    dir: &Path,
    files: &[(String, String)],
    check: bool,
    problems: &mut Vec<String>,
) -> std::io::Result<()> {
    if !check {
        fs::create_dir_all(dir)?;
    }
    let wanted: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    if dir.is_dir() {
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !wanted.contains(name.as_str()) {
                if check {
                    problems.push(format!("{}: stale file {name}", dir.display()));
                } else {
                    fs::remove_file(dir.join(&name))?;
                }
            }
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() != Some(text.as_str()) {
            if check {
                let what = if current.is_some() {
                    "differs"
                } else {
                    "is missing"
                };
                problems.push(format!("{} {what}", path.display()));
            } else {
                fs::write(&path, text)?;
            }
        }
    }
    Ok(())
}
