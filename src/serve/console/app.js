// wf console: one page, routed by the address's #fragment, over the REST API of `wf serve`.
// No framework and no build step: the DOM is built with `el()`, never from HTML strings, so a
// name or a log line is always shown as text.
"use strict";

// ---------------------------------------------------------------------------------------------
// Basics

const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const node = svg ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v; // through the CSSOM, which the page's CSP allows
    else if (k === "value" && !svg) node.value = v;
    else if (k === "checked" && !svg) node.checked = !!v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiFailure extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  if (o.body !== undefined && typeof o.body !== "string") {
    o.body = JSON.stringify(o.body);
    o.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, o);
  if (r.status === 401) { showTokenHelp(); throw new ApiFailure(401, "this server needs its token"); }
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  if (!r.ok) throw new ApiFailure(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

function toast(message, isError) {
  const box = $("#toast");
  const d = el("div", { class: isError ? "error" : "" }, message);
  box.append(d);
  setTimeout(() => d.remove(), isError ? 9000 : 4000);
}

function showTokenHelp() {
  const main = $("#main");
  if ($("#token-help")) return;
  main.replaceChildren(el("div", { id: "token-help", class: "panel" },
    el("h1", {}, "This server needs its token"),
    el("p", {}, "Open the console as ", el("code", {}, `${location.origin}/?token=TOKEN`),
      "; ", el("code", {}, "wf serve --show-token"), " prints the token on the server's machine.")));
}

const STATUSES = ["waiting", "running", "awaiting_input", "executed", "failed", "stopped", "skipped"];

function badge(status) {
  return el("span", { class: `badge s-${status}`, "data-status": status }, (status || "none").replace("_", " "));
}

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return t;
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function seconds(a, b) {
  if (!a) return "";
  const end = b ? new Date(b) : new Date();
  const s = (end - new Date(a)) / 1000;
  if (!(s >= 0)) return "";
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function num(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? v.toPrecision(4) : String(+v.toFixed(4));
}

function kvList(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el("p", { class: "muted" }, "none");
  return el("dl", { class: "kv" }, entries.map(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, show(v))]));
}

