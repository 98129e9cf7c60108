// The JavaScript SDK's test consumers (tests/js_sdk.rs): refusals, the
// scope, close codes both ways, JSON, async methods, and the channel layer
// (groups, events dispatched by type, sends to one channelName, errors).
import { WebsocketConsumer, JsonWebsocketConsumer, DenyConnection, HostError } from "wasmsock";

/** /js/refuse/{how}: refuses in connect, in each way there is. */
export class Refuser extends WebsocketConsumer {
  connect() {
    switch (this.scope.params.how) {
      case "accept":
        this.accept();
        break;
      case "none":
        break;
      case "close":
        this.close();
        break;
      case "deny":
        throw new DenyConnection();
      case "deny-401":
        throw new DenyConnection(401, "who are you?\n");
      case "throw":
        throw new Error("connect failed on purpose");
      default:
        this.accept();
    }
  }
}

/** /js/async/{how}: async connect and receive. */
export class AsyncConsumer extends WebsocketConsumer {
  async connect() {
    await null;
    if (this.scope.params.how === "refuse") return; // not accepted: 403
    this.accept();
  }

  async receive(data) {
    await Promise.resolve();
    this.send(`async ${data}`);
  }
}

/** /js/scope/{room}/{n}: sends its scope as JSON once connected. */
export class ScopeReport extends WebsocketConsumer {
  connect() {
    this.accept(this.scope.subprotocols.includes("chat.v2") ? "chat.v2" : undefined);
    const s = this.scope;
    this.sendJson({
      type: s.type,
      path: s.path,
      rawPath: s.rawPath,
      queryString: s.queryString,
      queryB: s.query.get("b"),
      headers: s.headers,
      route: s.route,
      params: s.params,
      cookies: s.cookies,
      client: s.client,
      server: s.server,
      subprotocols: s.subprotocols,
      channelName: this.channelName,
    });
  }
}

/** /js/close: closes when asked; logs the code it hears in disconnect. */
export class Closer extends WebsocketConsumer {
  receive(data) {
    const m = /^close (\d+) ?(.*)$/.exec(data);
    if (m) {
      this.close(Number(m[1]), m[2]);
      this.send("after close: dropped");
      return;
    }
    this.send(data);
  }

  disconnect(code) {
    console.log(`closer disconnect code=${code}`);
  }
}

/** /js/json: a JSON round trip, one consumer (and count) per connection. */
export class JsonEcho extends JsonWebsocketConsumer {
  count = 0;

  receiveJson(content) {
    this.count += 1;
    this.sendJson({ got: content, count: this.count });
  }
}

/** /js/room/{room}: the channel layer. */
export class Room extends WebsocketConsumer {
  connect() {
    this.group = `room.${this.scope.params.room}`;
    this.channelLayer.groupAdd(this.group, this.channelName);
    this.accept();
  }

  receive(text) {
    const [command, ...rest] = text.split(" ");
    switch (command) {
      case "say":
        this.channelLayer.groupSend(this.group, { type: "room.say", text: rest.join(" ") });
        break;
      case "whoami":
        this.send(this.channelName);
        break;
      case "tell": {
        const delivered = this.channelLayer.send(rest[0], { type: "private_note", text: rest.slice(1).join(" ") });
        if (!delivered) this.send("gone");
        break;
      }
      case "shout": {
        // To every member's socket but this one, with no consumer call.
        const queued = this.channelLayer.broadcast(this.group, `shout: ${rest.join(" ")}`, { exclude: this.channelName });
        this.send(`shouted to ${queued} of ${this.channelLayer.groupCount(this.group)}`);
        break;
      }
      case "poke":
        this.channelLayer.sendMessage(rest[0], new TextEncoder().encode(rest.slice(1).join(" ")));
        break;
      case "leave":
        this.channelLayer.groupDiscard(this.group, this.channelName);
        this.send("left");
        break;
      case "badgroup":
        try {
          this.channelLayer.groupAdd("not a group!", this.channelName);
          this.send("no error");
        } catch (e) {
          this.send(`${e instanceof HostError} ${e.kind}: ${e.message}`);
        }
        break;
      case "nohandler":
        this.channelLayer.groupSend(this.group, { type: "no.such.handler" });
        break;
      default:
        this.send(`unknown command ${command}`);
    }
  }

  // "room.say" events.
  roomSay(event) {
    this.send(`${this.scope.params.room}: ${event.text}`);
  }

  // "private_note" events (snake_case names are tried too).
  private_note(event) {
    this.send(`note: ${event.text}`);
  }
}
