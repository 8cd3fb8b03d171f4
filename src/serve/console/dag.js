// The DAG, drawn from the layout the server computes, and painted with statuses.

import { el, short } from "./dom.js";

// ---------------------------------------------------------------------------------------------
// The DAG, drawn from the layout the server computes (`GET /api/workflows/NAME/layout`,
// `GET /api/executions/ID/layout`): each step's box, each arrow's ends, the drawing's size.

// Draws the DAG laid out as `L`; `onPick(step)` when a step is clicked or chosen with Enter.
export function drawDag(L, onPick) {
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
export function paintDag(steps) {
  for (const s of steps || []) paintStep(s.name, s.status, s.type);
}

export function paintStep(name, status, type) {
  const g = document.querySelector(`#dag .node[data-step="${CSS.escape(name)}"]`);
  if (!g) return;
  g.setAttribute("data-status", status || "none");
  g.setAttribute("aria-label", `step ${name}: ${status || "not run"}`);
  const t = g.querySelector("text.kind");
  const kind = type || (t ? t.textContent.split(" · ")[0] : "");
  if (t) t.textContent = `${kind} · ${(status || "—").replace("_", " ")}`;
}
