// wasmsock's JavaScript SDK: consumers in the shape of Django Channels'
// (connect / receive / disconnect, accept, send, close, a channel layer
// with groups, events dispatched by type), in JavaScript's idiom.
//
//   import { WebsocketConsumer } from "wasmsock";
//
//   export class Echo extends WebsocketConsumer {
//     connect() { this.accept(); }
//     receive(data) { this.send(data); }   // a string (text) or a Uint8Array (binary)
//     disconnect(code) { console.log(`disconnect ${code}`); }
//   }
//
// This module never imports the host (the `wasmsock:plugin/...` WIT
// modules): `plugin.js` does, and hands the calls over with `setHost`. So
// the build can import a plugin's modules with node to read its routes,
// and the runtime can be tested without wasm. docs/javascript.md is the
// reference.

// --- errors -------------------------------------------------------------------

/** The host refused a call. `kind` is the WIT error case ("closed",
 * "too-large", "invalid-close", "queue-full", "unknown-connection",
 * "invalid-name", "invalid-address", "too-many-groups",
 * "no-event-handler"), `limit` its number when it carries one. */
export class HostError extends Error {
  constructor(message, kind, limit) {
    super(message);
    this.name = "HostError";
    this.kind = kind;
    this.limit = limit;
  }
}

/** Thrown from `connect()`: refuse the handshake, 403 unless another
 * status (400-599) is given. */
export class DenyConnection extends Error {
  constructor(status = 403, body = "") {
    super(`connection denied (${status})`);
    this.name = "DenyConnection";
    this.status = status;
    this.body = body;
  }
}

// --- the host -----------------------------------------------------------------

const noHost = () => {
  throw new Error(
    "the wasmsock host is reachable only inside a plugin, while it serves a connection " +
      "(not while its modules are loaded)",
  );
};

// What plugin.js installs: each function returns its result or throws
// { kind, limit } (a WIT error, decoded).
let host = {
  send: noHost, // (conn, string | Uint8Array)
  close: noHost, // (conn, code, reason)
  join: noHost, // (conn, group)
  leave: noHost, // (conn, group)
  address: noHost, // (conn) -> string
  count: noHost, // (group) -> number
  members: noHost, // (group) -> string[]
  broadcast: noHost, // (group, string | Uint8Array, excludeConn | undefined) -> number
  groupSend: noHost, // (group, string) -> number
  sendEvent: noHost, // (address, string) -> boolean
  sendMessage: noHost, // (address, string | Uint8Array) -> boolean
  log: noHost, // (level, text)
  config: noHost, // (key) -> string | undefined
  configAll: noHost, // () -> [key, value][]
};

/** Used by plugin.js (and the SDK's tests) to give the runtime the host's
 * calls. */
export function setHost(calls) {
  host = { ...host, ...calls };
}

/** The server's log, tagged with the plugin's name (`console.log` reaches
 * it too, as stdout lines at INFO). */
export const log = {
  debug: (text) => host.log("debug", String(text)),
  info: (text) => host.log("info", String(text)),
  warn: (text) => host.log("warn", String(text)),
  error: (text) => host.log("error", String(text)),
};

/** The plugin's `[config]` table from its manifest. */
export const config = {
  get: (key) => host.config(String(key)),
  all: () => Object.fromEntries(host.configAll()),
};

// --- routes -------------------------------------------------------------------

const PARAM = /^[A-Za-z0-9_-]+$/;

/** Why a route pattern cannot be served, or null. `pattern` is in the
 * server's form (`/chat/{room}`); `:room` segments are accepted and
 * normalised by `route()` before this. */
export function patternProblem(pattern) {
  if (typeof pattern !== "string") return `a route is a string such as "/chat/{room}", not ${typeof pattern}`;
  if (!pattern.startsWith("/")) return "a route must start with '/'";
  const trimmed = pattern.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "") return null;
  const seen = new Set();
  for (const seg of trimmed.split("/")) {
    if (seg === "") return 'it has an empty segment ("//")';
    if (/[\s?#]/.test(seg) || /[\u0000-\u001f\u007f]/.test(seg)) {
      return `segment ${JSON.stringify(seg)} contains characters a path cannot hold (space, '?', '#', control characters)`;
    }
    if (seg.includes("*")) {
      return `segment ${JSON.stringify(seg)}: wildcards are not routed; a parameter is one whole segment, {name}`;
    }
    if (seg.includes("{") || seg.includes("}") || seg.includes(":")) {
      const m = /^\{([^{}]*)\}$/.exec(seg);
      if (!m) {
        return `segment ${JSON.stringify(seg)}: a parameter is a whole segment, {name} or :name, and cannot share it with text`;
      }
      if (!PARAM.test(m[1])) {
        return `segment ${JSON.stringify(seg)}: a parameter's name is letters, digits, '_' or '-'`;
      }
      if (seen.has(m[1])) return `parameter ${JSON.stringify(m[1])} appears twice`;
      seen.add(m[1]);
    }
  }
  return null;
}

