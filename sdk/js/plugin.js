// The WIT side of a plugin built on the SDK: the host's imports handed to
// the runtime (index.js's setHost), and the `handler` and `event-handler`
// exports (world `channel-consumer`) built from the plugin's routes. Only
// the entry module the build writes imports this file.

import { send, close } from "wasmsock:plugin/connection@0.1.0";
import { log } from "wasmsock:plugin/log@0.1.0";
import { get, getAll } from "wasmsock:plugin/config@0.1.0";
import { join, leave, broadcast, count, members, address } from "wasmsock:plugin/groups@0.1.0";
import { groupSend, send as sendEvent, sendMessage } from "wasmsock:plugin/channel@0.1.0";

import { Runtime, routesOf, setHost } from "./index.js";

// A WIT error arrives as a thrown value whose `payload` is the variant,
// {tag, val}; the runtime wants {kind, limit}.
function unwrap(call) {
  try {
    return call();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload.tag === "string") {
      throw { kind: payload.tag, limit: payload.val === undefined ? undefined : Number(payload.val) };
    }
    throw e;
  }
}

function message(data) {
  return typeof data === "string" ? { tag: "text", val: data } : { tag: "binary", val: data };
}

setHost({
  send: (conn, data) => unwrap(() => send(conn, message(data))),
  close: (conn, code, reason) => unwrap(() => close(conn, code, reason)),
  join: (conn, group) => unwrap(() => join(conn, String(group))),
  leave: (conn, group) => unwrap(() => leave(conn, String(group))),
  address: (conn) => unwrap(() => address(conn)),
  count: (group) => unwrap(() => count(String(group))),
  members: (group) => unwrap(() => members(String(group))),
  broadcast: (group, data, exclude) => unwrap(() => broadcast(String(group), message(data), exclude)),
  groupSend: (group, text) => unwrap(() => groupSend(String(group), message(text), undefined)),
  sendEvent: (addr, text) => unwrap(() => sendEvent(String(addr), message(text))),
  sendMessage: (addr, data) => unwrap(() => sendMessage(String(addr), message(data))),
  log: (level, text) => log(level, text),
  config: (key) => get(key),
  configAll: () => getAll(),
});

function reject(e) {
  if (e && typeof e.status === "number") return { status: e.status, headers: [], body: e.body ?? "" };
  return { status: 500, headers: [], body: "" };
}

/** The exports for a plugin module: `kind` is "routing" (routing.js) or
 * "consumers" (consumers.js, one consumer class). */
export function start(kind, module, shown) {
  const runtime = new Runtime(routesOf(kind, module, shown));
  // A failure of the SDK itself is logged and answered; it never traps the
  // instance (which would close every connection it serves).
  const guard = (what, fn) => {
    try {
      return fn();
    } catch (e) {
      runtime.reportFailure(`the wasmsock SDK, in ${what},`, e, "going on");
      return undefined;
    }
  };
  const accept = (a) => ({ subprotocol: a.subprotocol, headers: a.headers });
  const handler = {
    onConnect(conn, scope) {
      let answer;
      try {
        answer = runtime.onConnect(conn, scope);
      } catch (e) {
        if (!(e && typeof e.status === "number")) runtime.reportFailure("the wasmsock SDK, in on-connect,", e, "refusing with 500");
        throw reject(e);
      }
      if (answer && typeof answer.then === "function") {
        return answer.then(accept, (e) => {
          throw reject(e);
        });
      }
      return accept(answer);
    },
    onMessage(conn, msg) {
      guard("on-message", () => runtime.onMessage(conn, msg.val));
    },
    onDisconnect(conn, info) {
      guard("on-disconnect", () => runtime.onDisconnect(conn, info.code, info.reason));
    },
  };
  const eventHandler = {
    onEvent(conn, group, event) {
      guard("on-event", () => runtime.onEvent(conn, event.val));
    },
    onGap(conn, group, lost) {
      guard("on-gap", () => runtime.onGap(conn, group, lost));
    },
  };
  return { handler, eventHandler };
}
