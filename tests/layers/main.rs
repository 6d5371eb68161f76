//! The layering rule of ARCHITECTURE.md, checked on the source: no import cycle between
//! files, and no import from a lower layer to a higher one.
//!
//! It reads `src/**/*.rs`, leaves out comments, string literals and `#[cfg(test)]` items, and
//! collects every path into the crate: `use` trees and inline paths starting with `crate::`,
//! `super::`, `self::` or the name of a child module. Each path is resolved to the file of
//! the deepest module it names, following a module's `pub use` re-exports to the file inside it
//! that defines the item (a re-export of another top-level module's item is not followed: the
//! import still names the re-exporting module). A file may use its ancestors (a `mod.rs` is
//! the face of its folder), so those arrows are not counted as cycles. The layers are read from
//! the table under `## Layers` in ARCHITECTURE.md: every top-level module must be in it
//! exactly once.

mod doc;
mod graph;
mod source;

use std::path::Path;

use graph::Crate;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_file_imports_in_a_circle_and_no_layer_imports_from_above() {
    let files = source::read_dir(&repo().join("src"));
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let layers = doc::layers_from_markdown(&doc).unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"));
    let krate = Crate::parse(&files);
    let problems = krate.check(&layers);
    assert!(
        problems.is_empty(),
        "the layering of ARCHITECTURE.md is broken:\n{}",
        problems.join("\n")
    );
    // The check saw the crate: a count of arrows that cannot be zero while modules use each other.
    assert!(
        krate.edge_count() > 100,
        "only {} imports found",
        krate.edge_count()
    );
}

#[test]
fn every_module_is_described_in_architecture_md() {
    let files = source::read_dir(&repo().join("src"));
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let modules = doc::modules_table(&doc);
    let missing: Vec<String> = Crate::parse(&files)
        .top_level()
        .into_iter()
        .filter(|m| !modules.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's `## Modules` table does not describe: {}",
        missing.join(", ")
    );
}

/// The checker itself, on small made-up crates: it must be able to fail.
mod checker {
    use super::doc::{layers_from_markdown, Layers};
    use super::graph::Crate;

    fn krate(files: &[(&str, &str)]) -> Crate {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        Crate::parse(&files)
    }

    fn layers(rows: &str) -> Layers {
        layers_from_markdown(&format!(
            "## Layers\n\n| layer | modules | rule |\n|---|---|---|\n{rows}\n\n## Next\n"
        ))
        .unwrap()
    }

    const LIB: &str = "pub mod low; pub mod high;";

    #[test]
    fn an_import_from_a_higher_layer_is_named() {
        let c = krate(&[
            ("lib.rs", LIB),
            ("low.rs", "use crate::high::Thing;"),
            ("high.rs", "pub struct Thing;"),
        ]);
        let problems = c.check(&layers("| 1 | `low` | x |\n| 2 | `high` | y |"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("src/low.rs"), "{problems:?}");
        assert!(
            problems[0].contains("layer 1") && problems[0].contains("layer 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_cycle_between_sibling_files_is_named() {
        let c = krate(&[
            ("lib.rs", "pub mod sim;"),
            ("sim/mod.rs", "mod server; mod wire;"),
            (
                "sim/server.rs",
                "use super::wire::write;\npub struct Plain;",
            ),
            ("sim/wire.rs", "pub fn write(p: &super::server::Plain) {}"),
        ]);
        let problems = c.check(&layers("| 1 | `sim` | x |"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("sim::server → sim::wire → sim::server")
                || problems[0].contains("sim::wire → sim::server → sim::wire"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_cycle_between_top_level_modules_in_one_layer_is_named() {
        let c = krate(&[
            ("lib.rs", LIB),
            ("low.rs", "pub fn f() { crate::high::g() }"),
            ("high.rs", "use crate::{low::{f}};\npub fn g() {}"),
        ]);
        let problems = c.check(&layers("| 1 | `low`, `high` | x |"));
        assert!(problems.iter().any(|p| p.contains("cycle")), "{problems:?}");
    }

    #[test]
    fn a_reexport_leads_to_the_file_that_defines_the_item() {
        let c = krate(&[
            ("lib.rs", LIB),
            ("low/mod.rs", "mod inner; pub use inner::Thing;"),
            ("low/inner.rs", "use crate::high::X; pub struct Thing;"),
            ("high.rs", "use crate::low::Thing; pub struct X;"),
        ]);
        let problems = c.check(&layers("| 1 | `low`, `high` | x |"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("high → low::inner → high")
                    || p.contains("low::inner → high → low::inner")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_reexport_from_a_higher_module_does_not_hide_an_upward_import() {
        let c = krate(&[
            ("lib.rs", "pub mod leaf; pub mod low; pub mod high;"),
            ("low.rs", "use crate::high::Leaf;"),
            ("high.rs", "pub use crate::leaf::Leaf;"),
            ("leaf.rs", "pub struct Leaf;"),
        ]);
        let problems = c.check(&layers("| 1 | `leaf`, `low` | x |\n| 2 | `high` | y |"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("src/low.rs"), "{problems:?}");
        assert!(problems[0].contains("`high`"), "{problems:?}");
    }

    #[test]
    fn children_may_use_their_parent_and_tests_comments_and_strings_do_not_count() {
        let c = krate(&[
            ("lib.rs", LIB),
            ("low/mod.rs", "mod a; pub use a::A; pub struct P;"),
            ("low/a.rs", "use super::P; pub struct A;\n// crate::high::X\nconst S: &str = \"crate::high::X\";\n#[cfg(test)]\nmod tests { use crate::high::X; }"),
            ("high.rs", "pub struct X; const C: char = '\"'; fn f<'a>(x: &'a str) {}"),
        ]);
        let problems = c.check(&layers("| 1 | `low` | x |\n| 2 | `high` | y |"));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_module_missing_from_the_table_is_named() {
        let c = krate(&[("lib.rs", LIB), ("low.rs", ""), ("high.rs", "")]);
        let problems = c.check(&layers("| 1 | `low` | x |"));
        assert!(
            problems.iter().any(|p| p.contains("`high`")),
            "{problems:?}"
        );
    }
}
