// wf console: one page, routed by the address's #fragment, over the REST API of `wf serve`.
// No framework and no build step: the DOM is built with `el()`, never from HTML strings, so a
// name or a log line is always shown as text.

import { ApiFailure } from "./api.js";
import { $, $$, el } from "./dom.js";
import { connectEvents, leaveView, live } from "./live.js";
import { viewCompare } from "./pages/compare.js";
import { viewExecution, viewExecutions } from "./pages/executions.js";
import { viewLabel } from "./pages/label.js";
import { viewDatasets, viewModels, viewServices } from "./pages/registry.js";
import { viewWorkflow, viewWorkflows } from "./pages/workflows.js";

// ---------------------------------------------------------------------------------------------
// Router

const routes = [
  [/^$/, viewWorkflows, "workflows"],
  [/^workflows$/, viewWorkflows, "workflows"],
  [/^workflows\/(.+)$/, viewWorkflow, "workflows"],
  [/^executions$/, viewExecutions, "executions"],
  [/^executions\/([^/]+)$/, viewExecution, "executions"],
  [/^compare$/, viewCompare, "compare"],
  [/^datasets$/, viewDatasets, "datasets"],
  [/^models$/, viewModels, "models"],
  [/^services$/, viewServices, "services"],
  [/^label\/([^/]+)\/([^/]+)$/, viewLabel, "datasets"],
];

function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { path: path.replace(/\/$/, ""), query: new URLSearchParams(query || "") };
}

let routeSeq = 0;
async function render() {
  leaveView();
  const seq = ++routeSeq;
  const { path, query } = currentRoute();
  const main = $("#main");
  for (const [re, view, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of $$("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const args = m.slice(1).map(decodeURIComponent);
    try {
      const node = await view(...args, query, () => seq === routeSeq);
      if (seq !== routeSeq) return;
      main.replaceChildren(node);
      // When the page became usable, for the console's benchmark (ms since navigation).
      window.wfRenderedAt = performance.now();
      const h = $("h1", main);
      document.title = `${h ? h.textContent : "wf"} · wf console`;
      if (window.wfFocusMain) main.focus({ preventScroll: true });
      window.wfFocusMain = true;
    } catch (e) {
      if (seq !== routeSeq || (e instanceof ApiFailure && e.status === 401)) return;
      main.replaceChildren(el("div", { class: "panel" }, el("h1", {}, "Cannot show this page"),
        el("p", { class: "error-box", role: "alert" }, e.message)));
    }
    return;
  }
  main.replaceChildren(el("div", { class: "panel" }, el("h1", {}, "No such page"),
    el("p", {}, "The console has workflows, executions, compare, datasets, models and services. ", el("a", { href: "#/" }, "Workflows"))));
}

// ---------------------------------------------------------------------------------------------

window.addEventListener("hashchange", render);
// A browser keeps few connections per server (six over HTTP/1.1): a page left behind lets go
// of its event stream, and takes it up again if it is shown again from the history.
window.addEventListener("pagehide", () => { if (live.source) { live.source.close(); live.source = null; } });
window.addEventListener("pageshow", (ev) => { if (ev.persisted && !live.source) { connectEvents(); render(); } });
window.addEventListener("DOMContentLoaded", () => {
  window.wfLoadedAt = window.wfLoadedAt || Date.now();
  connectEvents();
  render();
});
