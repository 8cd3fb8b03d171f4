//! The code's layers, read from its own imports: no two files import each other in a loop,
//! and every import points down the layers ARCHITECTURE.md lists (bottom first).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The layers, bottom first: a file may import files of its own layer or of one below.
/// Keep in step with the table in ARCHITECTURE.md (the test checks each is named there).
const LAYERS: &[&[&str]] = &[
    &["src/diag/"],
    &["src/catalog/"],
    &["src/model/"],
    &["src/script/"],
    &["src/bindings/"],
    &["src/loader.rs"],
    &["src/store/", "src/net.rs", "src/logging.rs"],
    &[
        "src/datasets/",
        "src/models/",
        "src/registry/",
        "src/notify/",
        "src/gallery/",
        "src/pools/",
        "src/services/",
    ],
    &["src/exec/"],
    &["src/backends/"],
    &["src/present/"],
    &["src/session/", "src/serve/", "src/kernel/", "src/repl/"],
    &["src/cli/"],
    &["src/lib.rs", "src/main.rs"],
];

/// Imports that point up a layer today, each with the reason it stays.
const UPWARD: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as a path from the root, with its text (unit tests, in a
/// module at a file's end or in a `tests` file or folder, left out).
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.components().any(|c| c.as_os_str() == "tests")
                && !p.ends_with("tests.rs")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, code_of(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect()
}

/// The text without comments and without the unit tests at its end.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// The module path of a file: `src/exec/backend.rs` is `exec::backend`.
fn module_of(file: &str) -> Vec<String> {
    let rel = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let (prefix, inner) = (
        &tree[..open],
        &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())],
    );
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes: Vec<char> = inner.chars().collect();
    for (i, c) in bytes.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item: String = bytes[start..i].iter().collect();
                out.extend(expand(&format!("{prefix}{item}")));
                start = i + 1;
            }
            _ => {}
        }
    }
    let last: String = bytes[start..].iter().collect();
    if !last.is_empty() {
        out.extend(expand(&format!("{prefix}{last}")));
    }
    out
}

/// The paths a file names: `crate::…` anywhere, and `super::…`/`self::…` in `use` items,
/// each as a module path from the crate's root.
fn paths_named(file: &str, code: &str) -> Vec<Vec<String>> {
    // `self` is the file's module, `super` its parent (for `a/b.rs` and `a/b/mod.rs` alike).
    let own = module_of(file);
    let parent: Vec<String> = own[..own.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    let mut push = |path: &str| {
        let segs: Vec<String> = path
            .split("::")
            .map(|s| s.split(" as ").next().unwrap_or(s).to_string())
            .filter(|s| !s.is_empty() && s != "*")
            .collect();
        let Some(first) = segs.first() else { return };
        let resolved = match first.as_str() {
            "crate" => segs[1..].to_vec(),
            "super" => parent
                .iter()
                .cloned()
                .chain(segs[1..].iter().cloned())
                .collect(),
            "self" => own
                .iter()
                .cloned()
                .chain(segs[1..].iter().cloned())
                .collect(),
            _ => return,
        };
        out.push(resolved);
    };
    // `use` items (a line that starts one, up to its `;`), braces expanded.
    let lines: Vec<&str> = code.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(item) = t.strip_prefix("use ") else {
            continue;
        };
        let mut text = item.to_string();
        for more in &lines[n + 1..] {
            if text.contains(';') {
                break;
            }
            text.push_str(more);
        }
        if let Some(end) = text.find(';') {
            for p in expand(&text[..end]) {
                push(&p);
            }
        }
    }
    // `crate::a::b` and `super::a::b` written inline.
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            push(tail[..len].trim_end_matches(':'));
            rest = &tail[len..];
        }
    }
    out
}

/// Which file each import reaches: the longest module path that is a file.
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let by_module: HashMap<Vec<String>, String> =
        files.keys().map(|f| (module_of(f), f.clone())).collect();
    let mut edges = BTreeMap::new();
    for (file, code) in files {
        let mut to = BTreeSet::new();
        for path in paths_named(file, code) {
            if let Some(target) = (1..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n]))
            {
                if target != file && !target.ends_with("lib.rs") {
                    to.insert(target.clone());
                }
            }
        }
        edges.insert(file.clone(), to);
    }
    edges
}

/// Groups of files that import each other in a loop (Tarjan's strongly connected components).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
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
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.out.push(group);
                }
            }
        }
    }
    let mut t = T {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

fn layer_of(file: &str) -> Option<usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, rooms)| rooms.iter().map(move |r| (i, *r)))
        .filter(|(_, r)| file == *r || (r.ends_with('/') && file.starts_with(r)))
        .max_by_key(|(_, r)| r.len())
        .map(|(i, _)| i)
}

#[test]
fn no_two_files_import_each_other_in_a_loop() {
    let edges = imports(&sources());
    let found = circles(&edges);
    let text: Vec<String> = found
        .iter()
        .map(|group| {
            let members: BTreeSet<&String> = group.iter().collect();
            let ties: Vec<String> = group
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| members.contains(b))
                        .map(move |b| format!("    {a} -> {b}"))
                })
                .collect();
            format!("{}\n{}", group.join(", "), ties.join("\n"))
        })
        .collect();
    assert!(found.is_empty(), "import circles:\n{}", text.join("\n"));
}

#[test]
fn every_import_points_down_the_layers() {
    let files = sources();
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for room in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            architecture.contains(&format!("`{room}`")),
            "ARCHITECTURE.md's layer table does not name `{room}`"
        );
    }
    let unplaced: Vec<&String> = files.keys().filter(|f| layer_of(f).is_none()).collect();
    assert!(unplaced.is_empty(), "files on no layer: {unplaced:?}");
    let mut upward = Vec::new();
    for (from, to) in imports(&files) {
        for t in to {
            if layer_of(&t) > layer_of(&from)
                && !UPWARD
                    .iter()
                    .any(|(a, b)| from.starts_with(a) && t.starts_with(b))
            {
                upward.push(format!("{from} -> {t}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up a layer:\n  {}",
        upward.join("\n  ")
    );
    assert!(UPWARD.len() <= 3, "at most 3 imports may point up a layer");
}
