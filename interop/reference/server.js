#!/usr/bin/env node
'use strict';
/*
 * Reference server: the ORIGINAL Node implementation of the fixture described in the
 * "Fixture" section of the wire contract (docs), built from socket.io 4.8.4 and
 * socketio-jwt 4.6.2 (or @thream/socketio-jwt 3.1.4 with --impl thream). It records what the
 * original produces and serves as a benchmark peer for the Go fixture (interop/fixture).
 *
 *   node interop/reference/server.js [flags]
 *     -addr string          listen address (default 127.0.0.1:9000; port 0 picks a free port)
 *     -mode string          handshake | connect | namespaces (default handshake)
 *     -timeout duration     authenticate-event timeout in connect mode (default 1s), Go syntax
 *     -auth-header-required only accept a bearer token from the Authorization header
 *     -secret-func          pick the key per token from claim id: 123 -> "aaafoo super sercret",
 *                           555 -> "other"
 *     -eio3                 accept socket.io-client 1.x/2.x (default true; -eio3=false to refuse)
 *   Flags of this server only:
 *     -impl string          socketio-jwt (default) | thream (@thream/socketio-jwt, handshake mode only)
 *     -callback string      socketio-jwt `callback` option in connect mode: unset (default: wait for
 *                           the client's ack forever), "false", or a number of milliseconds
 *     -no-shim              run socketio-jwt's post-connect flow without the shim below (crashes)
 *   Flags may be written -flag, --flag, -flag=value or -flag value, as Go's flag package accepts.
 *   When ready it prints one line to stdout: "listening on http://HOST:PORT".
 *   POST /login (JSON or form body, field `username`) returns {"token": "<jwt>"}: HS256 with the
 *   secret "aaafoo super sercret", claims {first_name, last_name, email, id: 123} plus sub (the
 *   username when given), iat and exp = now + 5 h. With -secret-func the id is 123 for the
 *   username "valid_signature", else 555, still signed with the 123 secret. Tokens are signed
 *   with jsonwebtoken 8.5.1, the version socketio-jwt 4.6.2 verifies with.
 *
 * What works and what does not with socketio-jwt 4.6.2 on socket.io 4.8.4 (measured):
 *   - Handshake mode (`io.use(authorize({handshake: true}))`) works unchanged: socket.io 4 passes
 *     the UnauthorizedError given to next() as CONNECT_ERROR {message, data} to EIO4 clients and
 *     as an ERROR packet carrying err.data to EIO3 clients. The token is read from the query
 *     (`socket.handshake.query.token`) or an `Authorization: Bearer` header; the v4 `auth`
 *     payload is never read, so `io(url, {auth: {token}})` is rejected with credentials_required.
 *   - Post-connect mode (`nsp.on('connection', authorize({handshake: false}))`) crashes the
 *     process on the first connection: socket.io 4's Server has no `$emit`, so socketio-jwt
 *     takes its socket.io 1.0 branch and reads `Namespace.events.indexOf`, which is undefined
 *     ("TypeError: Cannot read properties of undefined (reading 'indexOf')", uncaught).
 *     The ONE shim used here: `io.$emit = (event, socket) => socket.nsp.emitReserved(event,
 *     socket)`. socketio-jwt then takes its socket.io 2 branch and fires its `authenticated`
 *     event on the socket's own namespace (without the shim, had it not crashed, it would call
 *     `server.sockets.emit('authenticated', socket)`, which in socket.io 4 broadcasts a Socket
 *     object to every client of "/" instead of notifying the server). Nothing else is changed.
 *   - Post-connect failures: socketio-jwt emits `unauthorized` with its UnauthorizedError and an
 *     ack callback, and disconnects when the client calls the ack. The payload is always
 *     {"message": m, "inner": {"message": m}, "data": {"message": m, "code": c, "type":
 *     "UnauthorizedError"}} with m a string: jsonwebtoken 8's errors are not real Error objects
 *     for Object.prototype.toString, so socketio-jwt takes their message. With no `callback`
 *     option a client that never acks stays connected forever.
 *   - Timeout without `authenticate`: `socket.disconnect('unauthorized')` (a truthy argument
 *     closes the whole connection); the client sees "io server disconnect".
 *   - With -secret-func, a token whose id has no key makes socketio-jwt call back with no error
 *     and no key: handshake mode rejects with jsonwebtoken's "secret or public key must be
 *     provided"; post-connect mode never answers at all.
 *   - The application's own handlers: the socket.io 1.x fixture registered `echo` on the
 *     namespace (`sio.sockets.on('echo')`), which never fires in socket.io 2+; here `echo` is
 *     registered per socket, as the contract says.
 *   - @thream/socketio-jwt 3.1.4 (handshake only) reads only `auth.token` and requires the
 *     value "Bearer <jwt>"; any verification failure gives code invalid_token with the fixed
 *     message "Unauthorized: Token is missing or invalid Bearer". -auth-header-required and the
 *     query/header sources do not exist there and are ignored.
 */

const http = require('http');
const querystring = require('querystring');
const { Server } = require('socket.io');
const socketioJwt = require('socketio-jwt');
const jwt = require('jsonwebtoken8');

const SECRET = 'aaafoo super sercret';
const SECRETS = { 123: SECRET, 555: 'other' };

function fail(msg) {
  process.stderr.write(`server.js: ${msg}\n`);
  process.exit(2);
}

// parseDuration accepts Go duration strings ("1s", "500ms", "1m30s", "1.5s", "0") and returns ms.
function parseDuration(s) {
  if (s === '0') return 0;
  const units = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * units[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== s.length) fail(`invalid duration ${JSON.stringify(s)}`);
  return total;
}