/** The pattern with `:name` segments written `{name}`, as the server's
 * manifest takes them. Anything else is left for `patternProblem`. */
export function normalizePattern(pattern) {
  if (typeof pattern !== "string") return pattern;
  return pattern
    .split("/")
    .map((seg) => {
      const m = /^:([A-Za-z0-9_-]+)$/.exec(seg);
      return m ? `{${m[1]}}` : seg;
    })
    .join("/");
}

/** Two patterns match the same paths when they differ only in their
 * parameters' names. */
export function patternShape(pattern) {
  return pattern
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
    .split("/")
    .filter((s) => s !== "")
    .map((s) => (s.startsWith("{") ? "{}" : s))
    .join("/");
}

/** A route for `routing.js`: `route("/chat/{room}", ChatConsumer)` (or
 * `"/chat/:room"`). Each becomes one of the server's routes. */
export function route(pattern, consumer) {
  return { path: normalizePattern(pattern), consumer };
}

// --- consumers ----------------------------------------------------------------

const CONNECTING = "connecting"; // in connect(), not accepted yet
const ACCEPTED = "accepted"; // accepted in connect(); the upgrade follows
const REFUSED = "refused"; // closed before accepting: 403
const OPEN = "open";
const CLOSED = "closed"; // the server closed it, or it is gone

// The link being built while a consumer is constructed (see WebsocketConsumer).
let constructing = null;

function describe(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return null;
}

/** The channel layer: groups of connections and events between consumers,
 * on every server of a cluster. Each call completes at once (`await` on it
 * works too) and throws a HostError when the server refuses. */
class ChannelLayer {
  constructor(runtime) {
    this.runtime = runtime;
  }

  /** The connection at `channelName` (one this plugin instance serves,
   * in practice `this.channelName`) joins `group`. */
  groupAdd(group, channelName) {
    const link = this.runtime.byChannel.get(channelName);
    if (!link) {
      throw new Error(
        `channelLayer.groupAdd: ${describe(channelName)} is not the channelName of a connection this ` +
          "plugin instance serves; a consumer adds its own connection (this.channelName)",
      );
    }
    hostCall(`channelLayer.groupAdd(${describe(group)})`, () => host.join(link.conn, group), group);
  }

  /** It leaves `group`; no error when it was not in, or is gone. */
  groupDiscard(group, channelName) {
    const link = this.runtime.byChannel.get(channelName);
    if (!link) return;
    try {
      host.leave(link.conn, group);
    } catch (e) {
      if (e?.kind === "unknown-connection") return;
      throw hostError(`channelLayer.groupDiscard(${describe(group)})`, e, group);
    }
  }

  /** Every member's consumer, on every server, gets `event` (an object
   * with a string `type`, JSON-serialisable) in the method its type names:
   * `{type: "chat.message"}` calls `chatMessage(event)`. */
  groupSend(group, event) {
    const text = encodeEvent("channelLayer.groupSend", event);
    hostCall(`channelLayer.groupSend(${describe(group)})`, () => host.groupSend(group, text), group);
  }

  /** The one consumer at `channelName` gets `event`. Returns false when
   * that connection is gone. */
  send(channelName, event) {
    const text = encodeEvent("channelLayer.send", event);
    return hostCall(`channelLayer.send(${describe(channelName)})`, () => host.sendEvent(channelName, text), channelName);
  }

  /** wasmsock's own: write `data` (string or bytes) to the socket of
   * every member of `group` but `exclude` (a channelName), with no
   * consumer call. Returns how many members on this server it was queued for. */
  broadcast(group, data, { exclude } = {}) {
    const payload = payloadOf("channelLayer.broadcast", data);
    let excludeConn;
    if (exclude !== undefined) excludeConn = this.runtime.byChannel.get(exclude)?.conn;
    return hostCall(
      `channelLayer.broadcast(${describe(group)})`,
      () => host.broadcast(group, payload, excludeConn),
      group,
    );
  }