function table(head, rows, attrs) {
  return el("div", { class: "table-wrap" }, el("table", attrs || {},
    el("thead", {}, el("tr", {}, head.map((h) => typeof h === "string" ? el("th", { scope: "col" }, h) : h))),
    rows instanceof HTMLElement && rows.tagName === "TBODY" ? rows : el("tbody", {}, rows)));
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// ---------------------------------------------------------------------------------------------
// Reading a definition (the JSON of `wf graph --format json`)

const PLACEHOLDER_CLASSES = new Set([
  "wf.Placeholder", "wf.data.DatasetPlaceholder", "wf.data.OBSPlaceholder", "wf.data.LabelTaskPlaceholder",
  "wf.data.ServiceInputPlaceholder", "wf.data.ServiceUpdatePlaceholder", "wf.data.SWRImagePlaceholder",
  "wf.data.SWRIImagePlaceholder", "wf.data.DataSelector",
]);

function walk(v, f) {
  if (Array.isArray(v)) { v.forEach((x) => walk(x, f)); return; }
  if (v && typeof v === "object") {
    if (f(v) === false) return;
    for (const [k, x] of Object.entries(v)) if (k !== "$class" && k !== "at") walk(x, f);
  }
}

function enumName(v) { return v && v.$enum ? v.$enum.split(".").pop() : v; }

function placeholderType(p) {
  if (p.$class === "wf.Placeholder") return enumName(p.placeholder_type) || "STR";
  return p.$class.split(".").pop();
}

// Every placeholder of a definition, by name, in the order first met.
function placeholders(def) {
  const out = new Map();
  walk(def.workflow, (o) => {
    if (PLACEHOLDER_CLASSES.has(o.$class) && o.name && !out.has(o.name)) out.set(o.name, o);
  });
  return out;
}

function storages(def) {
  const out = new Map();
  walk(def.workflow, (o) => {
    if (/Storage$/.test(o.$class || "") && o.name && !out.has(o.name)) out.set(o.name, o);
  });
  return out;
}

function stepObjects(def) {
  const out = new Map();
  for (const s of (def.workflow && def.workflow.steps) || []) if (s && s.name) out.set(s.name, s);
  return out;
}

// A value of a definition as a person reads it.
function show(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(show).join(", ");
  if (typeof v !== "object") return typeof v === "number" ? num(v) : String(v);
  if (v.$enum) return enumName(v);
  const c = v.$class || "";
  if (PLACEHOLDER_CLASSES.has(c)) return `⟨${v.name}⟩`;
  if (/Consumption$/.test(c)) return `${v.step}.${v.output}`;
  if (c.endsWith("OutputVariable")) return `${v.step}.${v.output}.${v.variable}`;
  if (c.endsWith("StoragePath")) return `${show(v.storage)}/${v.directory || ""}`;
  if (/Storage$/.test(c)) return `storage ${v.name}`;
  if (c === "wf.data.OBSPath") return show(v.obs_path);
  if (c === "wf.data.Dataset") return v.version_name ? `${show(v.dataset_name)}@${show(v.version_name)}` : `dataset ${show(v.dataset_name)}`;
  if (c === "wf.data.LabelTask") return `task ${show(v.dataset_name)}/${show(v.task_name)}`;
  if (c === "wf.data.DataConsumptionSelector") return `first of ${show(v.data_list)}`;
  if (c) return c.split(".").pop();
  if ("path" in v && Object.keys(v).length <= 2) return show(v.path);
  return JSON.stringify(v);
}

// Inputs, outputs and parameters of one step object.
function stepParts(obj) {
  const parts = { inputs: [], outputs: [], parameters: [], flavor: null, delayed: [] };
  if (!obj) return parts;
  for (const i of [].concat(obj.inputs || [])) if (i && i.name) parts.inputs.push([i.name, show(i.data !== undefined ? i.data : i)]);
  for (const o of [].concat(obj.outputs || [])) {
    if (!o || !o.name) continue;
    const cfg = o.obs_config || o.metrics_config || o.config;
    parts.outputs.push([o.name, o.metrics_config ? `metrics ${show(o.metrics_config.metric_files)}` : show(cfg ? (cfg.obs_path || cfg) : "")]);
  }
  const alg = obj.algorithm;
  for (const p of [].concat((alg && alg.parameters) || [])) if (p && p.name) parts.parameters.push([p.name, show(p.value)]);
  const res = obj.spec && obj.spec.resource;
  if (res && res.flavor !== undefined) parts.flavor = show(res.flavor);
  walk(obj, (o) => { if (PLACEHOLDER_CLASSES.has(o.$class) && o.delay) parts.delayed.push(o); });
  return parts;
}

// ---------------------------------------------------------------------------------------------
// The DAG, drawn from the layout the server computes (`GET /api/workflows/NAME/layout`,
// `GET /api/executions/ID/layout`): each step's box, each arrow's ends, the drawing's size.

function short(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

// Draws the DAG laid out as `L`; `onPick(step)` when a step is clicked or chosen with Enter.
function drawDag(L, onPick) {
  const NODE_W = L.node_width, NODE_H = L.node_height;
  const svg = el("svg:svg", {
    class: "dag", id: "dag", width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`,
    role: "group", "aria-label": `The workflow's steps and their dependencies: ${L.nodes.length} steps`,
  });
  const defs = el("svg:defs", {});
  for (const [id, color] of [["arrow", "#475569"], ["arrow-true", "#15803d"], ["arrow-false", "#b91c1c"], ["arrow-dep", "#94a3b8"]]) {
    defs.append(el("svg:marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      el("svg:path", { d: "M0 0 L10 5 L0 10 z", fill: color })));
  }
  svg.append(defs);
  for (const e of L.edges) {
    const { x1, y1, x2, y2, kind } = e;
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    const marker = { "branch-true": "arrow-true", "branch-false": "arrow-false", data: "arrow", dependency: "arrow-dep" }[kind];
    svg.append(el("svg:path", {
      class: `edge ${kind}`, "data-from": e.from, "data-to": e.to,
      d: L.vertical ? `M${x1} ${y1} C${x1} ${my} ${x2} ${my} ${x2} ${y2}` : `M${x1} ${y1} C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`,
      "marker-end": `url(#${marker})`,
    }));
    if (e.label) {
      svg.append(L.vertical
        ? el("svg:text", { class: "edge-label", x: mx + 6, y: my + 3, "text-anchor": "start" }, short(e.label, 22))
        : el("svg:text", { class: "edge-label", x: mx, y: my - 4, "text-anchor": "middle" }, short(e.label, 22)));
    }
  }
  // Layer by layer, in each layer's order: the order Tab goes through them.
  const nodes = [...L.nodes].sort((a, b) => a.layer - b.layer || (L.vertical ? a.x - b.x : a.y - b.y));
  for (const n of nodes) {
    const name = n.name;
    const g = el("svg:g", {
      class: "node", "data-step": name, "data-status": "none", tabindex: 0, role: "button",
      transform: `translate(${n.x} ${n.y})`, "aria-label": `step ${name}`,
    },
    el("svg:title", {}, name),
    el("svg:rect", { width: NODE_W, height: NODE_H, rx: 8 }),
    el("svg:text", { x: 10, y: 19 }, short(name, 21)),
    el("svg:text", { class: "kind", x: 10, y: 36 }, `${n.kind} · —`));
    const pick = () => onPick && onPick(name);
    g.addEventListener("click", pick);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
    svg.append(g);
  }
  const legend = el("div", { class: "legend", "aria-hidden": "true" },
    [["data", "data (an output used as input)"], ["dependency", "depends on"], ["branch-true", "condition true"], ["branch-false", "condition false"]].map(([k, t]) =>
      el("span", {}, el("svg:svg", { width: 30, height: 10, class: "dag" }, el("svg:path", { class: `edge ${k}`, d: "M0 5 L30 5" })), " ", t)));
  return el("div", {}, el("div", { class: "dag-wrap" }, svg), legend);
}

// Colours the DAG's steps from an execution record's steps.
function paintDag(steps) {
  for (const s of steps || []) paintStep(s.name, s.status, s.type);
}

function paintStep(name, status, type) {
  const g = document.querySelector(`#dag .node[data-step="${CSS.escape(name)}"]`);
  if (!g) return;
  g.setAttribute("data-status", status || "none");
  g.setAttribute("aria-label", `step ${name}: ${status || "not run"}`);
  const t = g.querySelector("text.kind");
  const kind = type || (t ? t.textContent.split(" · ")[0] : "");
  if (t) t.textContent = `${kind} · ${(status || "—").replace("_", " ")}`;
}

// ---------------------------------------------------------------------------------------------
// Live events: one EventSource for the page, listeners per view

const live = { source: null, listeners: new Set(), onOpen: new Set() };

function connectEvents() {
  const badgeEl = $("#live");
  const src = new EventSource("/api/events");
  live.source = src;
  src.onopen = () => {
    badgeEl.textContent = "live"; badgeEl.className = "live on";
    for (const f of live.onOpen) f();
  };
  src.onerror = () => { badgeEl.textContent = "reconnecting"; badgeEl.className = "live off"; };
  src.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    for (const f of live.listeners) f(ev);
  };
}

// Listeners of the current view, dropped when the view changes.
let viewCleanups = [];
function onEvent(f) { live.listeners.add(f); viewCleanups.push(() => live.listeners.delete(f)); }
function onReconnect(f) { live.onOpen.add(f); viewCleanups.push(() => live.onOpen.delete(f)); }
function onLeave(f) { viewCleanups.push(f); }

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
  for (const f of viewCleanups) f();
  viewCleanups = [];
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
// Workflows

const WF_COLUMNS = [
  ["description", "Description"], ["tags", "Tags"], ["version", "Version"], ["executions", "Executions"],
  ["last", "Last execution"], ["updated", "Updated"],
];

function storedColumns(key, all) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    if (Array.isArray(v)) return new Set(v.filter((c) => all.some(([k]) => k === c)));
  } catch (_) { /* the defaults */ }
  return new Set(all.map(([k]) => k));
}

async function viewWorkflows(query) {
  const search = query.get("search") || "";
  const tag = query.get("tag") || "";
  const all = await api("/api/workflows");
  const tags = [...new Set(all.flatMap((w) => w.tags || []))].sort();
  const cols = storedColumns("wf.columns.workflows", WF_COLUMNS);
  const body = el("tbody", {});
  const tableEl = el("table", { id: "workflows" });
  const paint = (list) => {
    const head = el("tr", {}, el("th", { scope: "col" }, "Name"), WF_COLUMNS.filter(([k]) => cols.has(k)).map(([, t]) => el("th", { scope: "col" }, t)));
    const rows = list.map((w) => {
      const last = w.last_execution;
      const cells = {
        description: el("td", {}, w.description || ""),
        tags: el("td", {}, (w.tags || []).map((t) => el("span", { class: "tag" }, t))),
        version: el("td", { class: "num" }, w.latest_version ?? ""),
        executions: el("td", { class: "num" }, w.executions),
        last: el("td", { class: "status" }, last ? [badge(last.status), " ", el("a", { href: `#/executions/${last.execution_id}` }, when(last.created_at))] : el("span", { class: "muted" }, "never run")),
        updated: el("td", {}, when(w.updated_at)),
      };
      return el("tr", { "data-workflow": w.name },
        el("th", { scope: "row" }, el("a", { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
        WF_COLUMNS.filter(([k]) => cols.has(k)).map(([k]) => cells[k]));
    });
    tableEl.replaceChildren(el("thead", {}, head), body);
    body.replaceChildren(...rows);
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 1 + cols.size, class: "muted" },
      all.length ? "No workflow matches." : "No released workflows yet: `wf release SCRIPT` or `workflow.release()` adds one.")));
  };
  const refresh = async () => {
    const s = $("#search").value, t = $("#tag").value;
    const q = new URLSearchParams();
    if (s) q.set("search", s);
    if (t) q.set("tag", t);
    history.replaceState(null, "", `#/workflows${q.toString() ? "?" + q : ""}`);
    paint(await api(`/api/workflows?${q}`));
  };
  const colMenu = el("details", { class: "columns" }, el("summary", {}, "Columns"),
    el("div", {}, WF_COLUMNS.map(([k, t]) => el("label", {}, el("input", {
      type: "checkbox", checked: cols.has(k), "data-column": k,
      onchange: (ev) => {
        if (ev.target.checked) cols.add(k); else cols.delete(k);
        localStorage.setItem("wf.columns.workflows", JSON.stringify([...cols]));
        refresh();
      },
    }), " ", t))));
  const node = el("section", {},
    el("h1", {}, "Workflows"),
    el("div", { class: "toolbar", role: "search" },
      el("div", {}, el("label", { for: "search" }, "Search by name or description"),
        el("input", { type: "search", id: "search", value: search, oninput: debounce(refresh, 150) })),
      el("div", {}, el("label", { for: "tag" }, "Tag"),
        el("select", { id: "tag", onchange: refresh }, el("option", { value: "" }, "any tag"),
          tags.map((t) => el("option", { value: t, selected: t === tag }, t)))),
      colMenu),
    el("div", { class: "table-wrap panel" }, tableEl));
  paint(search || tag ? all.filter((w) => (!search || (w.name + " " + (w.description || "")).toLowerCase().includes(search.toLowerCase())) && (!tag || (w.tags || []).includes(tag))) : all);
  onEvent(debounce(async () => { try { await refresh(); } catch (_) { /* next event */ } }, 400));
  return node;
}

