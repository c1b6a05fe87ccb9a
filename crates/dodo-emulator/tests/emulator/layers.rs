//! The crate's structure: no module cycle (a module `a` using `crate::b` while `b` uses
//! `crate::a`, directly or around a longer loop; parent/child declarations don't count), no
//! process-wide mutable state, no HTTP call from the emulator to itself, pages from templates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|l| l == "mod") {
                    parts.pop();
                }
                if parts == ["lib"] {
                    parts.clear();
                }
                let src = std::fs::read_to_string(&p).unwrap();
                // Code only: no tests, no comments (doc links are not dependencies).
                let code = src.split("#[cfg(test)]").next().unwrap_or("");
                let code: String = code
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(parts.join("::"), code);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// Module paths named after `prefix` in `code` (`crate::a::b`, `crate::{a, b::c}`).
fn mentions(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.push(item.trim().split(' ').next().unwrap_or("").to_string());
            }
        } else {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            out.push(rest[..end].trim_end_matches(':').to_string());
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = sources();
    let modules: BTreeSet<String> = src.keys().cloned().collect();
    let resolve = |path: &str| -> Option<String> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        (1..=segs.len())
            .rev()
            .map(|n| segs[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let related = |a: &str, b: &str| {
        a.is_empty()
            || b.is_empty()
            || a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
    };
    let mut g = BTreeMap::new();
    for (m, code) in &src {
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let mut deps = BTreeSet::new();
        let supers = mentions(code, "super::").into_iter().map(|p| {
            if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            }
        });
        for target in mentions(code, "crate::").into_iter().chain(supers) {
            if let Some(t) = resolve(&target)
                && t != *m
                && !related(m, &t)
            {
                deps.insert(t);
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

#[test]
fn the_crate_has_no_module_cycle() {
    let g = graph();
    assert!(g.len() > 30, "modules found: {:?}", g.keys());
    // A module is on a cycle when it can reach itself.
    let mut cycles = Vec::new();
    for start in g.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = g[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                cycles.push(start.clone());
                break;
            }
            if seen.insert(m) {
                stack.extend(g.get(m).into_iter().flatten());
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules on a dependency cycle: {cycles:?}"
    );
}

#[test]
fn no_global_state_no_self_calls_no_html_by_formatting() {
    for (m, code) in sources() {
        for banned in ["thread_local!", "static mut", "AtomicI64 = ", "lazy_static"] {
            assert!(
                !code.contains(banned),
                "{m} has process-wide state ({banned})"
            );
        }
        if m != "delivery" && m != "testing" {
            assert!(
                !code.contains("reqwest::Client"),
                "{m} makes HTTP calls (only webhook delivery and the test harness may)"
            );
        }
        assert!(
            m == "pages" || (!code.contains("<!doctype") && !code.contains("<form")),
            "{m} builds HTML by hand instead of through templates/"
        );
    }
}
