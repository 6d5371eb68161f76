// The status page: wires the calendar, the evidence, recovery, runs and routes together and
// keeps the view in the address (`/?from=YYYY-MM-DD&to=YYYY-MM-DD&market=…`).

import { setUpLogin } from "./api.js";
import { drawLegend, loadCalendar, setUpGrid, viewFromAddress } from "./calendar.js";
import { setUpEvidence } from "./evidence.js";
import { loadRoutes, loadRuns } from "./panels.js";
import { loadJobs, setUpRecovery } from "./recovery.js";

function showView(view) {
  const form = document.getElementById("range");
  form.from.value = view.from;
  form.to.value = view.to;
  form.market.value = view.market;
  return loadCalendar(view);
}

function setUpRange() {
  const form = document.getElementById("range");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const view = { from: form.from.value, to: form.to.value, market: form.market.value };
    history.pushState(null, "", `/?${new URLSearchParams(view)}`);
    showView(view);
  });
  window.addEventListener("popstate", () => showView(viewFromAddress()));
}

setUpLogin();
drawLegend();
setUpGrid();
setUpEvidence();
setUpRecovery();
setUpRange();
showView(viewFromAddress());
loadJobs();
loadRuns();
loadRoutes();