// One workflow: its DAG (live with its newest execution), configuration form, executions.
async function viewWorkflow(name, _query, current) {
  const [w, layout, flavorInfo, execs] = await Promise.all([
    api(`/api/workflows/${encodeURIComponent(name)}`),
    api(`/api/workflows/${encodeURIComponent(name)}/layout`),
    api("/api/flavors").catch(() => ({ flavors: [] })),
    api(`/api/executions?workflow=${encodeURIComponent(name)}`),
  ]);
  const def = w.definition;
  const cfg = w.configuration || {};
  let watching = execs.length ? execs[0].execution_id : null;
  // Storage roots not in the configuration default to those of the newest execution.
  const lastRecord = watching ? await api(`/api/executions/${watching}`).catch(() => null) : null;
  const steps = stepObjects(def);
  const watchLine = el("p", { id: "watching", class: "muted" });
  const dag = drawDag(layout, (s) => { if (watching) location.hash = `#/executions/${watching}?step=${encodeURIComponent(s)}`; });
  const refreshRecord = async (known) => {
    if (!watching) { watchLine.textContent = "Not run yet: start it below."; return; }
    const r = known || await api(`/api/executions/${watching}`);
    if (!current()) return;
    paintDag(r.steps);
    watchLine.replaceChildren("Showing execution ", el("a", { href: `#/executions/${r.execution_id}` }, r.execution_id), " ", badge(r.status), " started ", when(r.created_at));
  };
  onEvent((ev) => {
    if (ev.execution_id !== watching) return;
    if (ev.step) paintStep(ev.step, ev.status);
    debouncedRecord();
  });
  const debouncedRecord = debounce(() => refreshRecord().catch(() => {}), 200);
  onReconnect(debouncedRecord);

  // The configuration form.
  const phs = placeholders(def);
  const form = el("form", { id: "start-form", class: "panel", "aria-labelledby": "config-title", novalidate: true });
  const fields = el("div", { class: "form-grid" });
  for (const [pname, p] of phs) {
    const given = cfg.parameters && cfg.parameters[pname] !== undefined ? cfg.parameters[pname] : p.default;
    fields.append(placeholderField(pname, p, given, "param"));
  }
  const sts = storages(def);
  for (const [sname, s] of sts) {
    const given = (cfg.storages && cfg.storages[sname]) || (lastRecord && lastRecord.storages && lastRecord.storages[sname]) || "";
    fields.append(el("div", { class: "field" },
      el("label", { for: `storage-${sname}` }, `storage ${sname}`),
      el("input", { type: "text", id: `storage-${sname}`, name: `storage:${sname}`, value: given, placeholder: "a folder, e.g. runs", required: true }),
      el("div", { class: "hint" }, s.description || s.title || "root folder")));
  }
  const flavorIds = (flavorInfo.flavors || []).map((f) => f.id);
  for (const [sname, s] of steps) {
    if (!/JobStep$/.test(s.$class)) continue;
    const parts = stepParts(s);
    const chosen = (cfg.flavors && cfg.flavors[sname]) || "";
    fields.append(el("div", { class: "field" },
      el("label", { for: `flavor-${sname}` }, `flavor of ${sname}`),
      el("select", { id: `flavor-${sname}`, name: `flavor:${sname}` },
        el("option", { value: "" }, `as defined (${parts.flavor || "default"})`),
        flavorIds.map((f) => el("option", { value: f, selected: f === chosen }, f)))));
  }
  const scenes = [];
  walk(def.workflow && def.workflow.policy, (o) => { if (o.$class === "wf.policy.Scene" && o.scene_id) scenes.push(o.scene_id); });
  if (scenes.length) {
    fields.append(el("div", { class: "field" }, el("label", { for: "scene" }, "scene"),
      el("select", { id: "scene", name: "scene" }, el("option", { value: "" }, "all steps"),
        scenes.map((s) => el("option", { value: s, selected: s === cfg.scene }, s)))));
  }
  fields.append(el("div", { class: "field" }, el("label", { for: "wf-tags" }, "tags"),
    el("input", { type: "text", id: "wf-tags", name: "tags", value: (cfg.tags || w.tags || []).join(", "), placeholder: "comma-separated" })));
  const formError = el("div", { role: "alert" });
  const collect = () => {
    const parameters = {}, storagesOut = {}, flavors = {};
    for (const [pname, p] of phs) {
      const v = readField(form, `param:${pname}`, p);
      if (v !== undefined) parameters[pname] = v;
    }
    for (const [sname] of sts) {
      const v = form.elements[`storage:${sname}`].value.trim();
      if (v) storagesOut[sname] = v;
    }
    for (const f of $$("select[name^='flavor:']", form)) if (f.value) flavors[f.name.slice(7)] = f.value;
    const scene = form.elements.scene ? form.elements.scene.value : "";
    const tags = form.elements.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    return { parameters, storages: storagesOut, flavors, scene, tags };
  };
  const save = async () => {
    const c = collect();
    await api(`/api/workflows/${encodeURIComponent(name)}/config`, {
      method: "PUT", body: { parameters: c.parameters, storages: c.storages, flavors: c.flavors, scene: c.scene || null, tags: c.tags },
    });
    return c;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError.replaceChildren();
    const button = $("#start", form);
    button.disabled = true;
    try {
      const c = collect();
      const same = JSON.stringify(c.flavors) === JSON.stringify(cfg.flavors || {});
      if (!same) await api(`/api/workflows/${encodeURIComponent(name)}/config`, { method: "PUT", body: { flavors: c.flavors } });
      const body = { parameters: c.parameters, storages: c.storages };
      if (c.scene) body.scene = c.scene;
      const r = await api(`/api/workflows/${encodeURIComponent(name)}/executions`, { method: "POST", body });
      watching = r.execution_id;
      paintDag((r.steps || []).map((s) => ({ name: s.name, status: s.status, type: s.type })));
      toast(`started ${r.execution_id}`);
      await refreshRecord();
      execList.prepend(execRow(r));
    } catch (e) {
      formError.replaceChildren(el("p", { class: "error-box" }, e.message));
    } finally {
      button.disabled = false;
    }
  });
  form.append(el("h2", { id: "config-title" }, "Configuration"),
    phs.size || sts.size ? fields : [el("p", { class: "muted" }, "This workflow takes no values."), fields],
    formError,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "start" }, "Start"),
      el("button", { type: "button", id: "save-config", onclick: async () => {
        try { await save(); toast("configuration saved"); } catch (e) { formError.replaceChildren(el("p", { class: "error-box" }, e.message)); }
      } }, "Save as configuration")));

  const execList = el("tbody", {}, execs.slice(0, 20).map(execRow));
  const node = el("section", {},
    el("h1", {}, name),
    el("p", { class: "muted" }, w.description || "", " · version ", w.latest_version, " · ",
      (w.tags || []).map((t) => el("span", { class: "tag" }, t))),
    el("h2", {}, "Steps"), watchLine, dag,
    form,
    el("h2", {}, "Executions"),
    el("p", {}, el("a", { id: "all-executions", href: `#/executions?workflow=${encodeURIComponent(name)}` }, `all executions of ${name}`)),
    table(["Execution", "Status", "Started", "Duration", "Steps"], execList));
  setTimeout(() => refreshRecord(lastRecord).catch(() => {}), 0);
  return node;
}

