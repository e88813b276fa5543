#!/usr/bin/env node
'use strict';
/*
 * Broadcasts one event to a whole namespace through Redis with Node's Redis emitter
 * (@socket.io/redis-emitter 5.1.0 on the redis 4.7.1 client), as a worker process that runs
 * no Socket.IO server would:
 *
 *   node interop/clients/emit.js REDIS_URL NAMESPACE EVENT [ARG...]
 *
 * Exit status 0 once Redis has taken the message; 2 on an error (message on stderr). The
 * connection is bounded by a 10 s timeout.
 */
const { createClient } = require('redis');
const { Emitter } = require('@socket.io/redis-emitter');

async function main() {
  const [url, nsp, event, ...args] = process.argv.slice(2);
  if (!url || !nsp || !event) {
    throw new Error('usage: emit.js REDIS_URL NAMESPACE EVENT [ARG...]');
  }
  const client = createClient({ url, socket: { connectTimeout: 10000, reconnectStrategy: false } });
  client.on('error', () => {}); // reported by the commands that fail
  await client.connect();
  try {
    new Emitter(client).of(nsp).emit(event, ...args);
  } finally {
    await client.quit(); // after the PUBLISH above, which it waits for
  }
}

main().catch((err) => {
  process.stderr.write(`emit.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
