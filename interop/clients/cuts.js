#!/usr/bin/env node
'use strict';
/*
 * Cut counter: opens a batch of socket.io-client 4.8.4 sockets, tells when they are all live,
 * waits for the server to cut them, and prints what each one saw.
 *
 *   node interop/clients/cuts.js < batch.json
 *
 * Batch (JSON object; times in milliseconds):
 *   url            string, required: server base URL
 *   transports     default ["websocket"]
 *   tokens         list, required: one socket per entry; a string is sent as the v4 handshake
 *                  auth {"token": s}, null sends no auth
 *   authenticate   list (optional, same length as tokens): after "connect", socket i emits
 *                  "authenticate" {"token": authenticate[i]} and is live on "authenticated"
 *                  (post-connect mode); without it a socket is live on "connect"
 *   refresh        string (optional): once every socket is live, each emits "authenticate"
 *                  {"token": refresh} (a refresh, which the server refuses when it is bad)
 *   deadline       whole-run bound, default 60000
 *
 * Output: the line "live <n>" once every socket is live (n = how many are; sockets that lost
 * their connection on the way count as not live), then the server is expected to cut them all;
 * then one JSON line {"sockets": [{"live": bool, "events": ["connect", "unauthorized",
 * "disconnect:io server disconnect", ...]}]} once each socket has disconnected or the deadline
 * has passed. Every "unauthorized" is acknowledged, as socketio-jwt's clients do.
 */

const { io } = require('socket.io-client');

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => { data += c; });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const batch = JSON.parse(await readStdin());
  if (typeof batch.url !== 'string' || !Array.isArray(batch.tokens)) {
    throw new Error('want {"url": "...", "tokens": [...]}');
  }
  const deadline = batch.deadline || 60000;
  const sockets = batch.tokens.map((tok, i) => {
    const rec = { live: false, events: [], done: false };
    const opts = {
      transports: batch.transports || ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    };
    if (typeof tok === 'string') opts.auth = { token: tok };
    const s = io(batch.url, opts);
    rec.socket = s;
    let onLive;
    rec.livePromise = new Promise((resolve) => { onLive = resolve; });
    s.on('connect', () => {
      rec.events.push('connect');
      if (batch.authenticate) {
        s.emit('authenticate', { token: batch.authenticate[i] });
      } else {
        rec.live = true;
        onLive();
      }
    });
    s.on('authenticated', () => {
      rec.events.push('authenticated');
      rec.live = true;
      onLive();
    });
    s.on('connect_error', (err) => {
      rec.events.push('connect_error:' + (err && err.message));
      rec.done = true;
      onLive();
    });
    s.on('unauthorized', (err, ack) => {
      rec.events.push('unauthorized:' + (err && err.data && err.data.code));
      if (typeof ack === 'function') ack();
    });
    s.on('disconnect', (reason) => {
      rec.events.push('disconnect:' + reason);
      rec.done = true;
      onLive();
    });
    return rec;
  });
  const timer = setTimeout(() => finish(), deadline);
  let finished = false;
  function finish() {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    for (const r of sockets) r.socket.close();
    const out = sockets.map((r) => ({ live: r.live, events: r.events }));
    process.stdout.write(JSON.stringify({ sockets: out }) + '\n', () => process.exit(0));
  }
  await Promise.all(sockets.map((r) => r.livePromise));
  const live = sockets.filter((r) => r.live && !r.done).length;
  process.stdout.write('live ' + live + '\n');
  if (batch.refresh) {
    for (const r of sockets) if (r.live && !r.done) r.socket.emit('authenticate', { token: batch.refresh });
  }
  const poll = setInterval(() => {
    if (sockets.every((r) => r.done)) {
      clearInterval(poll);
      finish();
    }
  }, 20);
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(2);
});