  /** wasmsock's own: write `data` to the socket at `channelName`, with no
   * consumer call. False when it is gone. */
  sendMessage(channelName, data) {
    const payload = payloadOf("channelLayer.sendMessage", data);
    return hostCall(
      `channelLayer.sendMessage(${describe(channelName)})`,
      () => host.sendMessage(channelName, payload),
      channelName,
    );
  }

  /** wasmsock's own: how many connections are in `group`, on every server. */
  groupCount(group) {
    return hostCall(`channelLayer.groupCount(${describe(group)})`, () => host.count(group), group);
  }

  /** wasmsock's own: the members' channelNames, in the order they joined. */
  groupMembers(group) {
    return hostCall(`channelLayer.groupMembers(${describe(group)})`, () => host.members(group), group);
  }

  /** Not available: a consumer's channel is its connection, and nothing can
   * wait for a message. */
  newChannel() {
    throw new Error("channelLayer.newChannel is not supported: a consumer's channel is its connection (this.channelName)");
  }

  /** Not available (see newChannel). */
  receive() {
    throw new Error("channelLayer.receive is not supported: events arrive in the consumer's methods, by type");
  }
}

function encodeEvent(what, event) {
  if (event === null || typeof event !== "object" || Array.isArray(event) || typeof event.type !== "string") {
    throw new TypeError(`${what}: an event is an object with a string "type", such as {type: "chat.message", text}`);
  }
  let text;
  try {
    text = JSON.stringify(event);
  } catch (e) {
    throw new TypeError(`${what}: an event must be JSON-serialisable (${e.message})`);
  }
  return text;
}

function payloadOf(what, data) {
  if (typeof data === "string") return data;
  const bytes = bytesOf(data);
  if (bytes) return bytes;
  throw new TypeError(
    `${what}: send a string (a text message) or a Uint8Array / ArrayBuffer (a binary message), not ${
      data === null ? "null" : typeof data
    }; sendJson sends a value as JSON`,
  );
}

function hostError(what, e, name) {
  if (!e || typeof e.kind !== "string") return e;
  switch (e.kind) {
    case "invalid-name":
      return new HostError(
        `${what}: ${describe(name)} is not a valid group name (1 to 100 ASCII letters, digits, '-', '_', '.', ':')`,
        e.kind,
      );
    case "invalid-address":
      return new HostError(`${what}: ${describe(name)} is not a channelName this server gave out`, e.kind);
    case "too-large":
      return new HostError(`${what}: over the server's max_message_size (${e.limit} bytes)`, e.kind, e.limit);
    case "too-many-groups":
      return new HostError(`${what}: the connection is already in ${e.limit} groups, the most one may join`, e.kind, e.limit);
    case "no-event-handler":
      return new HostError(`${what}: this plugin exports no event-handler, so events have nowhere to go`, e.kind);
    case "unknown-connection":
      return new HostError(`${what}: the connection is not one this plugin instance serves`, e.kind);
    case "closed":
      return new HostError(`${what}: the connection is closed`, e.kind);
    case "invalid-close":
      return new HostError(
        `${what}: a server may close with 1000, 1001, 1003, 1007-1014 or 3000-4999, and a reason of at most 123 bytes`,
        e.kind,
      );
    default:
      return new HostError(`${what}: the server refused (${e.kind})`, e.kind, e.limit);
  }
}

function hostCall(what, call, name) {
  try {
    return call();
  } catch (e) {
    throw hostError(what, e, name);
  }
}

/** One connection's consumer: subclass it and override `connect`,
 * `receive`, `disconnect`, and a method per event type. One instance per
 * connection, created when it connects and dropped when it ends. */
export class WebsocketConsumer {
  constructor() {
    const link = constructing;
    if (!link) {
      throw new Error(
        "a consumer is created by wasmsock for each connection; do not construct one yourself (route its class)",
      );
    }
    constructing = null;
    Object.defineProperty(this, LINK, { value: link });
    /** The connection's scope: path, query, headers, params, cookies, ... */
    this.scope = link.scope;
    /** The connection's address, valid on every server of a cluster. */
    this.channelName = link.channelName;
    /** The channel layer (groups and events). */
    this.channelLayer = link.runtime.layer;
    // Groups joined before `connect()`: a subclass sets them as a class
    // field (or a getter, which an assignment here would break).
    if (!("groups" in this)) this.groups = [];
  }