function execRow(e) {
  const counts = e.steps && !Array.isArray(e.steps) ? Object.entries(e.steps).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") : "";
  return el("tr", { "data-execution": e.execution_id },
    el("td", {}, el("a", { href: `#/executions/${e.execution_id}`, class: "mono" }, e.execution_id)),
    el("td", {}, badge(e.status)),
    el("td", {}, when(e.created_at)),
    el("td", { class: "num" }, seconds(e.created_at, e.ended_at)),
    el("td", {}, counts));
}

// A form control for a placeholder, typed like `-p`.
function placeholderField(pname, p, given, prefix) {
  const type = placeholderType(p);
  const id = `${prefix}-${pname}`;
  const nameAttr = `${prefix}:${pname}`;
  let control;
  if (type === "BOOL") {
    control = el("select", { id, name: nameAttr }, el("option", { value: "" }, "—"),
      ["true", "false"].map((b) => el("option", { value: b, selected: String(given) === b }, b)));
  } else if (type === "ENUM" || (Array.isArray(p.enum_list) && p.enum_list.length)) {
    control = el("select", { id, name: nameAttr }, el("option", { value: "" }, "—"),
      (p.enum_list || []).map((x) => el("option", { value: JSON.stringify(x), selected: JSON.stringify(x) === JSON.stringify(given) }, show(x))));
  } else if (type === "INT" || type === "FLOAT") {
    control = el("input", { type: "number", id, name: nameAttr, step: type === "INT" ? "1" : "any", value: given ?? "" });
  } else if (type === "JSON" || type === "LIST" || typeof given === "object" && given !== null && !given.$class) {
    control = el("textarea", { id, name: nameAttr, rows: 2 }, given === undefined || given === null ? "" : JSON.stringify(given));
  } else {
    const shown = given && typeof given === "object" ? show(given) : given ?? "";
    const hint = { DatasetPlaceholder: "NAME or NAME@VERSION", OBSPlaceholder: "a path", LabelTaskPlaceholder: "DATASET/TASK" }[type] || "";
    control = el("input", { type: "text", id, name: nameAttr, value: shown, placeholder: hint });
  }
  return el("div", { class: "field" },
    el("label", { for: id }, pname, " ", el("span", { class: "muted" }, `(${type.toLowerCase()})`)),
    control,
    el("div", { class: "hint" }, p.description || (p.delay ? "asked for when the step runs" : "")));
}

