// A cell's evidence: games, files (name, size, rows yielded, rows loaded), the rows in the
// table, the last runs, and the verdict's reason and remedy — from the gap report's row and
// `GET /runs` for the date and market.

import { api, guarded } from "./api.js";
import { CATEGORIES, LOST, key, state, toggleSelected } from "./calendar.js";
import { bytes, count, el, fillTable, time } from "./dom.js";

const panel = () => document.getElementById("evidence");

/** A signal is `{"known": value}` or `{"unknown": "why"}`. */
function signal(s, show) {
  if (!s) return "–";
  if ("unknown" in s) return el("span", { class: "unknown" }, `unknown: ${s.unknown}`);
  return show(s.known);
}

function remedy(r) {
  switch (r.kind) {
    case "rescrape": return "scrape the date and market again (its completion message reaches Phase 2)";
    case "send_file": return `send ${r.object_name} to Phase 2, once`;
    default: return "none";
  }
}

function filesTable(row) {
  const loaded = row.loaded && row.loaded.known;
  const table = el("table", { class: "list files" });
  fillTable(table, [
    ["file (newest first)", (f) => el("code", {}, f.name)],
    ["size", (f) => bytes(f.size)],
    ["rows it yields", (f) => signal(f.rows, count)],
    ["rows loaded", (f) => (loaded ? count(loaded.by_path[f.name] ?? 0) : "–")],
  ], row.files.known, "no complete raw file");
  return table;
}

function facts(row) {
  const items = [
    ["games", signal(row.games, count)],
    ["rows in the table", signal(row.loaded, (l) =>
      `${l.total}${l.unknown_path ? ` (${l.unknown_path} under source_file_path 'unknown')` : ""}`)],
  ];
  if (row.legacy) {
    const l = row.legacy;
    items.push(["old 150-per-game rule", `${l.rows_all_markets} rows (all markets) vs ${l.threshold}: ${l.would_pass ? "would pass" : "would fail"} (for comparison only)`]);
  }
  return el("dl", { class: "facts" }, items.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

/** Opens the evidence of the cell `k` (`date|market`). */
export function openEvidence(k) {
  const row = state.rows.get(k);
  const [date, market] = k.split("|");
  const body = document.getElementById("evidence-body");
  document.getElementById("evidence-title").textContent = `${date} · ${market}`;
  panel().hidden = false;
  panel().dataset.date = date;
  panel().dataset.market = market;
  if (!row) {
    body.replaceChildren(el("p", {}, "Being checked: the service has not judged this cell yet."));
    return;
  }
  const category = row.verdict.category;
  const pick = LOST.includes(category)
    ? el("label", { class: "pick" }, el("input", {
      type: "checkbox", checked: state.selected.has(k),
      onchange: (e) => toggleSelected(k, e.target.checked),
    }), " selected for recovery")
    : null;
  const runs = el("table", { class: "list runs" });
  body.replaceChildren(
    el("p", { class: `verdict cat-${category}`, "data-category": category },
      el("strong", {}, (CATEGORIES[category] || CATEGORIES.unknown).title), el("br"), row.verdict.reason),
    el("p", { class: "remedy" }, el("strong", {}, "Remedy: "), remedy(row.verdict.remedy)),
    pick,
    facts(row),
    el("h3", {}, "Files"),
    "known" in row.files ? filesTable(row) : signal(row.files, () => ""),
    el("h3", {}, "Last runs"),
    runs,
  );
  guarded(async () => {
    const { body: answer } = await api(`/runs?${new URLSearchParams({ date, market, limit: 5 })}`);
    fillTable(runs, [
      ["started", (r) => time(r.started_at)],
      ["trigger", (r) => r.trigger],
      ["status", (r) => el("span", { class: `status-${r.status}` }, r.status)],
      ["props", (r) => count(r.props_written)],
      ["attempts", (r) => count(r.attempts)],
      ["error", (r) => (r.error_kind ? `${r.error_kind}: ${r.error_message || ""}` : "–")],
    ], answer.runs, "no run recorded for this date and market");
  });
}

export function setUpEvidence() {
  state.onOpen = openEvidence;
  document.getElementById("evidence-close").addEventListener("click", () => { panel().hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") panel().hidden = true; });
  // Keep the open panel in step with a selection made elsewhere.
  const previous = state.onSelect;
  state.onSelect = () => {
    previous();
    const p = panel();
    const box = p.querySelector(".pick input");
    if (!p.hidden && box) box.checked = state.selected.has(key(p.dataset.date, p.dataset.market));
  };
}
