//! The repository stands on its own: a fresh clone has no `shared/` folder beside it, so
//! nothing that builds or tests tokenform may read outside the repo (issue 10, item 1).

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_that_builds_or_tests_reads_outside_the_repo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", ".ci"] {
        files_under(&root.join(dir), &mut files);
    }
    files.push(root.join("Cargo.toml"));
    files.push(root.join("build.rs"));
    // Spelled in pieces so that this file does not match itself.
    let sibling = ["..", "/shared"].concat();
    let parent_join = ["join(\"", "../"].concat();
    let mut offenders = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (n, line) in text.lines().enumerate() {
            if line.contains(&sibling) || line.contains(&parent_join) {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "references outside the repo:\n{}", offenders.join("\n"));
}

#[test]
fn the_api_contract_the_tests_use_is_in_the_repo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["docs/ld-openapi/tokens.openapi.json", "docs/spec.md", "docs/ld-api-notes.md"] {
        assert!(root.join(file).is_file(), "{file} is missing from the repo");
    }
}
