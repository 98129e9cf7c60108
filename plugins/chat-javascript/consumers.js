// chat-javascript: chat rooms on the JavaScript SDK, in the shape of the
// Django Channels tutorial's room. Served on /chat-js/{room} (routing.js):
// each connection joins its room's group under a name (query `name=NAME`,
// or `guest-N`), the room hears it join and leave, and each text message
// goes to everyone in the room, the sender included, as
//
//   {"type": "message", "name": "alice", "text": "hi"}
//
// `/who` answers the sender alone with the room's count and names:
// {"type": "who", "count": 2, "names": ["alice", "bob"]}. The messages are
// those of the Rust chat (plugins/chat); rooms are per plugin, so this
// plugin's rooms are its own.
import { WebsocketConsumer } from "wasmsock";

// Longest name kept, in characters.
const MAX_NAME = 32;
// Names by channelName, for /who: every connection of this plugin instance.
const names = new Map();
let guests = 0;

export class ChatConsumer extends WebsocketConsumer {
  connect() {
    this.room = this.scope.params.room;
    this.group = `room:${this.room}`;
    const asked = (this.scope.query.get("name") ?? "").trim();
    this.name = asked ? [...asked].slice(0, MAX_NAME).join("") : `guest-${++guests}`;
    this.channelLayer.groupAdd(this.group, this.channelName);
    names.set(this.channelName, this.name);
    this.accept();
    const count = this.channelLayer.groupCount(this.group);
    this.channelLayer.groupSend(this.group, { type: "chat.join", name: this.name, count });
  }

  receive(data) {
    if (typeof data !== "string") return; // binary messages are not chat
    if (data.trim() === "/who") {
      const members = this.channelLayer.groupMembers(this.group);
      this.sendJson({ type: "who", count: members.length, names: members.map((m) => names.get(m) ?? m) });
      return;
    }
    this.channelLayer.groupSend(this.group, { type: "chat.message", name: this.name, text: data });
  }

  disconnect() {
    names.delete(this.channelName);
    // The server has already taken the connection out of its groups.
    const count = this.channelLayer.groupCount(this.group);
    this.channelLayer.groupSend(this.group, { type: "chat.leave", name: this.name, count });
  }

  // Events from groupSend, by type: "chat.message" calls chatMessage.
  chatMessage(event) {
    this.sendJson({ type: "message", name: event.name, text: event.text });
  }

  chatJoin(event) {
    this.sendJson({ type: "join", name: event.name, count: event.count });
  }

  chatLeave(event) {
    this.sendJson({ type: "leave", name: event.name, count: event.count });
  }
}
