//! The crate as a graph of files (modules) joined by imports, and the checks on it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::source::{tokens, Tok};

type ModPath = Vec<String>;

use super::doc::Layers;

struct Module {
    file: String,
    /// Paths into the crate, as written.
    paths: Vec<ModPath>,
    /// `pub use` names: exported name → path as written.
    exports: BTreeMap<String, ModPath>,
}

pub struct Crate {
    modules: BTreeMap<ModPath, Module>,
    /// (from, to) → the first path that made the arrow.
    edges: BTreeMap<(ModPath, ModPath), String>,
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// `a/b/mod.rs` and `a/b.rs` are `a::b`; `lib.rs` is the root; `main.rs` is another crate.
fn module_path(file: &str) -> Option<ModPath> {
    let trimmed = file.strip_suffix(".rs")?;
    let mut parts: ModPath = trimmed.split('/').map(str::to_string).collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None,
        Some("lib") if parts.len() == 1 => return Some(Vec::new()),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

impl Crate {
    pub fn parse(files: &[(String, String)]) -> Crate {
        let mut lexed = BTreeMap::new();
        let mut test_only = BTreeSet::new();
        for (file, text) in files {
            let Some(path) = module_path(file) else {
                continue;
            };
            let (toks, test_mods) = tokens(text);
            for name in test_mods {
                let mut child = path.clone();
                child.push(name);
                test_only.insert(child);
            }
            lexed.insert(path, (file.clone(), toks));
        }
        lexed.retain(|path, _| !test_only.iter().any(|t| path.starts_with(t)));
        let known: BTreeSet<ModPath> = lexed.keys().cloned().collect();
        let mut modules = BTreeMap::new();
        for (path, (file, toks)) in lexed {
            let children: BTreeSet<String> = known
                .iter()
                .filter(|k| k.len() == path.len() + 1 && k.starts_with(&path))
                .map(|k| k.last().unwrap().clone())
                .collect();
            let (paths, exports) = collect_paths(&toks, &children);
            modules.insert(
                path,
                Module {
                    file: format!("src/{file}"),
                    paths,
                    exports,
                },
            );
        }
        let mut krate = Crate {
            modules,
            edges: BTreeMap::new(),
        };
        let mut edges = BTreeMap::new();
        for (from, m) in &krate.modules {
            for p in &m.paths {
                if let Some(to) = krate.resolve(from, p, 0) {
                    if &to != from {
                        edges
                            .entry((from.clone(), to))
                            .or_insert_with(|| p.join("::"));
                    }
                }
            }
        }
        krate.edges = edges;
        krate
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The crate's top-level modules (`lib.rs`'s children).
    pub fn top_level(&self) -> Vec<String> {
        self.modules
            .keys()
            .filter(|k| k.len() == 1)
            .map(|k| k[0].clone())
            .collect()
    }

    /// The module a path leads to: the deepest module it names, through `pub use`.
    fn resolve(&self, cur: &ModPath, path: &ModPath, depth: u32) -> Option<ModPath> {
        let first = path.first()?.as_str();
        let (mut base, mut rest): (ModPath, &[String]) = match first {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (cur.clone(), &path[1..]),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let keep = cur.len().checked_sub(ups)?;
                (cur[..keep].to_vec(), &path[ups..])
            }
            _ => (cur.clone(), &path[..]),
        };
        while let Some(seg) = rest.first() {
            let mut deeper = base.clone();
            deeper.push(seg.clone());
            if self.modules.contains_key(&deeper) {
                base = deeper;
                rest = &rest[1..];
                continue;
            }
            // A folder's face leads on to the file inside that defines the item; a re-export
            // from another top-level module does not: the import still names this module.
            if depth < 8 {
                if let Some(target) = self.modules.get(&base).and_then(|m| m.exports.get(seg)) {
                    let inside = self.resolve(&base, target, depth + 1);
                    if inside.as_ref().is_some_and(|t| t.first() == base.first()) {
                        return inside;
                    }
                }
            }
            break;
        }
        Some(base)
    }

    /// Every broken rule, one line each; empty when the layering holds.
    pub fn check(&self, layers: &Layers) -> Vec<String> {
        let mut problems = Vec::new();
        let top = self.top_level();
        for m in &top {
            if !layers.contains_key(m) {
                problems.push(format!(
                    "`{m}` is in no layer of ARCHITECTURE.md's `## Layers` table"
                ));
            }
        }
        for m in layers.keys().filter(|m| !top.contains(m)) {
            problems.push(format!(
                "ARCHITECTURE.md's `## Layers` table names `{m}`, which is not a module"
            ));
        }
        for ((from, to), via) in &self.edges {
            let (Some(f), Some(t)) = (from.first(), to.first()) else {
                continue;
            };
            if let (Some(lf), Some(lt)) = (layers.get(f), layers.get(t)) {
                if lt > lf {
                    problems.push(format!(
                        "{} (`{f}`, layer {lf}) imports {via} from `{t}` (layer {lt}): a layer uses only its own and lower layers",
                        self.modules[from].file
                    ));
                }
            }
        }
        let collapsed: BTreeMap<(ModPath, ModPath), String> = self
            .edges
            .iter()
            .filter(|((f, t), _)| !f.is_empty() && !t.is_empty() && f[0] != t[0])
            .map(|((f, t), via)| {
                let why = format!("{via} in {}", self.modules[f].file);
                ((vec![f[0].clone()], vec![t[0].clone()]), why)
            })
            .collect();
        let module_cycles = cycles(&collapsed);
        report(&mut problems, "module cycle", &module_cycles, &collapsed);
        // A file may use its ancestors: those arrows point at a folder's face, not a sibling.
        let files: BTreeMap<(ModPath, ModPath), String> = self
            .edges
            .iter()
            .filter(|((f, t), _)| !f.starts_with(t))
            .map(|(k, via)| (k.clone(), format!("{via} in {}", self.modules[&k.0].file)))
            .collect();
        report(&mut problems, "file cycle", &cycles(&files), &files);
        problems
    }
}

/// The first few cycles (one upward import can close dozens), then how many more.
fn report(
    problems: &mut Vec<String>,
    what: &str,
    found: &[Vec<ModPath>],
    edges: &BTreeMap<(ModPath, ModPath), String>,
) {
    const SHOWN: usize = 8;
    for cycle in found.iter().take(SHOWN) {
        problems.push(format!("{what}: {}", describe(cycle, edges)));
    }
    if found.len() > SHOWN {
        problems.push(format!("… and {} more of them", found.len() - SHOWN));
    }
}

/// `a → b → a (a: crate::b::X in src/a.rs; b: …)`.
fn describe(cycle: &[ModPath], edges: &BTreeMap<(ModPath, ModPath), String>) -> String {
    let mut names: Vec<String> = cycle.iter().map(|m| show(m)).collect();
    names.push(show(&cycle[0]));
    let why: Vec<String> = (0..cycle.len())
        .map(|i| {
            let (f, t) = (&cycle[i], &cycle[(i + 1) % cycle.len()]);
            format!("{}: {}", show(f), edges[&(f.clone(), t.clone())])
        })
        .collect();
    format!("{} ({})", names.join(" → "), why.join("; "))
}

/// One shortest cycle through each node that is on one, without repeating a set of nodes.
fn cycles(edges: &BTreeMap<(ModPath, ModPath), String>) -> Vec<Vec<ModPath>> {
    let mut next: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (f, t) in edges.keys() {
        next.entry(f).or_default().push(t);
    }
    let mut seen: BTreeSet<BTreeSet<ModPath>> = BTreeSet::new();
    let mut found = Vec::new();
    for &start in next.keys() {
        let mut came_from: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(at) = queue.pop_front() {
            for &n in next.get(at).into_iter().flatten() {
                if n == start {
                    closing = Some(at);
                    break 'search;
                }
                if !came_from.contains_key(n) {
                    came_from.insert(n, at);
                    queue.push_back(n);
                }
            }
        }
        let Some(mut at) = closing else { continue };
        let mut cycle = vec![at.clone()];
        while at != start {
            at = came_from[at];
            cycle.push(at.clone());
        }
        cycle.reverse();
        if seen.insert(cycle.iter().cloned().collect()) {
            found.push(cycle);
        }
    }
    found
}

/// Paths into the crate in one file's tokens, and its `pub use` exports.
fn collect_paths(
    t: &[Tok],
    children: &BTreeSet<String>,
) -> (Vec<ModPath>, BTreeMap<String, ModPath>) {
    let mut paths = Vec::new();
    let mut exports = BTreeMap::new();
    let ours = |p: &ModPath| {
        p.first().is_some_and(|s| {
            ["crate", "super", "self"].contains(&s.as_str()) || children.contains(s)
        })
    };
    let mut i = 0;
    while i < t.len() {
        if t[i].is("use") {
            let public = i > 0
                && (t[i - 1].is("pub")
                    || (t[i - 1] == Tok::Punct(')') && i >= 4 && t[i - 4].is("pub")));
            let mut leaves = Vec::new();
            i = use_tree(t, i + 1, Vec::new(), &mut leaves);
            for (path, name) in leaves {
                if !ours(&path) {
                    continue;
                }
                if let (true, Some(name)) = (public, name) {
                    exports.insert(name, path.clone());
                }
                paths.push(path);
            }
            continue;
        }
        let starts_path = matches!(&t[i], Tok::Ident(_))
            && t.get(i + 1) == Some(&Tok::Path)
            && (i == 0 || t[i - 1] != Tok::Path);
        if starts_path {
            let mut path = Vec::new();
            let mut j = i;
            while let Some(Tok::Ident(seg)) = t.get(j) {
                path.push(seg.clone());
                if t.get(j + 1) != Some(&Tok::Path) {
                    break;
                }
                j += 2;
            }
            if ours(&path) {
                paths.push(path);
            }
            i = j + 1;
            continue;
        }
        i += 1;
    }
    (paths, exports)
}

/// Parses a use tree from `i`; pushes (full path, name it binds) per leaf. Returns the index
/// after the tree (after the `;` at the top level).
fn use_tree(
    t: &[Tok],
    mut i: usize,
    prefix: ModPath,
    leaves: &mut Vec<(ModPath, Option<String>)>,
) -> usize {
    let mut path = prefix;
    loop {
        match t.get(i) {
            Some(Tok::Ident(seg)) if seg == "as" => {
                let alias = match t.get(i + 1) {
                    Some(Tok::Ident(a)) => Some(a.clone()),
                    _ => None,
                };
                leaves.push((path.clone(), alias));
                return finish(t, i + 2);
            }
            Some(Tok::Ident(seg)) => {
                path.push(seg.clone());
                i += 1;
            }
            Some(Tok::Path) => i += 1,
            Some(Tok::Punct('*')) => {
                leaves.push((path.clone(), None));
                return finish(t, i + 1);
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while t.get(i).is_some_and(|tok| *tok != Tok::Punct('}')) {
                    i = use_tree(t, i, path.clone(), leaves);
                }
                return finish(t, i + 1);
            }
            _ => {
                let name = match path.last().map(String::as_str) {
                    Some("self") => {
                        path.pop();
                        path.last().cloned()
                    }
                    other => other.map(str::to_string),
                };
                leaves.push((path, name));
                return finish(t, i);
            }
        }
    }
}

/// Steps over one `,` or `;` that ends a (sub)tree.
fn finish(t: &[Tok], i: usize) -> usize {
    match t.get(i) {
        Some(Tok::Punct(',')) | Some(Tok::Punct(';')) => i + 1,
        _ => i,
    }
}
