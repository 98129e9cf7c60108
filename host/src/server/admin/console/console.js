// wasmsock console: the admin listener's /status (polled), /events and
// /events/stream (live), and WebSocket client panels on the public listener.
// Plain browser JavaScript, no build step, nothing loaded from elsewhere.
// Sized for large servers: the plugin table shows one page of at most
// PAGE rows of what the filter matches, the event list at most MAX_EVENTS,
// a panel's log its last MAX_LOG lines; no connection is ever listed.
"use strict";

const PAGE = 100;
const MAX_EVENTS = 256;
const MAX_LOG = 500;
const SHOWN_BYTES = 4096;
const SHOWN_CHARS = 10000;
const POLL_MS = 1000;

const $ = (sel, root = document) => root.querySelector(sel);

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const state = {
  status: null,    // the last /status
  page: 0,         // plugin table page
  events: new Map(), // id -> event
  panels: 0,       // panels made so far (for titles)
};

// ---------------------------------------------------------------- status

function mib(bytes) {
  return (bytes / (1 << 20)).toFixed(1) + " MiB";
}

/** The public listener's scheme: wss:// when TLS is its only listener. */
function publicScheme() {
  const s = state.status;
  return s && !s.listen && s.tls_listen ? "wss://" : "ws://";
}

/** The public listener's host:port, as this browser reaches it. */
function publicAddr() {
  const listen = state.status && (state.status.listen || state.status.tls_listen);
  if (!listen) return location.hostname + ":8080";
  const m = listen.match(/^(.*):(\d+)$/);
  if (!m) return listen;
  let host = m[1];
  // A wildcard bind is reached by the name this page was loaded from.
  if (host === "0.0.0.0" || host === "[::]") host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `${host}:${m[2]}`;
}

async function poll() {
  try {
    const r = await fetch("/status", { cache: "no-store" });
    if (!r.ok) throw new Error(`status ${r.status}`);
    state.status = await r.json();
    setLive();
    renderFigures();
    renderPlugins();
    refreshRouteChoices();
    // The public address may have changed (or just become known).
    for (const panel of document.querySelectorAll(".panel")) if (panel.client.autoUrl) panel.client.buildUrl();
  } catch (e) {
    setLive(`admin listener unreachable (${e.message}); retrying`);
  }
  setTimeout(poll, POLL_MS);
}

function setLive(problem) {
  const live = $("#live");
  if (problem) {
    live.dataset.state = "down";
    live.textContent = problem;
  } else if (state.streamOpen) {
    live.dataset.state = "live";
    live.textContent = "live";
  } else {
    live.dataset.state = "connecting";
    live.textContent = "status live, event stream reconnecting";
  }
}

function renderFigures() {
  const s = state.status;
  $("#fig-listen").textContent = publicScheme() + publicAddr();
  $("#fig-open").textContent = String(s.connections.websocket);
  $("#fig-accepted").textContent = String(s.connections.accepted);
  $("#fig-shards").textContent = String(s.shards);
  $("#fig-memory").textContent = mib(s.rss_bytes);
  const l = s.layer;
  $("#fig-layer").textContent = `${l.kind} ${l.connected ? "up" : "DOWN"}`;
}

function matches(name, p, filter) {
  if (!filter) return true;
  return name.toLowerCase().includes(filter) || p.routes.some((r) => r.toLowerCase().includes(filter));
}

function renderPlugins() {
  const s = state.status;
  if (!s) return;
  const filter = $("#plugin-filter").value.trim().toLowerCase();
  const all = Object.entries(s.plugins);
  const shown = all.filter(([name, p]) => matches(name, p, filter));
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const from = state.page * PAGE;
  const rows = shown.slice(from, from + PAGE).map(([name, p]) => pluginRow(name, p));
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { class: "empty", colspan: 9, text: all.length ? "no plugin matches the filter" : "no plugin loaded: drop a .wasm into the plugins folder" })));
  }
  $("#plugins tbody").replaceChildren(...rows);
  $("#plugin-count").textContent = filter ? `${shown.length} of ${all.length}` : String(all.length);
  $("#page-info").textContent = shown.length > PAGE ? `${from + 1}–${Math.min(from + PAGE, shown.length)} of ${shown.length}` : "";
  $("#page-prev").disabled = state.page === 0;
  $("#page-next").disabled = state.page >= pages - 1;
  $(".pager").hidden = shown.length <= PAGE;
  renderRefused(filter);
}

