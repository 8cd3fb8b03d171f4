// The REST API of `wf serve`: one fetch, its errors, and what to say without the token.

import { $, el } from "./dom.js";

export class ApiFailure extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, opts) {
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

function showTokenHelp() {
  const main = $("#main");
  if ($("#token-help")) return;
  main.replaceChildren(el("div", { id: "token-help", class: "panel" },
    el("h1", {}, "This server needs its token"),
    el("p", {}, "Open the console as ", el("code", {}, `${location.origin}/?token=TOKEN`),
      "; ", el("code", {}, "wf serve --show-token"), " prints the token on the server's machine.")));
}
