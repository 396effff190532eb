//! The layer rule, checked: every `crate::…` path in a module's code (its tests aside)
//! names a module below it in [`ORDER`], so imports point down and cannot form a circle.
//! `ARCHITECTURE.md` draws the same order.

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules, highest first. A module may use only modules after it.
const ORDER: &[&str] = &[
    "main",
    "cli",
    "ops",
    "error",
    "bunker",
    "serve",
    "transport",
    "home",
    "hsm",
    "agent",
    "backup",
    "keystore",
    "audit",
    "envelope",
    "conversation",
    "events",
    "group",
    "ceremony",
    "fsutil",
    "clock",
    "untrusted",
];

/// The top-level modules `code` names through `crate::` (including `use crate::{a, b}`).
fn named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Only the first segment of each top-level item of the group.
            let (mut depth, mut start) = (0usize, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        out.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            visit(&p, f);
        } else if p.extension().is_some_and(|x| x == "rs") {
            f(&p);
        }
    }
}

/// What in `code` (the module `top`'s, at `at`) points up or sideways.
fn violations(at: &str, top: &str, code: &str) -> Vec<String> {
    let rank = ORDER
        .iter()
        .position(|m| *m == top)
        .unwrap_or_else(|| panic!("src/{top} is not in layers::ORDER; give it its place"));
    // Unit tests may reach anywhere.
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    named(code)
        .into_iter()
        // Names not in ORDER are re-exports at the root (`crate::Error`).
        .filter(|m| {
            ORDER
                .iter()
                .position(|o| o == m)
                .is_some_and(|to| to <= rank)
                && m != top
        })
        .map(|m| format!("{at} uses crate::{m}"))
        .collect()
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = vec![];
    visit(&src, &mut |path| {
        let rel = path.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("utf-8 path")
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "layers" {
            return;
        }
        let text = std::fs::read_to_string(path).expect("source is UTF-8");
        wrong.extend(violations(&rel.display().to_string(), &top, &text));
    });
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn an_upward_import_is_found_and_a_test_module_is_not() {
    let code =
        "use crate::{fsutil, ops::read_source};\n#[cfg(test)]\nmod tests { use crate::cli; }";
    assert_eq!(
        violations("transport/files.rs", "transport", code),
        ["transport/files.rs uses crate::ops"]
    );
    assert!(violations("ops/x.rs", "ops", "use crate::transport::Files;").is_empty());
}

#[test]
fn the_scanner_sees_grouped_and_nested_paths() {
    let got = named(
        "use crate::{ceremony::{self, Roster}, envelope, fsutil};\nlet x = crate::ops::run();",
    );
    let want: BTreeSet<String> = ["ceremony", "envelope", "fsutil", "ops"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}
