//! Criterion's medians and the memory benches' JSON, read back from the target directory.

use std::collections::BTreeMap;
use std::path::Path;

/// Median ns per iteration, and elements per iteration where the bench declared them, by
/// `group/function[/parameter]`.
pub struct Results {
    median: BTreeMap<String, f64>,
    elements: BTreeMap<String, f64>,
}

impl Results {
    pub fn load(root: &Path) -> Results {
        let mut r = Results {
            median: BTreeMap::new(),
            elements: BTreeMap::new(),
        };
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n == "new") {
                        r.read_one(root, &p);
                    } else {
                        stack.push(p);
                    }
                }
            }
        }
        r
    }

    fn read_one(&mut self, root: &Path, new: &Path) {
        let Some(id) = new
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
        else {
            return;
        };
        let json = |name: &str| -> Option<serde_json::Value> {
            serde_json::from_str(&std::fs::read_to_string(new.join(name)).ok()?).ok()
        };
        if let Some(m) = json("estimates.json").and_then(|e| e["median"]["point_estimate"].as_f64())
        {
            self.median.insert(id.clone(), m);
        }
        if let Some(n) = json("benchmark.json").and_then(|b| b["throughput"]["Elements"].as_f64()) {
            self.elements.insert(id, n);
        }
    }

    /// Whether any result's id starts with `prefix` (a criterion group, as `group/`).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.median
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(id, _)| id.starts_with(prefix))
    }

    /// Median ns per iteration.
    pub fn ns(&self, id: &str) -> Option<f64> {
        self.median.get(id).copied()
    }

    /// Median ns per element (per read, per op).
    pub fn ns_per(&self, id: &str) -> Option<f64> {
        Some(self.ns(id)? / self.elements.get(id).copied().unwrap_or(1.0))
    }
}

pub fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "–".into(),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) if ns >= 100.0 => format!("{ns:.0} ns"),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

pub fn read_json(dir: &Path, name: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).ok()?).ok()
}
