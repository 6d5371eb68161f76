//! The two tables of ARCHITECTURE.md the check reads: `## Layers` and `## Modules`.

use std::collections::{BTreeMap, BTreeSet};

/// Top-level module → its layer number.
pub type Layers = BTreeMap<String, u32>;

/// The `## Layers` table: `| 2 | \`fetch\`, \`storage\` | rule |` rows.
pub fn layers_from_markdown(doc: &str) -> Result<Layers, String> {
    let mut layers = Layers::new();
    for row in section_rows(doc, "## Layers") {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(n) = cells[0].parse::<u32>() else {
            continue;
        };
        for m in backticked(cells.get(1).copied().unwrap_or("")) {
            if layers.insert(m.clone(), n).is_some() {
                return Err(format!("`{m}` is in two layers"));
            }
        }
    }
    if layers.is_empty() {
        return Err("no `## Layers` table with numbered rows".into());
    }
    Ok(layers)
}

/// Every module named in the first column of the `## Modules` table.
pub fn modules_table(doc: &str) -> BTreeSet<String> {
    section_rows(doc, "## Modules")
        .flat_map(|row| backticked(row.trim_matches('|').split('|').next().unwrap_or("")))
        .collect()
}

fn section_rows<'a>(doc: &'a str, heading: &'a str) -> impl Iterator<Item = &'a str> {
    doc.lines()
        .skip_while(move |l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.trim_start().starts_with('|'))
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}