  /** Runs before the HTTP upgrade: `this.accept()` to accept; returning
   * without accepting, `this.close()` or `throw new DenyConnection()`
   * refuses with 403. The default accepts. */
  connect() {
    this.accept();
  }

  /** A message: a string for text, a Uint8Array for binary. */
  receive(data) {} // eslint-disable-line no-unused-vars

  /** The connection is gone: the client's close code, the consumer's, or
   * 1006 when the socket dropped. */
  disconnect(code, reason) {} // eslint-disable-line no-unused-vars

  /** Accept the connection (in `connect()`), answering with `subprotocol`
   * (one the client offered) and extra response `headers` ([name, value]
   * pairs). */
  accept(subprotocol, headers = []) {
    const link = this[LINK];
    if (link.state !== CONNECTING) {
      if (link.state === ACCEPTED || link.state === OPEN) {
        host.log("warn", `${nameOf(this)}: accept() on a connection already accepted; ignored`);
      }
      return;
    }
    link.state = ACCEPTED;
    link.subprotocol = subprotocol ?? undefined;
    link.headers = headers.map(([n, v]) => [String(n), String(v)]);
  }

  /** Send a string as a text message, or bytes (Uint8Array, ArrayBuffer,
   * a typed array) as a binary one. After the close, nothing is sent. */
  send(data) {
    const link = this[LINK];
    const payload = payloadOf("send", data);
    if (link.state === CONNECTING || link.state === REFUSED) {
      throw new Error("the connection has not been accepted, so nothing can be sent over it: call this.accept() first");
    }
    if (link.state === CLOSED) return;
    try {
      host.send(link.conn, payload);
    } catch (e) {
      if (e?.kind === "closed" || e?.kind === "queue-full") {
        // The client is gone, or stopped reading (the server closes it with 1008).
        link.state = CLOSED;
        return;
      }
      throw hostError("send", e);
    }
  }

  /** Send `value` as JSON text. */
  sendJson(value) {
    this.send(JSON.stringify(value));
  }

  /** Close with `code` (1000, 1001, 1003, 1007-1014 or 3000-4999) and a
   * reason of at most 123 bytes; in `connect()`, before accepting, it
   * refuses the handshake (403). */
  close(code = 1000, reason = "") {
    const link = this[LINK];
    if (link.state === CONNECTING) {
      link.state = REFUSED;
      return;
    }
    if (link.state !== ACCEPTED && link.state !== OPEN) return;
    try {
      host.close(link.conn, code, String(reason));
    } catch (e) {
      if (e?.kind !== "closed" && e?.kind !== "queue-full") throw hostError(`close(${code})`, e);
    }
    link.state = CLOSED;
  }
}

/** A consumer that speaks JSON: `receiveJson(content)` gets each text
 * message parsed, `sendJson(value)` sends one. A binary message is an
 * error (the connection closes with 1011), as in Channels. */
export class JsonWebsocketConsumer extends WebsocketConsumer {
  receive(data) {
    if (typeof data !== "string") {
      throw new TypeError("a JsonWebsocketConsumer takes text messages holding JSON; a binary message arrived");
    }
    this.receiveJson(JSON.parse(data));
  }

  /** A text message, parsed. */
  receiveJson(content) {} // eslint-disable-line no-unused-vars
}

const LINK = Symbol("wasmsock.link");
// Methods an event's type never reaches (they are the consumer's own API).
const RESERVED = new Set([
  ...Object.getOwnPropertyNames(JsonWebsocketConsumer.prototype),
  ...Object.getOwnPropertyNames(WebsocketConsumer.prototype),
  ...Object.getOwnPropertyNames(Object.prototype),
  "dispatch",
]);

/** The methods tried for an event of type `type`, in order:
 * "chat.message" tries `chatMessage` then `chat_message`. */
export function handlerNames(type) {
  const parts = type.split(/[._-]/).filter((p) => p !== "");
  const camel = parts.map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join("");
  const snake = type.replace(/[.-]/g, "_");
  return [...new Set([camel, snake])].filter((n) => n !== "");
}

function nameOf(consumer) {
  return consumer?.constructor?.name || "consumer";
}

function isConsumerClass(value) {
  return typeof value === "function" && value.prototype instanceof WebsocketConsumer;
}

// --- the runtime --------------------------------------------------------------

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function splitHostPort(text, defaultPort) {
  const m = /^\[([^\]]*)\](?::(\d+))?$/.exec(text) ?? /^([^:]*)(?::(\d+))?$/.exec(text);
  if (!m) return [text, defaultPort];
  return [m[1], m[2] === undefined ? defaultPort : Number(m[2])];
}

