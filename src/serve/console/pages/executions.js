// The executions page, and one execution's page: its steps, their detail and logs.

import { api } from "../api.js";
import { loadMetricCharts } from "../charts.js";
import { drawDag, paintDag, paintStep } from "../dag.js";
import { kvList, stepObjects, stepParts } from "../definition.js";
import { $$, badge, debounce, el, seconds, table, toast, when } from "../dom.js";
import { live, onEvent, onLeave, onReconnect } from "../live.js";
import { execRow, placeholderField, readField } from "./workflows.js";

// ---------------------------------------------------------------------------------------------
// Executions

const PAGE = 50;

export async function viewExecutions(query) {
  const filters = { workflow: query.get("workflow") || "", status: query.get("status") || "", tag: query.get("tag") || "", since: query.get("since") || "" };
  let page = 0;
  let rows = [];
  const picked = new Set();
  const body = el("tbody", {});
  const pager = el("div", { class: "pager" });
  const count = el("p", { class: "muted", role: "status" });
  const load = async () => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v && k !== "since") q.set(k, v);
    if (filters.since) q.set("since", new Date(Date.now() - Number(filters.since) * 3600e3).toISOString());
    const shown = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/executions${shown.toString() ? "?" + shown : ""}`);
    rows = await api(`/api/executions?${q}`);
    paint();
  };
  const paint = () => {
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    const slice = rows.slice(page * PAGE, page * PAGE + PAGE);
    body.replaceChildren(...slice.map((e) => {
      const r = execRow(e);
      r.prepend(el("td", {}, el("input", {
        type: "checkbox", class: "pick", value: e.execution_id, checked: picked.has(e.execution_id),
        "aria-label": `pick ${e.execution_id} to compare`,
        onchange: (ev) => { if (ev.target.checked) picked.add(e.execution_id); else picked.delete(e.execution_id); compareBtn.disabled = picked.size < 2; },
      })));
      r.insertBefore(el("td", {}, el("a", { href: `#/workflows/${encodeURIComponent(e.workflow)}` }, e.workflow)), r.children[2]);
      r.append(el("td", {}, (e.tags || []).map((t) => el("span", { class: "tag" }, t))));
      return r;
    }));
    if (!slice.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No execution matches.")));
    count.textContent = `${rows.length} execution${rows.length === 1 ? "" : "s"}`;
    pager.replaceChildren(
      el("button", { type: "button", disabled: page === 0, onclick: () => { page--; paint(); } }, "Newer"),
      el("span", {}, `page ${page + 1} of ${pages}`),
      el("button", { type: "button", disabled: page >= pages - 1, onclick: () => { page++; paint(); } }, "Older"));
  };
  const compareBtn = el("button", { type: "button", id: "compare", class: "primary", disabled: true,
    onclick: () => { location.hash = `#/compare?ids=${[...picked].join(",")}`; } }, "Compare picked");
  const workflows = await api("/api/workflows").catch(() => []);
  const filterBar = el("form", { class: "toolbar", role: "search", onsubmit: (ev) => ev.preventDefault() },
    el("div", {}, el("label", { for: "filter-workflow" }, "Workflow"),
      el("select", { id: "filter-workflow", onchange: (ev) => { filters.workflow = ev.target.value; page = 0; load(); } },
        el("option", { value: "" }, "all"), workflows.map((w) => el("option", { value: w.name, selected: w.name === filters.workflow }, w.name)))),
    el("div", {}, el("label", { for: "filter-status" }, "Status"),
      el("select", { id: "filter-status", onchange: (ev) => { filters.status = ev.target.value; page = 0; load(); } },
        el("option", { value: "" }, "any"), ["running", "awaiting_input", "executed", "failed", "stopped"].map((s) => el("option", { value: s, selected: s === filters.status }, s.replace("_", " "))))),
    el("div", {}, el("label", { for: "filter-tag" }, "Tag"),
      el("input", { type: "text", id: "filter-tag", value: filters.tag, oninput: debounce((ev) => { filters.tag = ev.target.value.trim(); page = 0; load(); }, 250) })),
    el("div", {}, el("label", { for: "filter-since" }, "Started"),
      el("select", { id: "filter-since", onchange: (ev) => { filters.since = ev.target.value; page = 0; load(); } },
        [["", "any time"], ["1", "in the last hour"], ["24", "in the last day"], ["168", "in the last week"]].map(([v, t]) => el("option", { value: v, selected: v === filters.since }, t)))),
    compareBtn);
  await load();
  onEvent(debounce(() => load().catch(() => {}), 300));
  return el("section", {}, el("h1", {}, "Executions"), filterBar, count,
    table([el("th", { scope: "col" }, el("span", { class: "muted" }, "Pick")), "Execution", "Workflow", "Status", "Started", "Duration", "Steps", "Tags"], body, { id: "executions" }),
    pager);
}

