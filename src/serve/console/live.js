// Live events: one EventSource for the page, listeners per view.

import { $ } from "./dom.js";

// ---------------------------------------------------------------------------------------------
// Live events: one EventSource for the page, listeners per view

export const live = { source: null, listeners: new Set(), onOpen: new Set() };

export function connectEvents() {
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
export function onEvent(f) { live.listeners.add(f); viewCleanups.push(() => live.listeners.delete(f)); }
export function onReconnect(f) { live.onOpen.add(f); viewCleanups.push(() => live.onOpen.delete(f)); }
export function onLeave(f) { viewCleanups.push(f); }
// Drops the listeners of the view left behind.
export function leaveView() { for (const f of viewCleanups) f(); viewCleanups = []; }
