// Unit tests of the SDK's runtime with a stand-in host (node --test
// sdk/js/tests): routes and what is refused, connect's answers, dispatch
// by event type, host errors as thrown errors. The real server runs the
// same code in tests/js_sdk.rs.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  DenyConnection,
  HostError,
  JsonWebsocketConsumer,
  Runtime,
  WebsocketConsumer,
  handlerNames,
  patternProblem,
  route,
  routesOf,
  setHost,
} from "../index.js";

// A stand-in host recording what the runtime asks of it.
function standIn() {
  const calls = [];
  const record = (name, ret) => (...args) => {
    calls.push([name, ...args]);
    return typeof ret === "function" ? ret(...args) : ret;
  };
  setHost({
    send: record("send"),
    close: record("close"),
    join: record("join", (conn, group) => {
      if (!/^[A-Za-z0-9._:-]{1,100}$/.test(group)) throw { kind: "invalid-name" };
    }),
    leave: record("leave"),
    address: (conn) => `h.${conn}`,
    groupSend: record("groupSend", 1),
    sendEvent: record("sendEvent", true),
    log: record("log"),
  });
  return calls;
}

function scope(route, params = []) {
  return {
    path: "/x",
    query: "name=al%20ice",
    route,
    params,
    headers: [["host", "example.com:8080"]],
    cookies: [["a", "1"]],
    subprotocols: [],
    remoteAddr: "[::1]:4000",
  };
}

test("patterns the server cannot route are refused with the reason", () => {
  assert.equal(patternProblem("/chat/{room}"), null);
  assert.equal(patternProblem("/"), null);
  assert.match(patternProblem("chat"), /must start with '\/'/);
  assert.match(patternProblem("/room-{n}"), /whole segment/);
  assert.match(patternProblem("/files/*"), /wildcards/);
  assert.match(patternProblem("/a//b"), /empty segment/);
  assert.match(patternProblem("/{a}/{a}"), /appears twice/);
  assert.match(patternProblem("/{a b}"), /characters/);
  assert.equal(route("/chat/:room", WebsocketConsumer).path, "/chat/{room}");
});

test("routesOf reads routing.js and consumers.js, or says what to change", () => {
  class A extends WebsocketConsumer {}
  class B extends WebsocketConsumer {}
  assert.deepEqual(routesOf("routing", { routes: [route("/a/:x", A)] }, "routing.js"), [{ path: "/a/{x}", consumer: A }]);
  assert.throws(() => routesOf("routing", {}, "routing.js"), /must export `routes`/);
  assert.throws(() => routesOf("routing", { routes: [route("/x-{n}", A)] }, "routing.js"), /cannot be routed/);
  assert.throws(() => routesOf("routing", { routes: [route("/x", class {})] }, "routing.js"), /not a class extending/);
  assert.throws(
    () => routesOf("routing", { routes: [route("/a/{x}", A), route("/a/{y}", B)] }, "routing.js"),
    /matches the same paths as \/a\/\{x\}/,
  );
  assert.deepEqual(routesOf("consumers", { A }, "consumers.js"), [{ path: null, consumer: A }]);
  assert.throws(() => routesOf("consumers", { A, B }, "consumers.js"), /exactly one consumer class \(it exports A, B\)/);
});

test("handler names: camelCase, then snake_case", () => {
  assert.deepEqual(handlerNames("chat.message"), ["chatMessage", "chat_message"]);
  assert.deepEqual(handlerNames("hello"), ["hello"]);
});

test("connect: accepted, refused (403, DenyConnection), failed (500)", () => {
  const calls = standIn();
  class C extends WebsocketConsumer {
    connect() {
      const how = this.scope.params.how;
      if (how === "accept") this.accept("p");
      if (how === "close") this.close();
      if (how === "deny") throw new DenyConnection(401, "no");
      if (how === "throw") throw new Error("boom");
    }
  }
  const rt = new Runtime([{ path: "/c/{how}", consumer: C }]);
  assert.deepEqual(rt.onConnect(1n, scope("/c/{how}", [["how", "accept"]])), { subprotocol: "p", headers: [] });
  assert.throws(() => rt.onConnect(2n, scope("/c/{how}", [["how", "none"]])), (e) => e.status === 403);
  assert.throws(() => rt.onConnect(3n, scope("/c/{how}", [["how", "close"]])), (e) => e.status === 403);
  assert.throws(() => rt.onConnect(4n, scope("/c/{how}", [["how", "deny"]])), (e) => e.status === 401 && e.body === "no");
  assert.throws(() => rt.onConnect(5n, scope("/c/{how}", [["how", "throw"]])), (e) => e.status === 500);
  assert.ok(calls.some(([n, level, text]) => n === "log" && level === "error" && text.includes("C.connect threw Error: boom")));
  assert.deepEqual([...rt.links.keys()], [1n], "only the accepted connection is kept");
});

