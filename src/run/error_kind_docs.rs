//! The documents agree with [`ErrorKind`]: README's table is its list, and every kind a
//! document names ("kind `blocked`", "kinds (`timeout`, `http_502`, …)") is a real one.

use std::path::{Path, PathBuf};

use super::ErrorKind;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown and Rust files people read: top-level documents, and every file under the
/// source, test, bench, script and deploy folders (this file left out: it names bad words).
fn documents() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"]
        .iter()
        .map(|f| repo().join(f))
        .collect();
    let mut stack: Vec<PathBuf> = ["src", "tests", "benches", "scripts", "deploy"]
        .iter()
        .map(|d| repo().join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.map(|e| e.expect("a readable directory entry").path()) {
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.retain(|p| !p.ends_with("run/error_kind_docs.rs"));
    found
}

/// Every backticked word right after "kind" or "kinds" (optionally in parentheses, joined by
/// commas, "or" and "and"): the words a document presents as error kinds.
fn named_kinds(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(at) = text[from..].find("kind") {
        let start = from + at;
        from = start + "kind".len();
        if text[..start].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let mut rest = &text[from..];
        rest = rest.strip_prefix('s').unwrap_or(rest);
        rest = rest.strip_prefix(' ').unwrap_or(rest);
        rest = rest.strip_prefix('(').unwrap_or(rest);
        while let Some(quoted) = rest.strip_prefix('`') {
            let Some(end) = quoted.find('`') else { break };
            let word = &quoted[..end];
            if !word.is_empty() && word.chars().all(is_word) {
                words.push(word.to_string());
            }
            rest = &quoted[end + 1..];
            let joined = [", ", " or ", " and ", ", or ", ", and "]
                .iter()
                .find_map(|sep| rest.strip_prefix(sep));
            match joined {
                Some(next) => rest = next,
                None => break,
            }
        }
    }
    words
}

#[test]
fn readme_lists_every_kind_as_the_code_does() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let table = ErrorKind::table();
    let header = table.lines().next().expect("a header");
    let start = readme
        .find(header)
        .unwrap_or_else(|| panic!("README.md has no table of run error kinds; add:\n\n{table}"));
    let in_readme: String = readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        in_readme, table,
        "README.md's table of run error kinds differs from ErrorKind; it should read:\n\n{table}"
    );
}

#[test]
fn every_kind_a_document_names_is_a_real_one() {
    let mut wrong = Vec::new();
    for path in documents() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for word in named_kinds(&text) {
            if word.parse::<ErrorKind>().is_err() {
                let file = path.strip_prefix(repo()).unwrap_or(&path).display();
                wrong.push(format!("{file}: `{word}`"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "these documents name run error kinds that do not exist (see ErrorKind): {wrong:#?}"
    );
}

#[test]
fn the_scan_finds_kinds_however_a_sentence_lists_them() {
    let text = "fails with kind `blocked` and; the run's error kind (`abandoned`, \
                `upstream_blocked`, …); kinds `timeout`, `http_502` or `redirect`. \
                error_kind `x`, a kind of `thing`, RouteKind `direct`, kind `…`";
    assert_eq!(
        named_kinds(text),
        [
            "blocked",
            "abandoned",
            "upstream_blocked",
            "timeout",
            "http_502",
            "redirect"
        ]
    );
}
