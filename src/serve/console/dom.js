// The page's basics: building the DOM (never from HTML strings, so a name or a log line is
// always shown as text), notices, and how a record's values read.

// ---------------------------------------------------------------------------------------------
// Basics

export const $ = (sel, root) => (root || document).querySelector(sel);
export const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const SVGNS = "http://www.w3.org/2000/svg";

export function el(tag, attrs, ...children) {
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

export function toast(message, isError) {
  const box = $("#toast");
  const d = el("div", { class: isError ? "error" : "" }, message);
  box.append(d);
  setTimeout(() => d.remove(), isError ? 9000 : 4000);
}

// `text` in at most `max` characters, ending in `…` when cut.
export function short(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

const STATUSES = ["waiting", "running", "awaiting_input", "executed", "failed", "stopped", "skipped"];

export function badge(status) {
  return el("span", { class: `badge s-${status}`, "data-status": status }, (status || "none").replace("_", " "));
}

export function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return t;
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function seconds(a, b) {
  if (!a) return "";
  const end = b ? new Date(b) : new Date();
  const s = (end - new Date(a)) / 1000;
  if (!(s >= 0)) return "";
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function num(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? v.toPrecision(4) : String(+v.toFixed(4));
}

export function table(head, rows, attrs) {
  return el("div", { class: "table-wrap" }, el("table", attrs || {},
    el("thead", {}, el("tr", {}, head.map((h) => typeof h === "string" ? el("th", { scope: "col" }, h) : h))),
    rows instanceof HTMLElement && rows.tagName === "TBODY" ? rows : el("tbody", {}, rows)));
}

export function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
