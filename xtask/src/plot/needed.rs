//! Which benches the tables and plots read, and the commands that produce their results: so
//! that `cargo xtask plot` on a clone without results says exactly what to run.

use std::path::Path;

use super::results::{read_json, Results};

/// A bench whose results the tables or plots read: its package (`None` for the heap's), its
/// name, and what of its output shows that it ran (a criterion group, as `group/`, or a JSON
/// file it writes to `target/cowheap-bench/`).
pub struct Bench {
    pub package: Option<&'static str>,
    pub name: &'static str,
    pub output: Output,
}

pub enum Output {
    Group(&'static str),
    Json(&'static str),
}

pub const BENCHES: &[Bench] = &[
    heap("read_barrier", Output::Group("read_barrier/")),
    heap("read_paths", Output::Group("read_paths/")),
    heap("writes", Output::Group("writes_first_cow/")),
    heap("entries", Output::Group("entries_1/")),
    heap("images", Output::Group("images_create_drop/")),
    heap("scaling", Output::Group("scaling/")),
    heap("memory", Output::Json("memory")),
    heap("delta", Output::Group("delta/")),
    heap("collect", Output::Group("collect_young/")),
];

const fn heap(name: &'static str, output: Output) -> Bench {
    Bench {
        package: None,
        name,
        output,
    }
}

impl Bench {
    pub fn ran(&self, r: &Results, bench_dir: &Path) -> bool {
        match self.output {
            Output::Group(prefix) => r.has_prefix(prefix),
            Output::Json(name) => read_json(bench_dir, name).is_some(),
        }
    }
}

/// The `cargo bench` commands, one per package, that run `benches`.
pub fn commands<'a>(benches: impl IntoIterator<Item = &'a Bench>) -> Vec<String> {
    let mut by_package: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
    for b in benches {
        match by_package.iter_mut().find(|(p, _)| *p == b.package) {
            Some((_, names)) => names.push(b.name),
            None => by_package.push((b.package, vec![b.name])),
        }
    }
    by_package
        .into_iter()
        .map(|(package, names)| {
            let mut c = String::from("cargo bench");
            if let Some(p) = package {
                c.push_str(&format!(" -p {p}"));
            }
            for n in names {
                c.push_str(&format!(" --bench {n}"));
            }
            c
        })
        .collect()
}

/// The benches of `BENCHES` that have not run (in full mode: smoke-mode results go to
/// `target/criterion-smoke` and `target/cowheap-bench/smoke`, which nothing here reads).
pub fn missing<'a>(r: &Results, bench_dir: &Path) -> Vec<&'a Bench> {
    BENCHES.iter().filter(|b| !b.ran(r, bench_dir)).collect()
}

/// The bench named `name`.
pub fn bench(name: &str) -> &'static Bench {
    BENCHES
        .iter()
        .find(|b| b.name == name)
        .expect("a bench of BENCHES")
}