function readField(form, nameAttr, p) {
  const f = form.elements[nameAttr];
  if (!f) return undefined;
  const raw = f.value.trim();
  if (raw === "") return undefined;
  const type = placeholderType(p);
  if (type === "INT") {
    if (!/^-?\d+$/.test(raw)) throw new Error(`${p.name}: \`${raw}\` is not an integer`);
    return parseInt(raw, 10);
  }
  if (type === "FLOAT") {
    const v = Number(raw);
    if (!isFinite(v)) throw new Error(`${p.name}: \`${raw}\` is not a number`);
    return v;
  }
  if (type === "BOOL") return raw === "true";
  if (f.tagName === "SELECT" && (type === "ENUM" || p.enum_list)) return JSON.parse(raw);
  if (type === "JSON" || type === "LIST" || f.tagName === "TEXTAREA") {
    try { return JSON.parse(raw); } catch (e) { throw new Error(`${p.name}: not JSON (${e.message})`); }
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Executions

const PAGE = 50;

async function viewExecutions(query) {
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

async function viewExecution(id, query, current) {
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

// ---------------------------------------------------------------------------------------------
// Metrics: the five formats of the manual (§4.4.5, "Job Phase With Visualization")

async function loadMetricCharts(id, step, box) {
  let files;
  try { files = await api(`/api/executions/${id}/steps/${encodeURIComponent(step)}/metrics`); } catch (_) { return; }
  for (const f of files) {
    if (f.error) { box.append(el("p", { class: "error-box" }, f.error)); continue; }
    box.append(renderMetrics(f.entries, f.output));
  }
}

function renderMetrics(entries, caption) {
  const wrap = el("div", { class: "metrics", "data-output": caption || "" });
  const floats = entries.filter((e) => e.type === "float");
  if (floats.length) {
    wrap.append(el("figure", { class: "chart", "data-type": "float" }, el("figcaption", {}, "values"),
      table(["metric", "value"], floats.map((e) => el("tr", {}, el("td", {}, e.title || e.key), el("td", { class: "num" }, num(e.data.value)))))));
  }
  for (const e of entries) {
    const title = e.title || e.key;
    if (e.type === "line chart" || e.type === "histogram") {
      const x = ((e.data.x_axis || [])[0] || {}).value || [];
      const series = (e.data.y_axis || []).map((y) => ({ name: y.title, values: y.value || [] }));
      wrap.append(el("figure", { class: "chart", "data-type": e.type, "data-metric": e.key },
        el("figcaption", {}, title), e.type === "histogram" ? barChart(x, series[0] ? series[0].values : [], title) : lineChart(x, series, title)));
    } else if (e.type === "table") {
      const cells = e.data.cell_value || [];
      const cols = (e.data.col_labels || {}).value || [];
      const rows = (e.data.row_labels || {}).value || [];
      const max = Math.max(1, ...cells.flat().filter((v) => typeof v === "number"));
      wrap.append(el("figure", { class: "chart", "data-type": "table", "data-metric": e.key }, el("figcaption", {}, title),
        el("table", { class: "heat" },
          el("caption", { class: "muted" }, `${(e.data.row_labels || {}).title || "rows"} × ${(e.data.col_labels || {}).title || "columns"}`),
          el("thead", {}, el("tr", {}, el("th", {}, ""), cols.map((c) => el("th", { scope: "col" }, c)))),
          el("tbody", {}, cells.map((r, i) => el("tr", {}, el("th", { scope: "row" }, rows[i] ?? i),
            r.map((v) => {
              const a = typeof v === "number" ? v / max : 0;
              return el("td", { class: "cell num", style: `background: rgba(37, 99, 235, ${(a * 0.75).toFixed(2)}); color: ${a > 0.55 ? "#fff" : "inherit"}` }, num(v));
            })))))));
    } else if (e.type === "one-dimensional-table") {
      const labels = e.data.labels || [];
      wrap.append(el("figure", { class: "chart", "data-type": "one-dimensional-table", "data-metric": e.key }, el("figcaption", {}, title),
        table(labels.map(String), (e.data.cell_value || []).map((r) => el("tr", {}, r.map((v) => el("td", { class: "num" }, num(v))))))));
    }
  }
  return wrap;
}

function scale(values, lo, hi) {
  const min = Math.min(...values), max = Math.max(...values);
  const span = max - min || Math.abs(max) || 1;
  const a = min - (max === min ? span / 2 : 0), b = max + (max === min ? span / 2 : 0);
  return { f: (v) => hi - ((v - a) / (b - a)) * (hi - lo), min: a, max: b };
}

function axes(svg, w, h, pad, yScale, labelText) {
  svg.append(el("svg:line", { class: "axis", x1: pad, y1: h - pad, x2: w - 8, y2: h - pad }),
    el("svg:line", { class: "axis", x1: pad, y1: 8, x2: pad, y2: h - pad }),
    el("svg:text", { x: pad - 4, y: 14, "text-anchor": "end" }, num(yScale.max)),
    el("svg:text", { x: pad - 4, y: h - pad, "text-anchor": "end" }, num(yScale.min)));
  if (labelText) svg.append(el("svg:title", {}, labelText));
}

function lineChart(x, series, title) {
  const w = 320, h = 180, pad = 42;
  const all = series.flatMap((s) => s.values).filter((v) => typeof v === "number");
  const svg = el("svg:svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": `${title}: ${series.map((s) => `${s.name} ${s.values.map(num).join(", ")}`).join("; ")}` });
  if (!all.length) return svg;
  const ys = scale(all, 8, h - pad);
  const n = Math.max(...series.map((s) => s.values.length));
  const xf = (i) => pad + (n <= 1 ? (w - pad - 8) / 2 : (i / (n - 1)) * (w - pad - 8));
  axes(svg, w, h, pad, ys);
  const colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];
  series.forEach((s, k) => {
    svg.append(el("svg:polyline", { class: "line", style: `stroke: ${colors[k % 4]}`, points: s.values.map((v, i) => `${xf(i)},${ys.f(v)}`).join(" ") }));
    s.values.forEach((v, i) => svg.append(el("svg:circle", { cx: xf(i), cy: ys.f(v), r: 2.5, fill: colors[k % 4] }, el("svg:title", {}, `${x[i] ?? i}: ${num(v)}`))));
  });
  if (x.length) {
    svg.append(el("svg:text", { x: pad, y: h - pad + 14, "text-anchor": "start" }, String(x[0])),
      el("svg:text", { x: w - 8, y: h - pad + 14, "text-anchor": "end" }, String(x[x.length - 1])));
  }
  return svg;
}

function barChart(labels, values, title) {
  const w = Math.max(220, Math.min(520, 60 + values.length * 40)), h = 180, pad = 42;
  const svg = el("svg:svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": `${title}: ${values.map((v, i) => `${labels[i] ?? i} ${num(v)}`).join(", ")}` });
  const nums = values.filter((v) => typeof v === "number");
  if (!nums.length) return svg;
  const ys = scale([0, ...nums], 8, h - pad);
  axes(svg, w, h, pad, ys);
  const bw = (w - pad - 16) / values.length;
  values.forEach((v, i) => {
    const y = ys.f(Math.max(0, v)), y0 = ys.f(Math.min(0, v));
    svg.append(el("svg:rect", { class: "bar", x: pad + 4 + i * bw, y, width: Math.max(2, bw - 6), height: Math.max(1, y0 - y) },
      el("svg:title", {}, `${labels[i] ?? i}: ${num(v)}`)));
    svg.append(el("svg:text", { x: pad + 4 + i * bw + (bw - 6) / 2, y: h - pad + 14, "text-anchor": "middle" }, short(String(labels[i] ?? i), 8)));
  });
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Compare

async function viewCompare(query) {
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

// ---------------------------------------------------------------------------------------------
// Datasets, models, services (read-only)

async function viewDatasets() {
  const list = await api("/api/datasets");
  return el("section", {}, el("h1", {}, "Datasets"),
    table(["Name", "Type", "Samples", "Labelled", "Versions", "Latest version"], list.map((d) => el("tr", { "data-dataset": d.name },
      el("th", { scope: "row" }, d.name), el("td", {}, d.data_type), el("td", { class: "num" }, d.samples), el("td", { class: "num" }, d.labelled),
      el("td", { class: "num" }, d.versions), el("td", {}, d.latest_version || "—")))),
    list.length ? "" : el("p", { class: "muted" }, "No datasets yet: a CreateDatasetStep or `wf dataset create` makes one."));
}

async function viewModels() {
  const list = await api("/api/models");
  return el("section", {}, el("h1", {}, "Models"),
    table(["Name", "Version", "Type", "Registered", "Description"], list.map((m) => el("tr", { "data-model": `${m.model_name || m.name}@${m.model_version || m.version}` },
      el("th", { scope: "row" }, m.model_name || m.name), el("td", {}, m.model_version || m.version), el("td", {}, m.model_type || m.type || ""),
      el("td", {}, when(m.created_at || m.registered_at)), el("td", {}, m.description || "")))),
    list.length ? "" : el("p", { class: "muted" }, "No models yet: a ModelStep registers one."));
}

async function viewServices() {
  const list = await api("/api/services");
  return el("section", {}, el("h1", {}, "Services"),
    table(["Name", "Status", "Address", "Versions and weights"], list.map((s) => el("tr", { "data-service": s.name },
      el("th", { scope: "row" }, s.name), el("td", {}, badge(s.status)),
      el("td", { class: "mono" }, s.access_address || s.address || "—"),
      el("td", {}, (s.versions || []).map((v) => el("div", {}, `${v.model_name || ""}@${v.model_version || v.version || ""} · weight ${v.weight ?? ""}`, v.status ? [" ", badge(v.status)] : "")))))),
    list.length ? "" : el("p", { class: "muted" }, "No services yet: a ServiceStep deploys one."));
}

// ---------------------------------------------------------------------------------------------
// Labeling: one sample at a time, labels on the number keys

async function viewLabel(ds, task, query, current) {
  const exec = query.get("exec"), step = query.get("step");
  let t = await api(`/api/labels/${encodeURIComponent(ds)}/${encodeURIComponent(task)}`);
  const base = `/api/labels/${encodeURIComponent(ds)}/${encodeURIComponent(task)}/samples/`;
  let index = Math.max(0, t.samples.findIndex((s) => !s.labels.length));
  const view = el("div", { class: "sample-view", id: "sample", "aria-live": "polite" });
  const keys = el("div", { class: "label-keys", role: "group", "aria-label": "Labels" });
  const list = el("div", { class: "samples panel", role: "list", "aria-label": "Samples" });
  const progress = el("p", { id: "progress", role: "status" });
  const proceedBox = el("div", { id: "proceed-box" });
  const labels = t.labels.length ? t.labels : [...new Set(t.samples.flatMap((s) => s.labels.concat(s.to_confirm)))];

  const paint = async () => {
    const s = t.samples[index];
    progress.textContent = `${t.labelled} of ${t.samples.length} labelled, ${t.unlabelled} to go`;
    keys.replaceChildren(...labels.map((l, i) => el("button", {
      type: "button", "data-label": l, "aria-pressed": String(!!s && s.labels.includes(l)), onclick: () => setLabel(l),
      "aria-keyshortcuts": i < 9 ? String(i + 1) : null,
    }, i < 9 ? el("kbd", {}, i + 1) : "", l)));
    list.replaceChildren(...t.samples.map((x, i) => el("button", {
      type: "button", role: "listitem", "aria-current": String(i === index), "data-sample": x.id,
      onclick: () => { index = i; paint(); },
    }, el("span", {}, x.name), el("span", { class: x.labels.length ? "" : "muted" }, x.labels.join(", ") || (x.to_confirm.length ? `${x.to_confirm.join(", ")}?` : "unlabelled")))));
    const cur = list.children[index];
    if (cur && cur.scrollIntoView) cur.scrollIntoView({ block: "nearest" });
    if (!s) { view.replaceChildren(el("p", { class: "muted" }, "This task has no samples.")); return; }
    const caption = el("p", { class: "mono" }, `${index + 1}/${t.samples.length} · ${s.name}`, s.labels.length ? ` · ${s.labels.join(", ")}` : "");
    if (s.media === "image") {
      view.replaceChildren(el("img", { src: base + s.id, alt: `sample ${s.name}`, width: 256 }), caption);
    } else if (s.media === "text") {
      const pre = el("pre", {}, "…");
      view.replaceChildren(pre, caption);
      fetch(base + s.id).then((r) => r.text()).then((x) => { pre.textContent = x.slice(0, 20000); }).catch(() => {});
    } else if (s.media === "audio") {
      view.replaceChildren(el("audio", { controls: true, src: base + s.id, "aria-label": `sample ${s.name}` }), caption);
    } else {
      view.replaceChildren(el("p", {}, el("a", { href: base + s.id, download: s.name }, `download ${s.name}`)), caption);
    }
    proceedBox.replaceChildren();
    if (t.unlabelled === 0) {
      proceedBox.append(exec && step
        ? el("button", { type: "button", class: "primary", id: "proceed", onclick: proceed }, el("kbd", {}, "Enter"), " Proceed with ", step)
        : el("p", {}, "Every sample is labelled. ", exec ? "" : "Proceed the step that waits for it from its execution's page."));
    }
  };
  const setLabel = async (l) => {
    const s = t.samples[index];
    if (!s) return;
    try {
      t = await api(base + s.id, { method: "PUT", body: { labels: [l] } });
      const next = t.samples.findIndex((x, i) => i > index && !x.labels.length);
      const first = t.samples.findIndex((x) => !x.labels.length);
      index = next >= 0 ? next : first >= 0 ? first : index;
      await paint();
    } catch (e) { toast(e.message, true); }
  };
  const proceed = async () => {
    try {
      await api(`/api/executions/${exec}/steps/${encodeURIComponent(step)}/proceed`, { method: "POST", body: { parameters: {} } });
      toast(`proceeded ${step}`);
      location.hash = `#/executions/${exec}?step=${encodeURIComponent(step)}`;
    } catch (e) { toast(`proceed: ${e.message}`, true); }
  };
  const onKey = (ev) => {
    if (!current() || ev.target.matches("input, textarea, select")) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const n = Number(ev.key);
    if (n >= 1 && n <= 9 && labels[n - 1] !== undefined) { ev.preventDefault(); setLabel(labels[n - 1]); }
    else if (ev.key === "ArrowRight" || ev.key === "j") { ev.preventDefault(); index = Math.min(t.samples.length - 1, index + 1); paint(); }
    else if (ev.key === "ArrowLeft" || ev.key === "k") { ev.preventDefault(); index = Math.max(0, index - 1); paint(); }
    else if (ev.key === "Enter" && t.unlabelled === 0 && exec && step && !ev.target.matches("button, a")) { ev.preventDefault(); proceed(); }
  };
  document.addEventListener("keydown", onKey);
  onLeave(() => document.removeEventListener("keydown", onKey));
  await paint();
  return el("section", {},
    el("h1", {}, `Label ${ds}/${task}`),
    el("p", { class: "muted" }, `${t.task_type}. Keys: 1–9 set a label and go to the next unlabelled sample; ← → (or k j) move; Enter proceeds when every sample is labelled.`),
    progress,
    el("div", { class: "labeling" },
      el("div", {}, view, el("h2", {}, "Labels"), keys, proceedBox),
      el("div", {}, el("h2", {}, "Samples"), list)));
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
