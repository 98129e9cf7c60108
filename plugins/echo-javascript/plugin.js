// echo-javascript: a wasmsock plugin. It accepts every connection, sends every
// message back unchanged (text stays text, binary stays binary) and logs
// each disconnect with its close code. Change the three callbacks below.
import { send } from "wasmsock:plugin/connection@0.1.0";
import { log } from "wasmsock:plugin/log@0.1.0";

export const handler = {
  // Runs before the HTTP upgrade; throw { status, headers, body } to refuse.
  onConnect(conn, scope) {
    return { subprotocol: undefined, headers: [] };
  },

  onMessage(conn, message) {
    try {
      send(conn, message);
    } catch (e) {
      log("warn", `echo to ${conn} failed: ${JSON.stringify(e.payload ?? e)}`);
    }
  },

  onDisconnect(conn, info) {
    log("info", `disconnect ${conn}: code ${info.code} reason ${JSON.stringify(info.reason)}`);
  },
};
