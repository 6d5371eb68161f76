// The runs the ledger recorded (`GET /runs`) and the proxy pool's routes (`GET /proxies`).

import { api, guarded } from "./api.js";
import { count, el, fillTable, time } from "./dom.js";

function counts(r) {
  if (r.status === "running") return "running";
  const parts = [
    r.events !== null && r.events !== undefined ? `${r.events} events` : null,
    r.props_written !== null && r.props_written !== undefined ? `${r.props_written} props` : null,
    r.pages_fetched !== null && r.pages_fetched !== undefined ? `${r.pages_fetched}/${count(r.pages_total)} pages` : null,
    r.failed_offers ? `${r.failed_offers} failed offers` : null,
    r.dropped_lines ? `${r.dropped_lines} dropped lines` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "–";
}

export async function loadRuns() {
  await guarded(async () => {
    const { body } = await api("/runs?limit=50");
    fillTable(document.getElementById("runs-table"), [
      ["started", (r) => time(r.started_at)],
      ["scraper", (r) => r.scraper],
      ["date", (r) => r.game_date],
      ["market", (r) => r.market || "–"],
      ["trigger", (r) => r.trigger],
      ["status", (r) => el("span", { class: `status-${r.status}` }, r.status)],
      ["counts", counts],
      ["attempts", (r) => count(r.attempts)],
      ["error", (r) => (r.error_kind ? el("span", {}, el("strong", {}, r.error_kind), ` ${r.error_message || ""}`) : "–")],
      ["routes", (r) => r.routes || "–"],
    ], body.runs, "no run recorded yet");
  });
}

export async function loadRoutes() {
  await guarded(async () => {
    const { body } = await api("/proxies");
    fillTable(document.getElementById("routes-table"), [
      ["route", (r) => r.name],
      ["kind", (r) => r.kind],
      ["breaker", (r) => el("span", { class: `breaker-${r.breaker}` }, r.breaker)],
      ["recent successes", (r) => String(r.recent_successes)],
      ["recent failures", (r) => Object.entries(r.recent_failures).map(([k, n]) => `${k} ${n}`).join(", ") || "0"],
      ["last error", (r) => (r.last_error ? `${time(r.last_error_at)} ${r.last_error}` : "–")],
      ["last success", (r) => time(r.last_success_at)],
    ], body.routes, "no route");
    document.getElementById("routes-title").textContent = `Routes (mode ${body.mode})`;
  });
}
