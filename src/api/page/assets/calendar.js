// The calendar: dates × markets, one cell per (date, market) with its verdict, coloured AND
// labelled; the range and markets come from the address (`/?from=&to=&market=`).
//
// The grid is drawn at once with every cell "checking"; cells take their verdict as the
// service gives it. `GET /gaps` may answer 200 with the whole report, or 202 with the rows
// it knows now and a detection job to poll (`status_url`): cells it has not judged yet stay
// "checking" until the job's answer has them.

import { api, guarded, showProblem } from "./api.js";
import { el } from "./dom.js";

/** Each category's words on the page; the colour is only a second signal. */
export const CATEGORIES = {
  complete: { label: "ok", title: "complete" },
  off_day: { label: "off", title: "off day: no games, no file" },
  legitimate_zero: { label: "zero", title: "legitimate zero: no games, a file without rows" },
  scraper_failed: { label: "no file", title: "scraper failed: games but no raw file (re-scrape)" },
  processor_failed: { label: "not loaded", title: "processor failed: the file's rows are not in BigQuery (send it)" },
  unknown: { label: "unknown", title: "unknown: a signal could not be read" },
  checking: { label: "checking", title: "being checked" },
};
export const LOST = ["scraper_failed", "processor_failed"];
const POLL_MS = 2000;
const DAY_MS = 86400000;

export const state = { view: null, rows: new Map(), cells: new Map(), selected: new Set(), onOpen: () => {}, onSelect: () => {} };

export const key = (date, market) => `${date}|${market}`;

/** The view in the address, or the last 30 days (US Eastern, as the service counts them). */
export function viewFromAddress() {
  const q = new URLSearchParams(location.search);
  const today = document.body.dataset.today;
  const from = q.get("from") || shiftDate(today, -29);
  return { from, to: q.get("to") || today, market: q.get("market") || "all" };
}

function shiftDate(date, days) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function datesOf(view) {
  const out = [];
  for (let d = view.from; d <= view.to && out.length < 400; d = shiftDate(d, 1)) out.push(d);
  return out;
}

function marketsOf(view) {
  if (view.market !== "all") return [view.market];
  const options = document.querySelectorAll("#range select[name=market] option");
  return [...options].map((o) => o.value).filter((m) => m !== "all");
}

export function drawLegend() {
  document.getElementById("legend").replaceChildren(...Object.entries(CATEGORIES).map(
    ([category, words]) => el("li", { "data-legend": category, class: `cat-${category}`, title: words.title },
      el("span", { class: "swatch" }, words.label), ` ${words.title}`)));
}

/** Draws every cell of the view as "checking". */
function drawGrid(dates, markets) {
  const head = el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "date"),
    markets.map((m) => el("th", { scope: "col" }, m))));
  const body = el("tbody");
  state.cells.clear();
  for (const date of dates) {
    const weekday = new Date(`${date}T12:00:00Z`).toLocaleDateString("en-US", { weekday: "short", timeZone: "UTC" });
    body.append(el("tr", {}, el("th", { scope: "row" }, el("time", { datetime: date },
      `${weekday} `, el("span", { class: "year" }, date.slice(0, 5)), date.slice(5))),
      markets.map((market) => el("td", {}, cell(date, market)))));
  }
  document.getElementById("grid").replaceChildren(head, body);
}

function cell(date, market) {
  const button = el("button", {
    type: "button", class: "cell cat-checking", "data-date": date, "data-market": market,
    "data-category": "checking", title: `${date} ${market}: being checked`, "aria-pressed": "false",
  }, CATEGORIES.checking.label);
  state.cells.set(key(date, market), button);
  return button;
}

/** Gives every cell the report has its verdict. */
function applyRows(rows) {
  for (const row of rows) {
    state.rows.set(key(row.date, row.market), row);
    const button = state.cells.get(key(row.date, row.market));
    if (!button) continue;
    const category = row.verdict.category;
    const words = CATEGORIES[category] || CATEGORIES.unknown;
    button.dataset.category = category;
    button.className = `cell cat-${category}${state.selected.has(key(row.date, row.market)) ? " selected" : ""}`;
    button.textContent = words.label;
    button.title = `${row.date} ${row.market}: ${words.title}. ${row.verdict.reason}`;
  }
}

function summarise(dates, markets, timing) {
  const counts = {};
  state.cells.forEach((c) => { counts[c.dataset.category] = (counts[c.dataset.category] || 0) + 1; });
  const parts = Object.keys(CATEGORIES).filter((c) => counts[c]).map((c) => `${counts[c]} ${CATEGORIES[c].title.split(":")[0]}`);
  const lost = LOST.reduce((n, c) => n + (counts[c] || 0), 0);
  document.getElementById("summary").textContent =
    `${dates[0]} to ${dates[dates.length - 1]}, ${markets.length} market(s): ${lost} lost. ${parts.join(" · ")}.` +
    (timing ? ` Answered in ${timing.fetch} ms, drawn in ${timing.render} ms.` : "");
}

/** Loads the view: draws the grid, asks for the report, and follows a detection job. */
export async function loadCalendar(view) {
  state.view = view;
  state.rows.clear();
  state.selected.clear();
  state.onSelect();
  document.body.dataset.calendar = "loading";
  const dates = datesOf(view);
  const markets = marketsOf(view);
  drawGrid(dates, markets);
  summarise(dates, markets);
  showProblem("");
  const query = new URLSearchParams(view).toString();
  await guarded(async () => {
    performance.clearMarks();
    performance.clearMeasures();
    performance.mark("gaps-asked");
    let answer = await api(`/gaps?${query}`);
    for (;;) {
      performance.mark("gaps-answered");
      applyRows(answer.body.rows || []);
      await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
      performance.mark("calendar-drawn");
      const fetch = performance.measure("calendar-fetch", "gaps-asked", "gaps-answered").duration;
      const render = performance.measure("calendar-render", "gaps-answered", "calendar-drawn").duration;
      summarise(dates, markets, { fetch: Math.round(fetch), render: Math.round(render) });
      if (answer.status !== 202 || state.view !== view) break;
      // A detection job still running: the cells it has not judged stay "checking".
      await new Promise((done) => setTimeout(done, POLL_MS));
      if (state.view !== view) break;
      performance.mark("gaps-asked");
      answer = await api(answer.body.status_url);
    }
  });
  document.body.dataset.calendar = "ready";
}

export function toggleSelected(k, on) {
  const selected = on ?? !state.selected.has(k);
  if (selected) state.selected.add(k); else state.selected.delete(k);
  const button = state.cells.get(k);
  if (button) {
    button.classList.toggle("selected", selected);
    button.setAttribute("aria-pressed", String(selected));
  }
  state.onSelect();
}

/** Clicks: a cell opens its evidence; with Ctrl, ⌘ or Shift it is selected for recovery. */
export function setUpGrid() {
  document.getElementById("grid").addEventListener("click", (event) => {
    const button = event.target.closest(".cell");
    if (!button) return;
    const k = key(button.dataset.date, button.dataset.market);
    if (event.ctrlKey || event.metaKey || event.shiftKey) toggleSelected(k);
    else state.onOpen(k);
  });
}
