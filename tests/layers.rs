//! The library's modules point down, never round: a newcomer can read it from the bottom
//! (the scenario model) to the top (the command line) without meeting a module that needs
//! one above it. See docs/architecture.md.
//!
//! Read from the sources: every `crate::…`, `super::…` and `self::…` path outside comments
//! and unit tests is an arrow from its file to the file that defines the module it names. A
//! module declaring its own submodules (and re-exporting them) is not an arrow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may use its own layer and those below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "support",
        &[
            "yaml",
            "choice",
            "chain",
            "tree",
            "diagnostic",
            "duration",
            "exit",
            "seal",
            "tools",
            "wait",
        ],
    ),
    (
        "scenario model",
        &["scenario", "compose", "ceiling", "manifests", "repository"],
    ),
    ("backend", &["backend", "recording"]),
    ("check", &["check"]),
    ("session", &["session", "timeline"]),
    ("grading", &["grade", "plan", "takehome", "report"]),
    ("engine", &["engine", "candidate"]),
    ("serve", &["serve"]),
    ("cli", &["cli"]),
];

/// Module path (`check::http`, `` for the crate root) to its source text, tests cut off.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).expect("src/ is readable") {
            let p = e.expect("a folder entry").path();
            if p.is_dir() {
                walk(&p, root, out);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).expect("a readable source");
            out.insert(parts.join("::"), code_of(&text));
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The code of a file: line comments dropped, its unit tests cut off.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            // `//` inside a string is rare enough in paths not to matter here.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a piece of code names: `crate::a::b`, `super::c`, with `{x, y::z}` groups
/// expanded one level (enough to name the module each item comes from).
fn paths(code: &str) -> Vec<String> {
    let mut out = vec![];
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let i = from + i;
            from = i + start.len();
            if i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':') {
                continue;
            }
            let mut end = i;
            while end < bytes.len() && (is_ident(bytes[end]) || bytes[end] == b':') {
                end += 1;
            }
            let head = code[i..end].trim_end_matches(':').to_string();
            if code[end..].starts_with('{') {
                let close = code[end..].find('}').map_or(code.len(), |c| end + c);
                for item in code[end + 1..close].split(',') {
                    let item = item.trim().trim_start_matches('{');
                    let item: String = item
                        .chars()
                        .take_while(|&c| c.is_alphanumeric() || c == '_' || c == ':')
                        .collect();
                    if !item.is_empty() {
                        out.push(format!("{head}::{}", item.trim_end_matches(':')));
                    }
                }
            }
            out.push(head);
        }
    }
    out
}

/// The module a path names, seen from module `at`: its longest prefix that is a module.
fn resolve(at: &str, path: &str, known: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if at.is_empty() {
        vec![]
    } else {
        at.split("::").collect()
    };
    match segs.first().copied() {
        Some("crate") => {
            base.clear();
            segs.remove(0);
        }
        Some("self") => {
            segs.remove(0);
        }
        Some("super") => {
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        _ => return None,
    }
    (0..=segs.len())
        .rev()
        .map(|n| {
            base.iter()
                .chain(&segs[..n])
                .copied()
                .collect::<Vec<_>>()
                .join("::")
        })
        .find(|m| known.contains(m))
}

/// Arrows between modules, without a parent's arrows to its own submodules.
fn arrows() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &mods {
        for p in paths(code) {
            let Some(to) = resolve(m, &p, &known) else {
                continue;
            };
            let is_child = m.is_empty() || to.starts_with(&format!("{m}::"));
            if &to != m && !is_child {
                out.entry(m.clone()).or_default().insert(to);
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, ms))| ms.contains(&top))
        .map(|(i, (name, _))| (i, *name))
}

/// Circles in the graph (Tarjan's strongly connected components with more than one node).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> T<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let l = self.low[w.as_str()].min(self.low[v]);
                    self.low.insert(v, l);
                } else if self.on.contains(w.as_str()) {
                    let l = self.index[w.as_str()].min(self.low[v]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut c = vec![];
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    c.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if c.len() > 1 {
                    c.sort();
                    self.out.push(c);
                }
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn no_module_of_the_library_needs_one_that_needs_it_back() {
    let found = circles(&arrows());
    assert!(
        found.is_empty(),
        "import circles (each line: modules that reach each other):\n{}",
        found
            .iter()
            .map(|c| c.join(" ⇄ "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let mut wrong = vec![];
    for (from, tos) in arrows() {
        if from.is_empty() {
            continue;
        }
        let Some((fl, fname)) = layer_of(&from) else {
            wrong.push(format!(
                "{from} is in no layer: add it to LAYERS in tests/layers.rs"
            ));
            continue;
        };
        for to in tos {
            if to.is_empty() {
                continue;
            }
            match layer_of(&to) {
                Some((tl, tname)) if tl > fl => wrong.push(format!(
                    "{from} ({fname}) uses {to} ({tname}), a layer above"
                )),
                None => wrong.push(format!(
                    "{to} is in no layer: add it to LAYERS in tests/layers.rs"
                )),
                _ => {}
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_reader_of_paths_finds_arrows_it_is_shown() {
    // The test above is only as good as this reading; a circle planted by hand is found.
    let known: BTreeSet<String> = ["a", "b", "b::c"].iter().map(|s| s.to_string()).collect();
    let code = "use crate::b::{c::Thing, Other};\nfn f() { super::super::a::g() }";
    let found: BTreeSet<String> = paths(code)
        .iter()
        .filter_map(|p| resolve("b::c", p, &known))
        .collect();
    assert_eq!(
        found,
        ["a", "b", "b::c"].iter().map(|s| s.to_string()).collect()
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    assert!(
        code_of("use crate::a; // crate::b\n#[cfg(test)]\nmod tests { use crate::c; }")
            .contains("crate::a")
    );
    assert!(!code_of("use crate::a; // crate::b\n").contains("crate::b"));
}
