//! The files keep the layering of `mod.rs`'s table: each file refers only to files on rows
//! below its own. A reference is a path through `super::` or `crate::interp::` (imports and
//! qualified calls), or a call `self.f(` / `x.f(` of a function that exactly one file
//! defines (the `impl Exec` methods that the files share). Test code is not looked at.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows of `mod.rs`'s table, bottom first; files on one row do not refer to each other.
const ROWS: &[&[&str]] = &[
    &["heap"],
    &["number"],
    &["expr"],
    &["lexer"],
    &["parse"],
    &["limits"],
    &["method", "special"],
    &["lookup"],
    &["pool"],
    &["state"],
    &["stacks"],
    &["contexts", "transcript"],
    &["block_contexts"],
    &["closures"],
    &["scheduler"],
    &["primitives/common"],
    &[
        "primitives/arithmetic",
        "primitives/comparison",
        "primitives/float",
        "primitives/large",
        "primitives/indexing",
        "primitives/objects",
        "primitives/blocks",
        "primitives/control",
        "primitives/processes",
        "primitives/system",
        "primitives/strings",
    ],
    &["primitives/streams"],
    &["primitives"],
    &["send"],
    &["step"],
    &["execute"],
    &["stack_depth"],
    &["doit"],
    &["inlining", "closure_scope"],
    &["compile"],
    &["interpreter"],
    &["batch"],
    &["mod"],
];

const FAMILIES: &[&str] = &[
    "common",
    "arithmetic",
    "comparison",
    "float",
    "large",
    "indexing",
    "streams",
    "strings",
    "objects",
    "blocks",
    "control",
    "processes",
    "system",
];

fn row_of(file: &str) -> usize {
    ROWS.iter()
        .position(|row| row.contains(&file))
        .unwrap_or_else(|| {
            panic!(
                "{file}.rs is in no row of the layering: add it to mod.rs's table and to ROWS here"
            )
        })
}

/// The interpreter's source files (test code cut off), by their name in [`ROWS`].
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/interp");
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let dirs = [
        (root.clone(), ""),
        (root.join("primitives"), "primitives/"),
        (root.join("lookup"), "lookup/"),
        (root.join("parse"), "parse/"),
    ];
    for (dir, prefix) in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            // A module split into a folder is one file of the table: its parts together.
            let name = match (prefix, stem.as_str()) {
                ("primitives/", "mod") => "primitives".to_owned(),
                ("lookup/", _) => "lookup".to_owned(),
                ("parse/", _) => "parse".to_owned(),
                _ => format!("{prefix}{stem}"),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            // Comments (doc links among them) are not references.
            let code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            files.entry(name).or_default().push_str(&code);
        }
    }
    files
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The files a path after `super::` or `crate::interp::` names: `rest` is the text after the
/// prefix, `in_primitives` whether the prefix leads into the primitives folder.
fn path_targets(rest: &str, in_primitives: bool, out: &mut BTreeSet<String>) {
    let first = ident_at(rest);
    if in_primitives {
        if FAMILIES.contains(&first) {
            out.insert(format!("primitives/{first}"));
        } else {
            out.insert("primitives".to_owned());
        }
        return;
    }
    if first != "primitives" {
        out.insert(first.to_owned());
        return;
    }
    let after = &rest[first.len()..];
    let Some(after) = after.strip_prefix("::") else {
        out.insert("primitives".to_owned());
        return;
    };
    if let Some(group) = after.strip_prefix('{') {
        let group = &group[..group.find('}').unwrap()];
        for item in group.split(',') {
            path_targets(item.trim(), true, out);
        }
    } else {
        path_targets(after, true, out);
    }
}

fn references(file: &str, code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let in_folder = file.starts_with("primitives/");
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let (skip, into_primitives) = if rest.starts_with("crate::interp::") {
            ("crate::interp::".len(), false)
        } else if rest.starts_with("super::super::") {
            ("super::super::".len(), false)
        } else if rest.starts_with("super::") {
            ("super::".len(), in_folder)
        } else {
            i += rest.chars().next().unwrap().len_utf8();
            continue;
        };
        path_targets(&rest[skip..], into_primitives, &mut out);
        i += skip;
    }
    out.remove(file);
    out.remove("self");
    out
}

/// Function names each file defines.
fn definitions(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("fn ") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name = ident_at(&code[i + 3..]);
        if !name.is_empty() {
            names.insert(name.to_owned());
        }
    }
    names
}

fn calls(code: &str, name: &str) -> bool {
    ["self.", "x."].iter().any(|recv| {
        let pat = format!("{recv}{name}(");
        code.match_indices(&pat).any(|(i, _)| {
            !code[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        })
    })
}

#[test]
fn files_refer_only_to_the_rows_below_them() {
    let files = sources();
    assert!(files.len() >= 20, "found only {:?}", files.keys());
    let defs: BTreeMap<&str, BTreeSet<String>> = files
        .iter()
        .map(|(f, c)| (f.as_str(), definitions(c)))
        .collect();
    let mut owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (f, names) in &defs {
        for n in names {
            owner.entry(n.as_str()).or_default().push(f);
        }
    }
    let mut wrong = Vec::new();
    let mut edges = 0;
    for (file, code) in &files {
        let mut targets = references(file, code);
        for (name, owners) in &owner {
            if let [only] = owners.as_slice() {
                if *only != file && calls(code, name) {
                    targets.insert((*only).to_owned());
                }
            }
        }
        for t in targets {
            edges += 1;
            if row_of(&t) >= row_of(file) {
                wrong.push(format!("{file} -> {t}"));
            }
        }
    }
    assert!(edges > 40, "the scan found only {edges} references");
    assert!(
        wrong.is_empty(),
        "references that go up or sideways: {wrong:#?}"
    );
}

#[test]
fn the_scan_sees_references() {
    // The scanner itself: a path import, a group, a call of a method defined elsewhere.
    let mut out = BTreeSet::new();
    path_targets("primitives::{self, control, Prim};", false, &mut out);
    assert_eq!(
        out,
        ["primitives", "primitives/control"]
            .map(String::from)
            .into()
    );
    let refs = references(
        "send",
        "use super::state::{Exec};\nuse crate::interp::limits::X;",
    );
    assert_eq!(refs, ["limits", "state"].map(String::from).into());
    assert!(calls("let c = self.block_copy(r, n)?;", "block_copy"));
    assert!(!calls("let c = ix.size();", "size"));
    assert!(!calls("self.image.class_of(v)", "class_of"));
    assert!(definitions("pub(crate) fn enter_block(&mut self)").contains("enter_block"));
}

/// The rows of `mod.rs`'s file table, bottom first, as [`ROWS`] names files.
fn rows_in_the_table() -> Vec<Vec<String>> {
    let text = include_str!("../mod.rs");
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("//! | ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(files) = cells.get(2) else { continue };
        let mut row = Vec::new();
        for name in files.split('`').skip(1).step_by(2) {
            let name = name.trim_end_matches(".rs");
            if let Some(group) = name.strip_prefix("primitives/{") {
                for f in group.trim_end_matches('}').split(", ") {
                    row.push(format!("primitives/{f}"));
                }
            } else if name == "primitives/mod" {
                row.push("primitives".to_owned());
            } else {
                row.push(name.to_owned());
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
    }
    rows.reverse();
    rows
}

#[test]
fn the_table_in_mod_rs_is_these_rows() {
    let ours: Vec<Vec<String>> = ROWS
        .iter()
        .map(|row| row.iter().map(|f| f.to_string()).collect())
        .collect();
    assert_eq!(rows_in_the_table(), ours);
}
