// Anchor: the Node `ws` echo server (permessage-deflate off, ws's default).
// Usage: node ws_echo.js   with NODE_PATH pointing at the node_modules `ws`
// was installed into. Binds 127.0.0.1 on a free port and prints
// "listening on 127.0.0.1:PORT" first, like wasmsock.
'use strict';
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, clientTracking: false });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => {});
});
server.on('listening', () => {
  const { address, port } = server.address();
  process.stdout.write(`listening on ${address}:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