/** The consumer's `this.scope`, from the WIT scope. */
export function buildScope(s) {
  const params = {};
  for (const [k, v] of s.params) params[k] = decode(v);
  const host = s.headers.find(([n]) => n === "host");
  return {
    type: "websocket",
    path: decode(s.path),
    rawPath: s.path,
    queryString: s.query,
    query: typeof URLSearchParams === "function" ? new URLSearchParams(s.query) : undefined,
    headers: s.headers.map(([n, v]) => [n, v]),
    route: s.route,
    params,
    cookies: Object.fromEntries(s.cookies),
    client: splitHostPort(s.remoteAddr, null),
    server: host ? splitHostPort(host[1], 80) : null,
    subprotocols: [...s.subprotocols],
  };
}

/** What a plugin module gives: a list of routes (`routing.js`'s
 * `routes`) or one consumer class (`consumers.js`). Returns
 * [{path, consumer}], path null for the plugin's default route. Throws an
 * Error saying what to change. */
export function routesOf(kind, module, shown) {
  if (kind === "routing") {
    const routes = module.routes ?? module.default;
    if (!Array.isArray(routes)) {
      throw new Error(
        `${shown} must export \`routes\`, an array such as [route("/chat/{room}", ChatConsumer)] ` +
          "(import { route } from \"wasmsock\")",
      );
    }
    if (routes.length === 0) throw new Error(`${shown}: \`routes\` is empty`);
    const out = [];
    const shapes = new Map();
    routes.forEach((r, i) => {
      const where = `${shown}: routes[${i}]`;
      if (r === null || typeof r !== "object" || Array.isArray(r)) {
        throw new Error(`${where} is not a route: write route("/path/{param}", Consumer)`);
      }
      const path = normalizePattern(r.path);
      const problem = patternProblem(path);
      if (problem) throw new Error(`${where}: ${describe(r.path)} cannot be routed: ${problem}`);
      if (!isConsumerClass(r.consumer)) {
        throw new Error(`${where} (${path}): its consumer is not a class extending WebsocketConsumer`);
      }
      const shape = patternShape(path);
      if (shapes.has(shape)) {
        throw new Error(
          `${where}: ${path} matches the same paths as ${shapes.get(shape)} (they differ only in parameter names)`,
        );
      }
      shapes.set(shape, path);
      out.push({ path, consumer: r.consumer });
    });
    return out;
  }
  const found = Object.values(module).filter(isConsumerClass);
  const unique = [...new Set(found)];
  if (unique.length !== 1) {
    const names = unique.map((c) => c.name).join(", ") || "none";
    throw new Error(
      `${shown}: without a routing.js, it must export exactly one consumer class (it exports ${names}); ` +
        "add a routing.js exporting routes to serve several",
    );
  }
  return [{ path: null, consumer: unique[0] }];
}

/** The plugin's connections and their consumers: what the handler and
 * event-handler exports call. */
export class Runtime {
  constructor(routes) {
    this.routes = new Map(routes.map((r) => [r.path, r.consumer]));
    this.fallback = routes.length === 1 && routes[0].path === null ? routes[0].consumer : null;
    this.links = new Map(); // conn -> link
    this.byChannel = new Map(); // channelName -> link
    this.layer = new ChannelLayer(this);
  }

