// Types of wasmsock's JavaScript SDK (`import ... from "wasmsock"`).
// docs/javascript.md in the wasmsock repository is the reference.

/** A message: a string is a text message, bytes a binary one. */
export type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** A channel-layer event: an object with a string `type`, sent as JSON. */
export interface Event {
  type: string;
  [key: string]: unknown;
}

/** What a consumer knows of its connection (`this.scope`). */
export interface Scope {
  type: "websocket";
  /** The request path, percent-decoded ("/chat/café"). */
  path: string;
  /** The request path as sent ("/chat/caf%C3%A9"). */
  rawPath: string;
  /** The raw query string, without "?" ("" when none). */
  queryString: string;
  /** The query string, parsed. */
  query: URLSearchParams;
  /** Every request header as [name, value], names lower-case, in order. */
  headers: [string, string][];
  /** The route pattern that matched ("/chat/{room}"). */
  route: string;
  /** The route's parameters, percent-decoded: Channels' url_route.kwargs. */
  params: Record<string, string>;
  /** Cookies from the cookie headers. */
  cookies: Record<string, string>;
  /** The peer: [ip, port]. */
  client: [string, number | null];
  /** From the Host header: [host, port], or null without one. */
  server: [string, number] | null;
  /** The subprotocols the client offered, in order. */
  subprotocols: string[];
}

/** The host refused a call. */
export class HostError extends Error {
  /** The WIT error case: "closed", "too-large", "invalid-close",
   * "queue-full", "unknown-connection", "invalid-name",
   * "invalid-address", "too-many-groups", "no-event-handler". */
  kind: string;
  /** The limit the case carries (too-large: bytes; too-many-groups: groups). */
  limit?: number;
}

/** Throw from `connect()` to refuse the handshake (403 unless another
 * status from 400 to 599 is given, with an optional body). */
export class DenyConnection extends Error {
  constructor(status?: number, body?: string);
  status: number;
  body: string;
}

/** The channel layer: groups and events, on every server of a cluster.
 * Every call completes at once and throws a HostError when refused. */
export interface ChannelLayer {
  /** The connection at `channelName` (this plugin's; in practice
   * `this.channelName`) joins `group`. */
  groupAdd(group: string, channelName: string): void;
  /** It leaves `group`; no error if it was not in. */
  groupDiscard(group: string, channelName: string): void;
  /** Every member's consumer gets `event`, in the method its type names. */
  groupSend(group: string, event: Event): void;
  /** The consumer at `channelName` gets `event`; false when it is gone. */
  send(channelName: string, event: Event): boolean;
  /** Write `data` to every member's socket but `exclude`'s, with no
   * consumer call; how many members on this server it was queued for. */
  broadcast(group: string, data: Data, options?: { exclude?: string }): number;
  /** Write `data` to the socket at `channelName`; false when it is gone. */
  sendMessage(channelName: string, data: Data): boolean;
  /** Members of `group`, on every server. */
  groupCount(group: string): number;
  /** Members' channelNames, in the order they joined. */
  groupMembers(group: string): string[];
  /** Not supported: throws. */
  newChannel(): never;
  /** Not supported: throws. */
  receive(): never;
}

/** One connection's consumer. wasmsock creates one per connection (do not
 * construct it) and drops it when the connection ends. Events from the
 * channel layer call the method their type names: "chat.message" tries
 * `chatMessage(event)`, then `chat_message(event)`. */
export class WebsocketConsumer {
  /** The connection's scope. */
  readonly scope: Scope;
  /** The connection's address, valid on every server of a cluster. */
  readonly channelName: string;
  /** The channel layer. */
  readonly channelLayer: ChannelLayer;
  /** Groups joined before `connect()` (set it as a class field). */
  groups: string[];

  /** Before the upgrade: accept with `this.accept()`; otherwise 403. May be async. */
  connect(): void | Promise<void>;
  /** A message: a string (text) or a Uint8Array (binary). May be async. */
  receive(data: string | Uint8Array): void | Promise<void>;
  /** The connection ended with `code` (1006: the socket dropped). */
  disconnect(code: number, reason: string): void | Promise<void>;
  /** Accept (in `connect()`), with a subprotocol the client offered and
   * extra response headers. */
  accept(subprotocol?: string, headers?: [string, string][]): void;
  /** Send text (a string) or binary (bytes). Dropped after the close. */
  send(data: Data): void;
  /** Send `value` as JSON text. */
  sendJson(value: unknown): void;
  /** Close (1000, 1001, 1003, 1007-1014, 3000-4999; a reason of at most
   * 123 bytes). In `connect()` before accepting: refuse with 403. */
  close(code?: number, reason?: string): void;
  /** Events of a group lost between servers (optional). */
  wasmsockGap?(event: { type: "wasmsock.gap"; group: string; lost: number }): void;
  /** Event handlers, by name. */
  [handler: string]: unknown;
}

/** A consumer of JSON text messages. */
export class JsonWebsocketConsumer extends WebsocketConsumer {
  /** A text message, parsed (a binary one, or invalid JSON, closes the
   * connection with 1011). */
  receiveJson(content: unknown): void | Promise<void>;
}

/** A route for routing.js: `route("/chat/{room}", ChatConsumer)`; `:room`
 * is accepted for `{room}`. A parameter is one whole path segment. */
export function route(
  pattern: string,
  consumer: new () => WebsocketConsumer,
): { path: string; consumer: new () => WebsocketConsumer };

/** The server's log, tagged with the plugin's name. */
export const log: {
  debug(text: unknown): void;
  info(text: unknown): void;
  warn(text: unknown): void;
  error(text: unknown): void;
};

/** The plugin's `[config]` table from its manifest. */
export const config: {
  get(key: string): string | undefined;
  all(): Record<string, string>;
};
