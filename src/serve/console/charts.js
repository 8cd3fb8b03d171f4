// A step's metrics as tables and charts.

import { api } from "./api.js";
import { el, num, short, table } from "./dom.js";

// ---------------------------------------------------------------------------------------------
// Metrics: the five formats of the manual (§4.4.5, "Job Phase With Visualization")

export async function loadMetricCharts(id, step, box) {
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

export function barChart(labels, values, title) {
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