function pluginRow(name, p) {
  const q = p.quarantine;
  const health = q
    ? el("span", { class: "badge bad", title: q.reason, text: `quarantined ${Math.ceil(q.remaining_ms / 1000)} s` })
    : p.failures > 0
      ? el("span", { class: "badge warn", text: "serving" })
      : el("span", { class: "badge", text: "serving" });
  const routes = el("td", {}, ...p.routes.map((r) =>
    el("button", { type: "button", class: "route-link", title: "open a panel on this route", text: r, onclick: () => openPanel(r) })));
  return el("tr", { "data-plugin": name },
    el("td", { class: "name", text: name }),
    el("td", { class: "num version", text: String(p.version) }),
    routes,
    el("td", { text: p.instance }),
    el("td", { class: "hash", title: p.sha256, text: p.sha256.slice(0, 12) }),
    el("td", { class: "num connections", text: String(p.connections) }),
    el("td", { class: "num", text: String(p.live_shards) }),
    el("td", { class: "num failures", text: String(p.failures) }),
    el("td", { class: "health" }, health));
}

function renderRefused(filter) {
  const refused = Object.entries(state.status.refused).filter(([name, why]) =>
    !filter || name.toLowerCase().includes(filter) || why.toLowerCase().includes(filter));
  $("#refused-box").hidden = refused.length === 0;
  $("#refused-count").textContent = refused.length > PAGE ? `first ${PAGE} of ${refused.length}` : String(refused.length);
  $("#refused").replaceChildren(...refused.slice(0, PAGE).map(([name, why]) =>
    el("li", { "data-plugin": name }, el("b", { text: name }), why)));
}

// ---------------------------------------------------------------- events

function startEvents() {
  // The stream first, then the kept events: an event in between is in
  // both and counted once by its id.
  const stream = new EventSource("/events/stream");
  stream.onopen = () => { state.streamOpen = true; setLive(); };
  stream.onerror = () => { state.streamOpen = false; setLive(); };
  stream.onmessage = (m) => addEvents([JSON.parse(m.data)]);
  stream.addEventListener("skipped", (m) => {
    const n = JSON.parse(m.data).skipped;
    addEvents([{ id: `skip-${Date.now()}`, unix_ms: Date.now(), kind: "skipped", plugin: "", detail: `${n} events missed: this page fell behind` }]);
  });
  fetch("/events", { cache: "no-store" })
    .then((r) => r.json())
    .then((page) => addEvents(page.events))
    .catch(() => {});
}

function addEvents(list) {
  for (const e of list) state.events.set(e.id, e);
  // Keep the newest MAX_EVENTS.
  if (state.events.size > MAX_EVENTS) {
    const sorted = [...state.events.values()].sort((a, b) => a.unix_ms - b.unix_ms || String(a.id).localeCompare(String(b.id)));
    for (const e of sorted.slice(0, sorted.length - MAX_EVENTS)) state.events.delete(e.id);
  }
  renderEvents();
}