  /** Returns {subprotocol, headers} or throws {status, body}; a promise
   * of that when the consumer's `connect` is async. */
  onConnect(conn, wscope) {
    const Consumer = this.routes.get(wscope.route) ?? this.fallback;
    if (!Consumer) {
      throw { status: 404, body: `no consumer is routed on ${wscope.route} by this plugin's routing.js\n` };
    }
    const link = {
      runtime: this,
      conn,
      state: CONNECTING,
      subprotocol: undefined,
      headers: [],
      scope: buildScope(wscope),
      channelName: undefined,
      consumer: null,
    };
    let result;
    try {
      link.channelName = host.address(conn);
      constructing = link;
      link.consumer = new Consumer();
      constructing = null;
      this.links.set(conn, link);
      this.byChannel.set(link.channelName, link);
      for (const g of link.consumer.groups ?? []) this.layer.groupAdd(g, link.channelName);
      result = link.consumer.connect();
    } catch (e) {
      constructing = null;
      throw this.connectFailed(link, Consumer, e);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        () => this.connected(link),
        (e) => {
          throw this.connectFailed(link, Consumer, e);
        },
      );
    }
    return this.connected(link);
  }

  connected(link) {
    if (link.state === ACCEPTED) {
      link.state = OPEN;
      return { subprotocol: link.subprotocol, headers: link.headers };
    }
    if (link.state === CLOSED) return { subprotocol: link.subprotocol, headers: link.headers };
    // Not accepted, or closed before accepting: refused as Channels' servers do.
    this.forget(link);
    throw { status: 403, body: "" };
  }

  /** The refusal for an error thrown by `connect` (or the consumer's constructor). */
  connectFailed(link, Consumer, e) {
    link.state = REFUSED;
    this.forget(link);
    if (e instanceof DenyConnection) {
      const status = Number.isInteger(e.status) && e.status >= 400 && e.status <= 599 ? e.status : 403;
      return { status, body: String(e.body ?? "") };
    }
    this.reportFailure(`${link.consumer ? nameOf(link.consumer) : Consumer.name}.connect`, e, "refusing the connection with 500");
    return { status: 500, body: "" };
  }

  onMessage(conn, data) {
    const link = this.links.get(conn);
    if (!link) return;
    this.call(link, "receive", () => link.consumer.receive(data));
  }

  /** An event (JSON text, or bytes holding it) for the connection's consumer. */
  onEvent(conn, payload) {
    const link = this.links.get(conn);
    if (!link) return;
    let event;
    try {
      const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
      event = JSON.parse(text);
    } catch (e) {
      host.log("warn", `${nameOf(link.consumer)}: an event that is not JSON was dropped (${e.message})`);
      return;
    }
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      host.log("warn", `${nameOf(link.consumer)}: an event without a "type" was dropped`);
      return;
    }
    this.call(link, `event ${describe(event.type)}`, () => {
      const names = handlerNames(event.type);
      const name = names.find((n) => !RESERVED.has(n) && typeof link.consumer[n] === "function");
      if (!name) {
        throw new Error(`no handler for event type ${event.type} (tried ${names.map((n) => `${n}()`).join(", ")})`);
      }
      return link.consumer[name](event);
    });
  }

  onGap(conn, group, lost) {
    const link = this.links.get(conn);
    if (!link) return;
    if (typeof link.consumer.wasmsockGap !== "function") {
      host.log("warn", `${nameOf(link.consumer)}: ${lost} event(s) of group ${describe(group)} were lost on the way`);
      return;
    }
    this.call(link, "wasmsockGap", () =>
      link.consumer.wasmsockGap({ type: "wasmsock.gap", group, lost: Number(lost) }),
    );
  }

  onDisconnect(conn, code, reason) {
    const link = this.links.get(conn);
    if (!link) return;
    link.state = CLOSED;
    try {
      // The server has already taken the connection out of its groups.
      const result = link.consumer.disconnect(code, reason);
      if (isThenable(result)) result.then(undefined, (e) => this.reportFailure(`${nameOf(link.consumer)}.disconnect`, e, "the connection was already closed"));
    } catch (e) {
      this.reportFailure(`${nameOf(link.consumer)}.disconnect`, e, "the connection was already closed");
    } finally {
      this.forget(link);
    }
  }

  /** Run a consumer's method on an open connection; a failure closes that
   * connection with 1011 (and the consumer hears nothing more). */
  call(link, what, fn) {
    const failed = (e) => {
      this.reportFailure(`${nameOf(link.consumer)} handling ${what}`, e, "closing the connection with 1011");
      if (link.state === OPEN || link.state === ACCEPTED) {
        try {
          host.close(link.conn, 1011, "consumer error");
        } catch {
          // gone already
        }
      }
      link.state = CLOSED;
      this.forget(link);
    };
    try {
      const result = fn();
      if (isThenable(result)) result.then(undefined, failed);
    } catch (e) {
      failed(e);
    }
  }

  forget(link) {
    if (this.links.get(link.conn) === link) this.links.delete(link.conn);
    if (link.channelName !== undefined && this.byChannel.get(link.channelName) === link) {
      this.byChannel.delete(link.channelName);
    }
  }

  /** One ERROR line naming what failed and what happens next, then the
   * stack on stderr. */
  reportFailure(what, error, then) {
    const summary = error instanceof Error ? `${error.name}: ${error.message}` : `the value ${describe(error)}`;
    host.log("error", `${what} threw ${summary}; ${then}`);
    if (error instanceof Error && error.stack) console.error(`${error.name}: ${error.message}\n${error.stack.trimEnd()}`);
  }
}

function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}
