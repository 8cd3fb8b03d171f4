// Reading a definition: its placeholders, storages and steps' objects.

import { el, num } from "./dom.js";

// ---------------------------------------------------------------------------------------------
// Reading a definition (the JSON of `wf graph --format json`)

const PLACEHOLDER_CLASSES = new Set([
  "wf.Placeholder", "wf.data.DatasetPlaceholder", "wf.data.OBSPlaceholder", "wf.data.LabelTaskPlaceholder",
  "wf.data.ServiceInputPlaceholder", "wf.data.ServiceUpdatePlaceholder", "wf.data.SWRImagePlaceholder",
  "wf.data.SWRIImagePlaceholder", "wf.data.DataSelector",
]);

export function walk(v, f) {
  if (Array.isArray(v)) { v.forEach((x) => walk(x, f)); return; }
  if (v && typeof v === "object") {
    if (f(v) === false) return;
    for (const [k, x] of Object.entries(v)) if (k !== "$class" && k !== "at") walk(x, f);
  }
}

function enumName(v) { return v && v.$enum ? v.$enum.split(".").pop() : v; }

export function placeholderType(p) {
  if (p.$class === "wf.Placeholder") return enumName(p.placeholder_type) || "STR";
  return p.$class.split(".").pop();
}

// Every placeholder of a definition, by name, in the order first met.
export function placeholders(def) {
  const out = new Map();
  walk(def.workflow, (o) => {
    if (PLACEHOLDER_CLASSES.has(o.$class) && o.name && !out.has(o.name)) out.set(o.name, o);
  });
  return out;
}

export function storages(def) {
  const out = new Map();
  walk(def.workflow, (o) => {
    if (/Storage$/.test(o.$class || "") && o.name && !out.has(o.name)) out.set(o.name, o);
  });
  return out;
}

export function stepObjects(def) {
  const out = new Map();
  for (const s of (def.workflow && def.workflow.steps) || []) if (s && s.name) out.set(s.name, s);
  return out;
}

// A value of a definition as a person reads it.
export function show(v) {
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
export function stepParts(obj) {
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

// A record's values as a list of names and what they hold.
export function kvList(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el("p", { class: "muted" }, "none");
  return el("dl", { class: "kv" }, entries.map(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, show(v))]));
}
