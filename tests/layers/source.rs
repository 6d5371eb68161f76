//! Reading Rust source for the layering check: files, and their tokens without comments,
//! literals and `#[cfg(test)]` items.

use std::path::Path;

/// Every `.rs` file under `dir`, as (path relative to `dir` with `/`, text), sorted.
pub fn read_dir(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                found.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

impl Tok {
    pub fn is(&self, word: &str) -> bool {
        matches!(self, Tok::Ident(w) if w == word)
    }
}

/// The tokens of `text`, leaving out comments and literals; and the names of the child
/// modules declared under `#[cfg(test)]` (`mod runs_tests;`), whose files are test code.
pub fn tokens(text: &str) -> (Vec<Tok>, Vec<String>) {
    let all = lex(text);
    let mut kept = Vec::with_capacity(all.len());
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if let Some(end) = attribute_end(&all, i) {
            if is_cfg_test(&all[i..end]) {
                i = skip_item(&all, end, &mut test_mods);
                continue;
            }
        }
        kept.push(all[i].clone());
        i += 1;
    }
    (kept, test_mods)
}

/// `#[…]` starting at `i`: the index after its closing `]`.
fn attribute_end(t: &[Tok], i: usize) -> Option<usize> {
    if t.get(i) != Some(&Tok::Punct('#')) || t.get(i + 1) != Some(&Tok::Punct('[')) {
        return None;
    }
    let mut depth = 0;
    for (j, tok) in t.iter().enumerate().skip(i + 1) {
        match tok {
            Tok::Punct('[') => depth += 1,
            Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `#[cfg(test)]`, `#[cfg(all(test, …))]`, but not `#[cfg(not(test))]`.
fn is_cfg_test(attr: &[Tok]) -> bool {
    attr.get(2).is_some_and(|t| t.is("cfg"))
        && attr.iter().any(|t| t.is("test"))
        && !attr.iter().any(|t| t.is("not"))
}

/// Skips further attributes and the item after them: up to a `;` or a closed `{…}` at depth 0.
fn skip_item(t: &[Tok], mut i: usize, test_mods: &mut Vec<String>) -> usize {
    while let Some(end) = attribute_end(t, i) {
        i = end;
    }
    if t.get(i).is_some_and(|t| t.is("pub")) {
        i += 1;
    }
    if let (Some(Tok::Ident(m)), Some(Tok::Ident(name)), Some(Tok::Punct(';'))) =
        (t.get(i), t.get(i + 1), t.get(i + 2))
    {
        if m == "mod" {
            test_mods.push(name.clone());
        }
    }
    let mut depth = 0i32;
    while i < t.len() {
        match t[i] {
            Tok::Punct('{') | Tok::Punct('(') | Tok::Punct('[') => depth += 1,
            Tok::Punct('}') | Tok::Punct(')') | Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 && t[i] == Tok::Punct('}') {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Identifiers, `::` and single punctuation; comments, strings, chars and numbers vanish.
fn lex(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            i = block_comment_end(&c, i);
        } else if ch == '"' {
            i = string_end(&c, i + 1);
        } else if (ch == 'r' || ch == 'b') && raw_string_start(&c, i).is_some() {
            let (hashes, open) = raw_string_start(&c, i).unwrap();
            i = raw_string_end(&c, open + 1, hashes);
        } else if ch == 'b' && next == Some('"') {
            i = string_end(&c, i + 2);
        } else if ch == '\'' {
            i = char_or_lifetime_end(&c, i);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && !c.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// From just after an opening `"`: the index after the closing one.
fn string_end(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// `r"`, `r#"`, `br##"` at `i`: the number of `#` and the index of the `"`.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = c[j..].iter().take_while(|&&h| h == '#').count();
    (c.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
}

fn raw_string_end(c: &[char], mut i: usize, hashes: usize) -> usize {
    while i < c.len() {
        if c[i] == '"'
            && c[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&h| h == '#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// `'a'`, `'\n'`, `'\u{1F600}'` are chars and vanish; `'a` is a lifetime and vanishes too.
fn char_or_lifetime_end(c: &[char], i: usize) -> usize {
    if c.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < c.len() && c[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if c.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    let mut j = i + 1;
    while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
        j += 1;
    }
    j
}
