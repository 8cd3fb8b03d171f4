// Labeling a task's samples.

import { api } from "../api.js";
import { el, toast } from "../dom.js";
import { onLeave } from "../live.js";

// ---------------------------------------------------------------------------------------------
// Labeling: one sample at a time, labels on the number keys

export async function viewLabel(ds, task, query, current) {
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