function renderEvents() {
  const filter = $("#event-filter").value.trim().toLowerCase();
  const list = [...state.events.values()]
    .sort((a, b) => b.unix_ms - a.unix_ms || (typeof a.id === "number" && typeof b.id === "number" ? b.id - a.id : 0))
    .filter((e) => !filter || `${e.kind} ${e.plugin} ${e.detail}`.toLowerCase().includes(filter));
  const items = list.map((e) => {
    const t = new Date(e.unix_ms);
    return el("li", { "data-kind": e.kind, "data-plugin": e.plugin },
      el("time", { datetime: e.time || t.toISOString(), title: t.toString(), text: t.toLocaleTimeString([], { hour12: false }) }),
      el("span", { class: `kind ${e.kind}`, text: e.kind }),
      el("span", { class: "detail" },
        e.plugin ? el("span", { class: "who", text: e.plugin + (e.version ? ` v${e.version}` : "") }) : null,
        e.detail));
  });
  if (items.length === 0) items.push(el("li", { class: "empty", text: "no events yet" }));
  $("#events").replaceChildren(...items);
  $("#event-count").textContent = String(list.length);
}

// ---------------------------------------------------------------- panels

/** Every route served, as [route, plugin] pairs, sorted. */
function routeChoices() {
  const s = state.status;
  if (!s) return [];
  const out = [];
  for (const [name, p] of Object.entries(s.plugins)) for (const r of p.routes) out.push([r, name]);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

function refreshRouteChoices() {
  const choices = routeChoices();
  const key = choices.map((c) => c.join(" ")).join("\n");
  if (key === state.routeKey) return;
  state.routeKey = key;
  for (const panel of document.querySelectorAll(".panel")) fillRoutes(panel, choices);
}

function fillRoutes(panel, choices = routeChoices()) {
  const select = $(".route", panel);
  const current = select.value;
  // A select of 1,000 plugins' routes is still one element; it is rebuilt
  // only when the routes change.
  select.replaceChildren(el("option", { value: "", text: "— type a URL —" }),
    ...choices.map(([r, name]) => el("option", { value: r, text: `${r}  (${name})` })));
  if (choices.some(([r]) => r === current)) select.value = current;
}

/** The `{name}` segments of a route. */
function paramsOf(route) {
  return [...route.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
}

function openPanel(route) {
  const empty = [...document.querySelectorAll(".panel")].find((p) => p.dataset.state !== "open" && p.dataset.state !== "connecting");
  const panel = empty || addPanel();
  const select = $(".route", panel);
  select.value = route;
  select.dispatchEvent(new Event("change"));
  panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function addPanel() {
  const panel = $("#panel-template").content.firstElementChild.cloneNode(true);
  state.panels += 1;
  panel.dataset.panel = String(state.panels);
  $(".panel-title", panel).textContent = `client ${state.panels}`;
  $("#panels").append(panel);
  fillRoutes(panel);
  const client = new Client(panel);
  panel.client = client;
  return panel;
}

function parseHex(text) {
  const clean = text.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) return null;
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function hex(bytes) {
  const shown = bytes.subarray(0, SHOWN_BYTES);
  const out = Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > SHOWN_BYTES ? `${out} … (${bytes.length} bytes)` : out;
}

/** One WebSocket client panel. */
class Client {
  constructor(panel) {
    this.panel = panel;
    this.ws = null;
    const on = (sel, ev, f) => $(sel, panel).addEventListener(ev, f);
    on(".route", "change", () => this.routeChanged());
    on(".query", "input", () => this.buildUrl());
    on(".url", "input", () => { this.autoUrl = false; });
    on(".connect", "click", () => this.connect());
    on(".disconnect", "click", () => this.disconnect());
    on(".clear", "click", () => $(".log", panel).replaceChildren());
    on(".send-button", "click", () => this.send());
    on(".message", "keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.send(); });
    on(".remove", "click", () => { this.disconnect(); panel.remove(); });
    this.buildUrl();
  }

  routeChanged() {
    const route = $(".route", this.panel).value;
    const box = $(".params", this.panel);
    box.replaceChildren(...paramsOf(route).map((name) =>
      el("label", {}, name, el("input", { class: "param", "data-param": name, placeholder: name, oninput: () => this.buildUrl() }))));
    this.buildUrl();
  }

  /** The URL from the route, its parameters and the query (until the URL
   * itself is edited; picking a route again takes it back). */
  buildUrl() {
    const route = $(".route", this.panel).value || "/";
    this.autoUrl = true;
    let path = route;
    for (const input of this.panel.querySelectorAll(".param")) {
      path = path.replace(`{${input.dataset.param}}`, encodeURIComponent(input.value || input.dataset.param));
    }
    const query = $(".query", this.panel).value.trim().replace(/^\?/, "");
    $(".url", this.panel).value = `${publicScheme()}${publicAddr()}${path}${query ? "?" + query : ""}`;
  }

  setState(name, text) {
    this.panel.dataset.state = name;
    $(".state", this.panel).textContent = text;
    const open = name === "open";
    const busy = open || name === "connecting";
    $(".connect", this.panel).disabled = busy;
    $(".disconnect", this.panel).disabled = !busy;
    $(".send-button", this.panel).disabled = !open;
  }

  log(cls, tag, text) {
    const log = $(".log", this.panel);
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(el("li", { class: cls }, el("span", { class: "tag", text: tag }), text));
    while (log.childElementCount > MAX_LOG) log.firstElementChild.remove();
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  connect() {
    const url = $(".url", this.panel).value.trim();
    const protocols = $(".protocols", this.panel).value.split(",").map((p) => p.trim()).filter(Boolean);
    let ws;
    try {
      ws = new WebSocket(url, protocols);
    } catch (e) {
      this.log("error info", "error", e.message);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.setState("connecting", "connecting…");
    this.log("info", "connect", url + (protocols.length ? `  [${protocols.join(", ")}]` : ""));
    ws.onopen = () => {
      this.setState("open", "open" + (ws.protocol ? ` (${ws.protocol})` : ""));
      this.log("info", "open", ws.protocol ? `subprotocol ${ws.protocol}` : "no subprotocol");
    };
    ws.onmessage = (m) => {
      if (typeof m.data === "string") {
        const t = m.data.length > SHOWN_CHARS ? `${m.data.slice(0, SHOWN_CHARS)} … (${m.data.length} chars)` : m.data;
        this.log("in text", "text", t);
      } else {
        const bytes = new Uint8Array(m.data);
        this.log("in binary", `binary ${bytes.length}B`, hex(bytes));
      }
    };
    ws.onerror = () => this.log("error info", "error", "the connection failed (the browser gives no detail; a refused handshake closes with 1006)");
    ws.onclose = (c) => {
      if (this.ws === ws) this.ws = null;
      this.setState("closed", `closed ${c.code}`);
      this.log("close", "close", `code ${c.code}${c.reason ? ` reason "${c.reason}"` : ""}${c.wasClean ? "" : " (not clean)"}`);
    };
  }

  disconnect() {
    if (this.ws) this.ws.close(1000, "console disconnect");
  }

  send() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const text = $(".message", this.panel).value;
    if ($(".kind", this.panel).value === "binary") {
      const bytes = parseHex(text);
      if (!bytes) {
        this.log("error info", "error", "not hex: write bytes as pairs of hex digits, e.g. 00 01 ff");
        return;
      }
      ws.send(bytes);
      this.log("out binary", `binary ${bytes.length}B`, hex(bytes));
    } else {
      ws.send(text);
      this.log("out text", "text", text);
    }
  }
}

// ---------------------------------------------------------------- start

function start() {
  $("#plugin-filter").addEventListener("input", () => { state.page = 0; renderPlugins(); });
  $("#event-filter").addEventListener("input", renderEvents);
  $("#page-prev").addEventListener("click", () => { state.page -= 1; renderPlugins(); });
  $("#page-next").addEventListener("click", () => { state.page += 1; renderPlugins(); });
  $("#add-panel").addEventListener("click", () => addPanel());
  addPanel();
  addPanel();
  renderEvents();
  startEvents();
  poll();
}

start();
