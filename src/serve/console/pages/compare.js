// Executions side by side.

import { api } from "../api.js";
import { barChart } from "../charts.js";
import { show } from "../definition.js";
import { badge, el, table, when } from "../dom.js";

// ---------------------------------------------------------------------------------------------
// Compare

export async function viewCompare(query) {
  const ids = (query.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (ids.length < 2) {
    const recent = await api("/api/executions");
    const picked = new Set(ids);
    const go = el("button", { type: "button", class: "primary", id: "compare", disabled: picked.size < 2,
      onclick: () => { location.hash = `#/compare?ids=${[...picked].join(",")}`; } }, "Compare");
    return el("section", {}, el("h1", {}, "Compare executions"),
      el("p", {}, "Pick two or more executions."),
      table(["", "Execution", "Workflow", "Status", "Started"], recent.slice(0, 100).map((e) => el("tr", {},
        el("td", {}, el("input", { type: "checkbox", class: "pick", value: e.execution_id, "aria-label": `pick ${e.execution_id}`,
          onchange: (ev) => { if (ev.target.checked) picked.add(e.execution_id); else picked.delete(e.execution_id); go.disabled = picked.size < 2; } })),
        el("td", { class: "mono" }, e.execution_id), el("td", {}, e.workflow), el("td", {}, badge(e.status)), el("td", {}, when(e.created_at))))),
      el("div", { class: "actions" }, go));
  }
  const c = await api(`/api/compare?ids=${ids.map(encodeURIComponent).join(",")}`);
  const execs = c.executions;
  const differs = new Set(c.differs || []);
  const section = (title, prefix, data) => {
    const keys = Object.keys(data || {});
    if (!keys.length) return [el("h2", {}, title), el("p", { class: "muted" }, "none")];
    return [el("h2", {}, title), table([el("th", { scope: "col" }, ""), ...execs.map((e) => el("th", { scope: "col", class: "num mono" }, e.execution_id))], keys.map((k) => {
      const d = differs.has(`${prefix}${k}`);
      return el("tr", { class: d ? "diff" : "", "data-key": `${prefix}${k}` },
        el("th", { scope: "row" }, k, d ? el("span", { class: "muted" }, " (differs)") : ""),
        data[k].map((v) => el("td", { class: "num mono" }, v === null || v === undefined ? "—" : show(v))));
    }), { id: `compare-${prefix.replace(".", "")}` })];
  };
  const charts = el("div", { id: "compare-charts" }, Object.entries(c.metrics || {}).map(([k, vals]) => el("figure", { class: "chart metric-chart", "data-metric": k },
    el("figcaption", {}, k), barChart(execs.map((e) => e.execution_id.slice(0, 6)), vals.map((v) => (typeof v === "number" ? v : 0)), k))));
  return el("section", {}, el("h1", {}, `Compare ${execs.length} executions`),
    table(["Execution", "Workflow", "Status", "Started"], execs.map((e) => el("tr", {},
      el("td", {}, el("a", { href: `#/executions/${e.execution_id}`, class: "mono" }, e.execution_id)), el("td", {}, e.workflow), el("td", {}, badge(e.status)), el("td", {}, when(e.created_at))))),
    section("Parameters", "parameters.", c.parameters),
    section("Metrics", "metrics.", c.metrics),
    el("h2", {}, "Charts"), Object.keys(c.metrics || {}).length ? charts : el("p", { class: "muted" }, "No metrics to chart."));
}