function parseFlags(argv) {
  const bools = new Set(['auth-header-required', 'secret-func', 'eio3', 'no-shim']);
  const strings = new Set(['addr', 'mode', 'timeout', 'impl', 'callback']);
  const flags = {
    addr: '127.0.0.1:9000',
    mode: 'handshake',
    timeout: '1s',
    impl: 'socketio-jwt',
    callback: '',
    'auth-header-required': false,
    'secret-func': false,
    eio3: true,
    'no-shim': false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-' || arg === '--') fail(`unexpected argument ${arg}`);
    let name = arg.replace(/^--?/, '');
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (bools.has(name)) {
      if (value === undefined) flags[name] = true;
      else if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) flags[name] = true;
      else if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) flags[name] = false;
      else fail(`invalid boolean value ${JSON.stringify(value)} for -${name}`);
    } else if (strings.has(name)) {
      if (value === undefined) {
        if (i + 1 >= argv.length) fail(`flag needs an argument: -${name}`);
        value = argv[++i];
      }
      flags[name] = value;
    } else {
      fail(`flag provided but not defined: -${name}`);
    }
  }
  if (!['handshake', 'connect', 'namespaces'].includes(flags.mode)) fail(`unknown -mode ${flags.mode}`);
  if (!['socketio-jwt', 'thream'].includes(flags.impl)) fail(`unknown -impl ${flags.impl}`);
  if (flags.impl === 'thream' && flags.mode !== 'handshake') fail('-impl thream supports -mode handshake only');
  flags.timeoutMs = parseDuration(flags.timeout);
  return flags;
}

const flags = parseFlags(process.argv.slice(2));

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function login(req, res) {
  let username;
  try {
    const body = await readBody(req);
    const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    if (type === 'application/json') {
      const parsed = body ? JSON.parse(body) : {};
      username = parsed && typeof parsed.username === 'string' ? parsed.username : undefined;
    } else {
      const parsed = querystring.parse(body);
      username = typeof parsed.username === 'string' ? parsed.username : undefined;
    }
  } catch (e) {
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad request' }));
    return;
  }
  const profile = {
    first_name: 'John',
    last_name: 'Doe',
    email: 'john@doe.com',
    id: flags['secret-func'] ? (username === 'valid_signature' ? 123 : 555) : 123,
  };
  if (username) profile.sub = username;
  const token = jwt.sign(profile, SECRET, { expiresIn: 60 * 60 * 5 });
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ token }));
}

const httpServer = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.split('?')[0] === '/login') {
    login(req, res);
    return;
  }
  if (!req.url.startsWith('/socket.io/')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

const io = new Server(httpServer, { allowEIO3: flags.eio3 });

if (!flags['no-shim']) {
  // The one shim (see the comment at the top): lets socketio-jwt's post-connect flow fire its
  // `authenticated` event on the socket's namespace, as it does on socket.io 2.
  io.$emit = (event, socket) => socket.nsp.emitReserved(event, socket);
}

function socketioJwtOptions(handshake) {
  const options = { timeout: flags.timeoutMs, handshake };
  if (flags['secret-func']) {
    options.secret = (request, decodedToken, callback) => {
      callback(null, SECRETS[decodedToken.id]);
    };
  } else {
    options.secret = SECRET;
  }
  if (flags['auth-header-required']) options.auth_header_required = true;
  if (flags.callback === 'false') options.callback = false;
  else if (flags.callback !== '') {
    const n = Number(flags.callback);
    if (!Number.isFinite(n)) fail(`invalid -callback ${flags.callback}`);
    options.callback = n;
  }
  return options;
}

function onEcho(socket) {
  socket.on('echo', (m) => socket.emit('echo-response', m));
}

// protectHandshake installs the handshake middleware on nsp and calls then(socket) on connection.
async function protectHandshake(nsp, then) {
  if (flags.impl === 'thream') {
    const { authorize } = await import('@thream/socketio-jwt');
    const secret = flags['secret-func']
      ? async (decoded) => SECRETS[decoded && decoded.payload && decoded.payload.id]
      : SECRET;
    nsp.use(authorize({ secret }));
  } else {
    nsp.use(socketioJwt.authorize(socketioJwtOptions(true)));
  }
  nsp.on('connection', then);
}

// protectConnect installs the post-connect flow on nsp and calls then(socket) once authenticated.
function protectConnect(nsp, then) {
  nsp.on('connection', socketioJwt.authorize(socketioJwtOptions(false)));
  nsp.on('authenticated', then);
}

async function setup() {
  const root = io.of('/');
  switch (flags.mode) {
    case 'handshake':
      await protectHandshake(root, onEcho);
      break;
    case 'connect':
      protectConnect(root, (socket) => {
        onEcho(socket);
        socket.on('shout', (m) => root.emit('shout', m));
      });
      break;
    case 'namespaces':
      root.on('connection', (socket) => socket.emit('hi'));
      protectConnect(io.of('/admin'), (socket) => socket.emit('hi admin'));
      await protectHandshake(io.of('/admin_hs'), (socket) => socket.emit('hi admin'));
      break;
  }
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(':');
  if (i < 0) fail(`invalid -addr ${addr}`);
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(addr.slice(i + 1) || '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port in -addr ${addr}`);
  return { host, port };
}

function shutdown() {
  io.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

setup().then(() => {
  const { host, port } = splitAddr(flags.addr);
  httpServer.on('error', (e) => fail(`listen: ${e.message}`));
  httpServer.listen(port, host || undefined, () => {
    const a = httpServer.address();
    const shown = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1'
      : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    process.stdout.write(`listening on http://${shown}:${a.port}\n`);
  });
}, (e) => fail(e.stack || String(e)));
