#!/usr/bin/env node
'use strict';
/*
 * Benchmark baseline on the Node side: socket.io 4.8.4 with no authentication.
 *
 *   node bench/node/baresrv.js [-addr 127.0.0.1:0]
 *
 * Event "echo" (payload m) makes the server emit "echo-response" m. POST /login returns
 * {"token": "<jwt>"} signed like the fixture's (HS256, "aaafoo super sercret", 5 h), so the
 * load generator can treat every peer alike. When ready it prints one line to stdout:
 * "listening on http://HOST:PORT". SIGINT or SIGTERM stops it.
 */

const http = require('http');
const { Server } = require('socket.io');
const jwt = require('jsonwebtoken');

const SECRET = 'aaafoo super sercret';

function fail(msg) {
  process.stderr.write(`baresrv.js: ${msg}\n`);
  process.exit(2);
}

let addr = '127.0.0.1:0';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i].replace(/^--?/, '');
  if (a === 'addr') {
    if (i + 1 >= argv.length) fail('flag needs an argument: -addr');
    addr = argv[++i];
  } else if (a.startsWith('addr=')) {
    addr = a.slice(5);
  } else {
    fail(`flag provided but not defined: ${argv[i]}`);
  }
}
const colon = addr.lastIndexOf(':');
if (colon < 0) fail(`invalid -addr ${addr}`);
const host = addr.slice(0, colon) || '127.0.0.1';
const port = Number(addr.slice(colon + 1) || '0');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port in -addr ${addr}`);

const httpServer = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.split('?')[0] === '/login') {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let username;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (body && typeof body.username === 'string') username = body.username;
      } catch (e) {
        // A form body or no body: no username.
      }
      const claims = { first_name: 'John', last_name: 'Doe', email: 'john@doe.com', id: 123 };
      if (username) claims.sub = username;
      const token = jwt.sign(claims, SECRET, { expiresIn: 60 * 60 * 5 });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token }));
    });
    return;
  }
  if (!req.url.startsWith('/socket.io/')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

const io = new Server(httpServer);
io.on('connection', (socket) => {
  socket.on('echo', (m) => socket.emit('echo-response', m));
});

function shutdown() {
  io.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

httpServer.on('error', (e) => fail(`listen: ${e.message}`));
httpServer.listen(port, host, () => {
  process.stdout.write(`listening on http://${host}:${httpServer.address().port}\n`);
});
