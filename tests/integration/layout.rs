//! The source layout keeps its shape (docs/architecture.md, "Layers"): `src/lib.rs`
//! declares the top-level modules bottom up, and a module may import only the modules
//! declared before it, so the folders are the layer diagram and no import cycle can form.
//! Also: no non-test source file grows past 500 lines.
//!
//! These read `src/` as text: an import is any `crate::name` path outside comments and
//! outside test code (`tests.rs`, `tests/` folders, a trailing `#[cfg(test)] mod tests`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn is_test_file(relative: &Path) -> bool {
    relative.components().any(|c| c.as_os_str() == "tests")
        || relative.file_name().is_some_and(|name| name == "tests.rs")
}

/// The file's code without its trailing unit tests and without comment lines.
fn production_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `crate::…` paths in `code` name, including every branch of a
/// `crate::{a::X, b}` group.
fn imported_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            let mut ident = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && ch == ',' {
                    item_start = true;
                    continue;
                }
                if item_start {
                    if ch.is_alphanumeric() || ch == '_' {
                        ident.push(ch);
                    } else if !ident.is_empty() {
                        found.push(std::mem::take(&mut ident));
                        item_start = false;
                    }
                }
            }
            if !ident.is_empty() {
                found.push(ident);
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

/// `pub mod name;` lines of `src/lib.rs`, in order: the layers, bottom up.
fn declared_order() -> Vec<String> {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("read lib.rs");
    lib.lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn modules_import_only_the_layers_declared_before_them() {
    let order = declared_order();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    assert!(rank.len() > 10, "lib.rs declares the modules: {order:?}");
    let mut violations = Vec::new();
    for path in rust_files(&src()) {
        let relative = path.strip_prefix(src()).expect("under src").to_path_buf();
        if is_test_file(&relative) {
            continue;
        }
        let Some(top) = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_string())
        else {
            continue;
        };
        let Some(&own) = rank.get(top.as_str()) else {
            continue; // lib.rs, main.rs
        };
        let text = fs::read_to_string(&path).expect("read source");
        for module in imported_modules(&production_code(&text)) {
            if rank
                .get(module.as_str())
                .is_some_and(|&theirs| theirs > own)
            {
                violations.push(format!("{} imports `crate::{module}`", relative.display()));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "a module may import only modules declared before it in src/lib.rs \
         (bottom-up layers):\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_500_lines() {
    let mut long = Vec::new();
    for path in rust_files(&src()) {
        let relative = path.strip_prefix(src()).expect("under src").to_path_buf();
        if is_test_file(&relative) {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read source");
        let lines = text.lines().count();
        if lines > MAX_LINES {
            long.push(format!("{} has {lines} lines", relative.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these by job (one concept per file, at most {MAX_LINES} lines):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_import_scanner_reads_groups_and_paths() {
    let code = "use crate::config::{A, B};\nuse crate::{net::tls::X, domain};\nlet n = crate::telemetry::m();";
    assert_eq!(
        imported_modules(code),
        ["config", "net", "domain", "telemetry"]
    );
}

/// Backticked source paths in `docs/architecture.md` (`proxy/first.rs`, `relay/`,
/// `src/main.rs`): relative to `src/` unless they start with `src/`, `tests/` or `docs/`.
fn architecture_paths() -> Vec<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let text = fs::read_to_string(doc).expect("read docs/architecture.md");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            !span.is_empty()
                && !span.starts_with('/')
                && span
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_/.".contains(c))
                && (span.ends_with(".rs") || (span.ends_with('/') && span.len() > 1))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_architecture_page_names_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = architecture_paths();
    assert!(paths.len() > 10, "the page names its files: {paths:?}");
    let missing: Vec<&String> = paths
        .iter()
        .filter(|path| {
            let in_repository = ["src/", "tests/", "docs/"]
                .iter()
                .any(|top| path.starts_with(top));
            let full = match in_repository {
                true => root.join(path.as_str()),
                false => src().join(path.as_str()),
            };
            !full.exists()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names files that do not exist (paths are relative to src/): {missing:?}"
    );
}
