// The workflows page, and one workflow's page: its DAG, configuration and executions.

import { api } from "../api.js";
import { drawDag, paintDag, paintStep } from "../dag.js";
import { placeholders, placeholderType, show, stepObjects, stepParts, storages, walk } from "../definition.js";
import { $, $$, badge, debounce, el, seconds, table, toast, when } from "../dom.js";
import { onEvent, onReconnect } from "../live.js";

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

export async function viewWorkflows(query) {
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
export async function viewWorkflow(name, _query, current) {
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

export function execRow(e) {
  const counts = e.steps && !Array.isArray(e.steps) ? Object.entries(e.steps).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") : "";
  return el("tr", { "data-execution": e.execution_id },
    el("td", {}, el("a", { href: `#/executions/${e.execution_id}`, class: "mono" }, e.execution_id)),
    el("td", {}, badge(e.status)),
    el("td", {}, when(e.created_at)),
    el("td", { class: "num" }, seconds(e.created_at, e.ended_at)),
    el("td", {}, counts));
}

// A form control for a placeholder, typed like `-p`.
export function placeholderField(pname, p, given, prefix) {
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

export function readField(form, nameAttr, p) {
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