test("the scope", () => {
  standIn();
  let seen;
  class C extends WebsocketConsumer {
    connect() {
      seen = this.scope;
      this.accept();
    }
  }
  const rt = new Runtime([{ path: "/r/{room}", consumer: C }]);
  rt.onConnect(1n, scope("/r/{room}", [["room", "caf%C3%A9"]]));
  assert.deepEqual(seen.params, { room: "café" });
  assert.equal(seen.query.get("name"), "al ice");
  assert.deepEqual(seen.client, ["::1", 4000]);
  assert.deepEqual(seen.server, ["example.com", 8080]);
  assert.deepEqual(seen.cookies, { a: "1" });
});

test("events go to the method their type names; an unknown type closes with 1011", () => {
  const calls = standIn();
  const got = [];
  class C extends WebsocketConsumer {
    chatMessage(e) {
      got.push(["camel", e.text]);
    }
    private_note(e) {
      got.push(["snake", e.text]);
    }
  }
  const rt = new Runtime([{ path: null, consumer: C }]);
  rt.onConnect(1n, scope("/x"));
  rt.onEvent(1n, JSON.stringify({ type: "chat.message", text: "a" }));
  rt.onEvent(1n, new TextEncoder().encode(JSON.stringify({ type: "private.note", text: "b" })));
  assert.deepEqual(got, [["camel", "a"], ["snake", "b"]]);
  rt.onEvent(1n, JSON.stringify({ type: "send" }));
  assert.ok(calls.some(([n, conn, code]) => n === "close" && conn === 1n && code === 1011), "send is not a handler");
  assert.equal(rt.links.size, 0, "a failed consumer is dropped");
});

test("host errors become HostErrors with a clear message", () => {
  standIn();
  let error;
  class C extends WebsocketConsumer {
    connect() {
      this.accept();
      try {
        this.channelLayer.groupAdd("bad name", this.channelName);
      } catch (e) {
        error = e;
      }
    }
  }
  const rt = new Runtime([{ path: null, consumer: C }]);
  rt.onConnect(1n, scope("/x"));
  assert.ok(error instanceof HostError);
  assert.equal(error.kind, "invalid-name");
  assert.match(error.message, /"bad name" is not a valid group name/);
});

test("JSON consumers parse text and refuse binary", () => {
  const calls = standIn();
  class J extends JsonWebsocketConsumer {
    receiveJson(content) {
      this.sendJson({ got: content });
    }
  }
  const rt = new Runtime([{ path: null, consumer: J }]);
  rt.onConnect(1n, scope("/x"));
  rt.onMessage(1n, '{"a": 1}');
  assert.deepEqual(calls.find(([n]) => n === "send"), ["send", 1n, '{"got":{"a":1}}']);
  rt.onMessage(1n, new Uint8Array([1]));
  assert.ok(calls.some(([n, , code]) => n === "close" && code === 1011));
});

test("a consumer is not constructed by hand", () => {
  assert.throws(() => new WebsocketConsumer(), /created by wasmsock for each connection/);
});

test("groups are joined before connect, from a class field or a getter", () => {
  const calls = standIn();
  class Field extends WebsocketConsumer {
    groups = ["lobby"];
  }
  class Getter extends WebsocketConsumer {
    get groups() {
      return ["attic"];
    }
  }
  new Runtime([{ path: null, consumer: Field }]).onConnect(1n, scope("/x"));
  new Runtime([{ path: null, consumer: Getter }]).onConnect(2n, scope("/x"));
  assert.deepEqual(
    calls.filter(([n]) => n === "join"),
    [["join", 1n, "lobby"], ["join", 2n, "attic"]],
  );
});
