// Datasets, models, services (read-only).

import { api } from "../api.js";
import { badge, el, table, when } from "../dom.js";

// ---------------------------------------------------------------------------------------------
// Datasets, models, services (read-only)

export async function viewDatasets() {
  const list = await api("/api/datasets");
  return el("section", {}, el("h1", {}, "Datasets"),
    table(["Name", "Type", "Samples", "Labelled", "Versions", "Latest version"], list.map((d) => el("tr", { "data-dataset": d.name },
      el("th", { scope: "row" }, d.name), el("td", {}, d.data_type), el("td", { class: "num" }, d.samples), el("td", { class: "num" }, d.labelled),
      el("td", { class: "num" }, d.versions), el("td", {}, d.latest_version || "—")))),
    list.length ? "" : el("p", { class: "muted" }, "No datasets yet: a CreateDatasetStep or `wf dataset create` makes one."));
}

export async function viewModels() {
  const list = await api("/api/models");
  return el("section", {}, el("h1", {}, "Models"),
    table(["Name", "Version", "Type", "Registered", "Description"], list.map((m) => el("tr", { "data-model": `${m.model_name || m.name}@${m.model_version || m.version}` },
      el("th", { scope: "row" }, m.model_name || m.name), el("td", {}, m.model_version || m.version), el("td", {}, m.model_type || m.type || ""),
      el("td", {}, when(m.created_at || m.registered_at)), el("td", {}, m.description || "")))),
    list.length ? "" : el("p", { class: "muted" }, "No models yet: a ModelStep registers one."));
}

export async function viewServices() {
  const list = await api("/api/services");
  return el("section", {}, el("h1", {}, "Services"),
    table(["Name", "Status", "Address", "Versions and weights"], list.map((s) => el("tr", { "data-service": s.name },
      el("th", { scope: "row" }, s.name), el("td", {}, badge(s.status)),
      el("td", { class: "mono" }, s.access_address || s.address || "—"),
      el("td", {}, (s.versions || []).map((v) => el("div", {}, `${v.model_name || ""}@${v.model_version || v.version || ""} · weight ${v.weight ?? ""}`, v.status ? [" ", badge(v.status)] : "")))))),
    list.length ? "" : el("p", { class: "muted" }, "No services yet: a ServiceStep deploys one."));
}