export async function viewExecution(id, query, current) {
  let rec = await api(`/api/executions/${encodeURIComponent(id)}`);
  id = rec.execution_id;
  const [def, layout] = await Promise.all([api(`/api/executions/${id}/definition`), api(`/api/executions/${id}/layout`)]);
  const objs = stepObjects(def);
  let selected = rec.steps.some((s) => s.name === query.get("step")) ? query.get("step") : (rec.steps.find((s) => s.status === "awaiting_input" || s.status === "failed" || s.status === "running") || rec.steps[0] || {}).name;
  const head = el("div", {});
  const stepsList = el("ul", { class: "steps-list", id: "steps", "aria-label": "Steps" });
  const detail = el("div", { id: "step-detail", class: "panel", "aria-live": "polite" });
  const dag = drawDag(layout, (s) => pick(s, true));
  let logTimer = null;
  onLeave(() => clearTimeout(logTimer));

  const pick = (s, focus) => {
    selected = s;
    history.replaceState(null, "", `#/executions/${id}?step=${encodeURIComponent(s)}`);
    $$("#dag .node").forEach((g) => g.classList.toggle("selected", g.dataset.step === s));
    paintSteps();
    paintDetail(true);
    if (focus) detail.focus && detail.setAttribute("tabindex", "-1");
  };
  const act = async (label, path, body, confirmText) => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      const r = await api(path, { method: "POST", body: body || {} });
      toast(`${label}: done`);
      if (r && r.execution_id === id) { rec = r; paintAll(); } else await refresh();
    } catch (e) { toast(`${label}: ${e.message}`, true); }
  };
  const paintHead = () => {
    const actions = [];
    const s = rec.status;
    if (s === "running" && !rec.interrupted) actions.push(el("button", { type: "button", "data-action": "stop", onclick: () => act("stop", `/api/executions/${id}/stop`) }, "Stop"));
    if (rec.interrupted) actions.push(el("button", { type: "button", "data-action": "resume", onclick: () => act("resume", `/api/executions/${id}/resume`) }, "Resume"));
    if (s === "failed" || s === "stopped") actions.push(el("button", { type: "button", "data-action": "retry", onclick: () => act("retry", `/api/executions/${id}/retry`) }, "Retry failed steps"));
    actions.push(el("button", { type: "button", "data-action": "rerun", onclick: async () => {
      try { const r = await api(`/api/executions/${id}/rerun`, { method: "POST", body: {} }); toast(`started ${r.execution_id}`); location.hash = `#/executions/${r.execution_id}`; }
      catch (e) { toast(`rerun: ${e.message}`, true); }
    } }, "Run again"));
    if (s !== "running" || rec.interrupted) actions.push(el("button", { type: "button", class: "danger", "data-action": "delete", onclick: async () => {
      if (!confirm(`Delete execution ${id} and its logs?`)) return;
      try { await api(`/api/executions/${id}`, { method: "DELETE" }); toast(`deleted ${id}`); location.hash = "#/executions"; }
      catch (e) { toast(`delete: ${e.message}`, true); }
    } }, "Delete"));
    const tagInput = el("input", { type: "text", id: "exec-tags", value: (rec.tags || []).join(", "), "aria-label": "tags, comma-separated", placeholder: "tags, comma-separated" });
    head.replaceChildren(
      el("h1", {}, "Execution ", el("span", { class: "mono" }, id), " ", badge(rec.status)),
      el("p", {}, el("a", { href: `#/workflows/${encodeURIComponent(rec.workflow)}` }, rec.workflow), " · started ", when(rec.created_at),
        rec.ended_at ? [" · took ", seconds(rec.created_at, rec.ended_at)] : "",
        rec.interrupted ? el("strong", {}, " · its runner died: resume carries it on") : ""),
      rec.reason ? el("p", { class: rec.status === "failed" ? "error-box" : "muted" }, rec.reason) : "",
      el("div", { class: "actions", id: "exec-actions" }, actions,
        el("form", { class: "actions", onsubmit: async (ev) => {
          ev.preventDefault();
          const tags = tagInput.value.split(",").map((t) => t.trim()).filter(Boolean);
          try { await api(`/api/executions/${id}/tags`, { method: "PUT", body: { tags } }); toast("tags saved"); }
          catch (e) { toast(`tags: ${e.message}`, true); }
        } }, tagInput, el("button", { type: "submit", "data-action": "tag" }, "Save tags"))));
  };
  const paintSteps = () => {
    stepsList.replaceChildren(...rec.steps.map((s) => el("li", {}, el("button", {
      type: "button", "data-step": s.name, "aria-pressed": String(s.name === selected), onclick: () => pick(s.name),
    }, el("span", {}, s.name, " ", el("span", { class: "muted" }, s.type)), badge(s.status)))));
  };
  const paintDetail = async (fresh) => {
    const s = rec.steps.find((x) => x.name === selected);
    if (!s) { detail.replaceChildren(el("p", { class: "muted" }, "Pick a step.")); return; }
    const parts = stepParts(objs.get(s.name));
    const stepActions = [];
    if (s.status === "running") stepActions.push(el("button", { type: "button", "data-action": "stop-step", onclick: () => act("stop step", `/api/executions/${id}/steps/${encodeURIComponent(s.name)}/stop`) }, "Stop this step"));
    if (s.status === "failed" || s.status === "stopped") stepActions.push(el("button", { type: "button", class: "primary", "data-action": "retry-step", onclick: () => act("retry", `/api/executions/${id}/steps/${encodeURIComponent(s.name)}/retry`) }, "Retry this step"));
    let awaiting = null;
    if (s.status === "awaiting_input") awaiting = s.task_name && s.dataset_name ? labelingPrompt(s) : proceedForm(s, parts.delayed);
    const metricsBox = el("div", { id: "step-metrics" });
    const logBox = el("pre", { class: "log", id: "step-log", tabindex: 0, "aria-label": `log of ${s.name}` });
    detail.replaceChildren(...[
      el("h2", {}, s.name, " ", badge(s.status)),
      el("dl", { class: "kv" },
        el("dt", {}, "type"), el("dd", {}, s.type),
        el("dt", {}, "attempt"), el("dd", {}, s.attempt),
        el("dt", {}, "started"), el("dd", {}, when(s.started_at) || "—"),
        el("dt", {}, "duration"), el("dd", {}, s.started_at ? seconds(s.started_at, s.ended_at) : "—"),
        parts.flavor ? [el("dt", {}, "flavor"), el("dd", {}, parts.flavor)] : "",
        s.pool ? [el("dt", {}, "pool"), el("dd", {}, `${s.pool} (${s.remote_id || ""})`)] : ""),
      s.reason ? el("p", { class: s.status === "failed" ? "error-box" : "muted", id: "step-reason" }, s.reason) : "",
      s.error ? el("p", { class: "error-box" }, s.error) : "",
      el("div", { class: "actions" }, stepActions),
      awaiting,
      parts.inputs.length ? [el("h3", {}, "Inputs"), kvList(Object.fromEntries(parts.inputs))] : "",
      parts.parameters.length ? [el("h3", {}, "Parameters"), kvList(Object.fromEntries(parts.parameters))] : "",
      el("h3", {}, "Outputs"), kvList(s.outputs),
      el("h3", {}, "Metrics"), metricsBox,
      el("h3", {}, "Log"), logBox].flat(Infinity).filter((x) => x !== "" && x !== null && x !== undefined));
    metricsBox.append(Object.keys(s.metrics || {}).length ? kvList(s.metrics) : el("p", { class: "muted" }, "none"));
    if (s.status === "executed") loadMetricCharts(id, s.name, metricsBox);
    clearTimeout(logTimer);
    followLog(s, logBox, 0);
  };
  const followLog = async (s, box, offset) => {
    if (!current() || selected !== s.name) return;
    try {
      const r = await fetch(`/api/executions/${id}/steps/${encodeURIComponent(s.name)}/log?offset=${offset}`);
      if (r.ok) {
        const text = await r.text();
        const size = Number(r.headers.get("x-log-size")) || offset + text.length;
        if (text) {
          const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
          box.append(text);
          if (atEnd) box.scrollTop = box.scrollHeight;
        }
        offset = size;
        if (!box.textContent) box.textContent = "";
      } else if (!box.textContent) {
        const e = await r.json().catch(() => ({}));
        box.textContent = e.error || "no log";
      }
    } catch (_) { /* tried again below */ }
    const live = rec.steps.find((x) => x.name === s.name);
    if (live && (live.status === "running" || live.status === "waiting" || live.status === "awaiting_input")) {
      logTimer = setTimeout(() => followLog(live, box, offset), 1000);
    }
  };
  const proceedForm = (s, delayed) => {
    const f = el("form", { id: "proceed-form", class: "panel", "data-step": s.name, novalidate: true });
    const err = el("div", { role: "alert" });
    const byName = new Map();
    for (const p of delayed) if (!byName.has(p.name)) byName.set(p.name, p);
    const given = rec.parameters || {};
    const controls = [...byName].map(([n, p]) => placeholderField(n, p, given[n] !== undefined ? given[n] : p.default, "param"));
    f.append(el("h3", {}, "This step waits for values"),
      controls.length ? el("div", { class: "form-grid" }, controls)
        : el("div", { class: "field" }, el("label", { for: "proceed-raw" }, "values, one NAME=VALUE a line"), el("textarea", { id: "proceed-raw", name: "raw" })),
      err, el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", id: "proceed" }, "Proceed")));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.replaceChildren();
      try {
        const parameters = {};
        for (const [n, p] of byName) { const v = readField(f, `param:${n}`, p); if (v !== undefined) parameters[n] = v; }
        if (f.elements.raw) {
          for (const line of f.elements.raw.value.split("\n")) {
            const t = line.trim();
            if (!t) continue;
            const i = t.indexOf("=");
            if (i < 1) throw new Error(`\`${t}\` is not NAME=VALUE`);
            parameters[t.slice(0, i).trim()] = t.slice(i + 1).trim();
          }
        }
        const r = await api(`/api/executions/${id}/steps/${encodeURIComponent(s.name)}/proceed`, { method: "POST", body: { parameters } });
        toast(`proceeded ${s.name}`);
        if (r && r.execution_id) { rec = r; paintAll(); }
      } catch (e) { err.replaceChildren(el("p", { class: "error-box" }, e.message)); }
    });
    return f;
  };
  const labelingPrompt = (s) => el("div", { class: "panel" },
    el("p", {}, `Labeling task ${s.dataset_name}/${s.task_name}: ${s.labelled ?? "?"} labelled, ${s.unlabelled ?? "?"} to go.`),
    el("a", { class: "button primary", id: "open-labeling", href: `#/label/${encodeURIComponent(s.dataset_name)}/${encodeURIComponent(s.task_name)}?exec=${id}&step=${encodeURIComponent(s.name)}` }, "Label the samples"));

  const paintAll = () => {
    if (!current()) return;
    paintHead(); paintDag(rec.steps); paintSteps();
    $$("#dag .node").forEach((g) => g.classList.toggle("selected", g.dataset.step === selected));
    paintDetail(false);
  };
  const refresh = async () => {
    const r = await api(`/api/executions/${id}`);
    rec = r;
    paintAll();
  };
  const later = debounce(() => refresh().catch(() => {}), 150);
  onEvent((ev) => {
    if (ev.execution_id !== id) return;
    if (ev.step) {
      paintStep(ev.step, ev.status);
      const s = rec.steps.find((x) => x.name === ev.step);
      if (s) { s.status = ev.status; }
    }
    later();
  });
  onReconnect(later);
  const node = el("section", {}, head,
    el("div", { class: "grid2" },
      el("div", {}, dag, el("h2", {}, "Steps"), el("div", { class: "panel" }, stepsList),
        el("h2", {}, "Values"), el("div", { class: "panel" }, el("h3", {}, "Parameters"), kvList(rec.parameters), el("h3", {}, "Storages"), kvList(rec.storages))),
      detail));
  setTimeout(paintAll, 0);
  return node;
}
