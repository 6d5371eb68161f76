// Recovery from the page, through the API the CLI and the recovery script use: "plan" is
// `POST /reprocess` with `dry_run`, "recover" the same request for real after a
// confirmation; jobs come from `GET /reprocess`, and `GET /reprocess/{id}` carries each
// unfinished one on while the page watches it.
//
// A selection may span markets; the API takes one market (or all) per request, so the page
// sends one request per market, each with its selected dates.

import { api, guarded, showProblem } from "./api.js";
import { LOST, state, toggleSelected } from "./calendar.js";
import { el, fillTable, time } from "./dom.js";

const POLL_MS = 2000;
let polling = null;

/** The selection as requests: one per market, its dates sorted. */
function requests() {
  const byMarket = new Map();
  for (const k of state.selected) {
    const [date, market] = k.split("|");
    if (!byMarket.has(market)) byMarket.set(market, []);
    byMarket.get(market).push(date);
  }
  return [...byMarket].sort().map(([market, dates]) => ({ dates: dates.sort(), market }));
}

function describeSelection() {
  const n = state.selected.size;
  document.getElementById("selection").textContent = n
    ? `${n} cell(s) selected: ${requests().map((r) => `${r.market} ${r.dates.length} date(s)`).join(", ")}.`
    : "No cell selected: open a lost cell and tick it, Ctrl-click cells, or select every lost cell.";
  for (const id of ["plan", "recover"]) document.getElementById(id).disabled = n === 0;
}

async function plans() {
  const out = [];
  for (const req of requests()) out.push((await api("/reprocess", { method: "POST", body: { ...req, dry_run: true } })).body.plan);
  return out;
}

function showPlan(target, planned) {
  const actions = planned.flatMap((p) => p.actions);
  const skipped = planned.flatMap((p) => p.skipped);
  const requestsUp = planned.reduce((n, p) => n + p.upstream_requests, 0);
  const eta = planned.reduce((n, p) => n + p.eta_seconds, 0);
  const table = el("table", { class: "list actions" });
  fillTable(table, [
    ["action", (a) => a.kind],
    ["date", (a) => a.date],
    ["market", (a) => a.market],
    ["file", (a) => (a.object_name ? el("code", {}, a.object_name) : "–")],
    ["why", (a) => a.reason],
  ], actions, "nothing to do: no selected cell needs an action");
  target.replaceChildren(
    el("p", { class: "plan-summary" },
      `${actions.length} action(s), ${requestsUp} upstream request(s), about ${Math.ceil(eta)} s.`),
    table,
    skipped.length ? el("ul", { class: "skipped" }, skipped.map((s) =>
      el("li", {}, `not sent: ${s.object_name} (${s.date} ${s.market}): ${s.reason}`))) : null,
  );
  return actions.length;
}

async function plan() {
  await guarded(async () => showPlan(document.getElementById("plan-out"), await plans()));
}

/** Shows the plan in the confirmation dialog; starts the jobs only on "Recover". */
async function recover() {
  await guarded(async () => {
    const dialog = document.getElementById("confirm");
    const actions = showPlan(document.getElementById("confirm-body"), await plans());
    document.getElementById("confirm-ok").disabled = actions === 0;
    dialog.returnValue = "";
    dialog.showModal();
    await new Promise((done) => dialog.addEventListener("close", done, { once: true }));
    if (dialog.returnValue !== "ok") return;
    const started = [];
    for (const req of requests()) {
      const { body } = await api("/reprocess", { method: "POST", body: req });
      started.push(body.created ? `job ${body.job_id} started` : `${body.message} (job ${body.job_id}, ${body.state})`);
    }
    document.getElementById("plan-out").replaceChildren(el("p", { class: "started" }, started.join("; ")));
    showProblem("");
    await loadJobs();
  });
}

function progress(job) {
  const total = job.actions_total;
  const done = (job.progress.done || 0) + (job.progress.skipped || 0);
  return el("span", {}, el("progress", { max: total || 1, value: total ? done : 1 }),
    ` ${done}/${total}`, job.progress.failed ? ` · ${job.progress.failed} failed` : "");
}

function outcome(job) {
  const r = job.result;
  if (!r) return job.state === "running" ? "running" : "–";
  return `now complete ${r.now_complete ?? "–"}, still lost ${r.still_lost ?? "–"}`;
}

/** A finished job records what detection says a little later (after its settle time). */
const settling = (j) => j.state !== "running" && !j.result;

/** The recent jobs; polled while one is running or settling. A job advances only inside
 * requests: asking for an unfinished job's status carries it on by one slice. */
export async function loadJobs() {
  await guarded(async () => {
    let { body } = await api("/reprocess?limit=20");
    const open = body.jobs.filter((j) => j.state === "running" || settling(j));
    if (open.length) {
      await Promise.all(open.map((j) => api(j.status_url)));
      ({ body } = await api("/reprocess?limit=20"));
    }
    fillTable(document.getElementById("jobs"), [
      ["job", (j) => el("code", {}, j.id)],
      ["created", (j) => time(j.created_at)],
      ["state", (j) => el("span", { class: `status-${j.state}` }, j.state)],
      ["progress", progress],
      ["asked", (j) => JSON.stringify(j.request)],
      ["outcome", outcome],
    ], body.jobs, "no recovery job yet");
    const running = body.jobs.some((j) => j.state === "running" || settling(j));
    clearTimeout(polling);
    if (running) polling = setTimeout(loadJobs, POLL_MS);
  });
}

export function setUpRecovery() {
  const previous = state.onSelect;
  state.onSelect = () => { previous(); describeSelection(); };
  document.getElementById("select-lost").addEventListener("click", () => {
    for (const [k, row] of state.rows) if (LOST.includes(row.verdict.category)) toggleSelected(k, true);
  });
  document.getElementById("select-none").addEventListener("click", () => {
    for (const k of [...state.selected]) toggleSelected(k, false);
  });
  document.getElementById("plan").addEventListener("click", plan);
  document.getElementById("recover").addEventListener("click", recover);
  describeSelection();
}
