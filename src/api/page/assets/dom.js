// Building the page's DOM from data: text always goes in as text, never as HTML.

/** An element with attributes (`class`, `data-*`, `on*` handlers) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat(Infinity).filter((c) => c !== undefined && c !== null).map(
    (c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return node;
}

/** Fills `table` with a header row and one row per item; a column is [title, item => cell]. */
export function fillTable(table, columns, items, empty) {
  const head = el("thead", {}, el("tr", {}, columns.map(([title]) => el("th", { scope: "col" }, title))));
  const rows = items.length
    ? items.map((item) => el("tr", {}, columns.map(([, cell]) => el("td", {}, cell(item) ?? "–"))))
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty))];
  table.replaceChildren(head, el("tbody", {}, rows));
}

/** `1234567` → `1.2 MB`. */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** An RFC 3339 time as `2026-01-14 18:05:12Z`, the way logs show it. */
export function time(t) {
  return t ? t.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "–";
}

/** A number that may be unknown (`null`): unknown is a dash, never 0. */
export function count(n) {
  return n === null || n === undefined ? "–" : String(n);
}
