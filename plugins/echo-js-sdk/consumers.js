// echo-js-sdk: a wasmsock consumer on the JavaScript SDK. It accepts every
// connection, sends every message back unchanged (text stays text, binary
// stays binary) and logs each disconnect with its close code: console.log
// reaches the server's log. Change it to make it yours.
import { WebsocketConsumer } from "wasmsock";

export class EchoConsumer extends WebsocketConsumer {
  connect() {
    // Not accepting, or this.close() here, refuses the handshake (403).
    this.accept();
    console.log(`connect ${this.scope.path} from ${this.scope.client[0]}`);
  }

  // data: a string for a text message, a Uint8Array for a binary one.
  receive(data) {
    this.send(data);
  }

  disconnect(code) {
    console.log(`disconnect: code ${code}`);
  }
}
