#!/usr/bin/env node
'use strict';
/*
 * Scenario driver: runs the real npm socket.io clients (socket.io-client 4.8.4 as "v4",
 * socket.io-client 2.5.0 as "v2") through one scripted scenario and prints one JSON result line.
 *
 *   node interop/clients/driver.js '<scenario JSON>'      scenario from argv[2]
 *   node interop/clients/driver.js [-] < scenario.json     scenario from stdin
 *   node interop/clients/driver.js --many N [scenario|-]   N copies at once, one aggregated line
 *   node interop/clients/driver.js --batch [list|-]        a JSON list of scenarios run at once,
 *                                                          one line: the list of their results
 *
 * Exit status 0 whenever a result was printed, whatever the scenario's outcome; 2 on a bad
 * scenario or a driver bug (message on stderr). Every run is bounded by the scenario deadline.
 *
 * Scenario (JSON object; times in milliseconds):
 *   url                  string, required: server base URL, e.g. "http://127.0.0.1:9000"
 *   namespace            string, default "/": both clients connect with io(url + namespace)
 *   client               "v4" (default) | "v2"
 *   transports           e.g. ["websocket"] or ["polling"]; default: the client's own
 *                        (polling, then upgrade to websocket)
 *   auth                 object: v4 handshake `auth` payload. Refused for v2, which has no auth
 *                        payload: put v2 tokens in `query`.
 *   authFn               list: v4 `auth` given as a callback; connect attempt n (0-based) gets
 *                        entry min(n, len-1); a string s stands for {"token": s}, an object is
 *                        used whole. Refused for v2.
 *   query                object of strings: handshake query (v2 also sends it with a namespace
 *                        CONNECT packet)
 *   headers              object: extraHeaders, sent on polling requests and the websocket
 *                        upgrade (Node clients can; browsers cannot)
 *   cookie               string: sent as the Cookie header (e.g. "token=abc")
 *   reconnection         boolean, default false
 *   reconnectionAttempts, reconnectionDelay, reconnectionDelayMax, randomizationFactor:
 *                        passed to the client when given
 *   connectTimeout       client `timeout` option (connection timeout); client default otherwise
 *   deadline             whole-run bound, default 20000; the running step fails when reached
 *   steps                list, run in order; the first failing step ends the run:
 *     {"wait": "connect" | ["connect", "connect_error"], "timeout": 5000}
 *         waits for the next event with one of these names, at or after the cursor (see below),
 *         and moves the cursor past it; fails after timeout (default 5000)
 *     {"emit": "authenticate", "args": [{"token": "..."}], "ack": false, "timeout": 5000}
 *         socket.emit(name, ...args); with "ack": true, an ack callback is added and the reply
 *         is recorded as event "ack:<name>"; the step then waits for it (fails after timeout)
 *     {"sleep": 100}
 *     {"ackLast": true, "args": [...]}  calls, with args, the ack callback that came with the
 *         last recorded "unauthorized" event ({"ackLast": "<event>"} for another event); fails
 *         when there is none
 *     {"disconnect": true}              socket.disconnect() from the client
 *     {"connect": true}                 socket.connect() again (after a disconnect)
 *     {"dropTransport": true}           closes the Engine.IO connection under the socket
 *         (socket.io.engine.close()) without a Socket.IO disconnect, as a network failure
 *         would: the server sees "transport close", and a client with reconnection on
 *         reconnects (v4 with connection-state recovery when the server offers it)
 *     {"expectNo": "echo-response" | [...], "for": 500}
 *         fails if such an event is recorded at or after the cursor, up to `for` ms from now;
 *         does not move the cursor
 *   The cursor starts at event 0. Events arriving before a wait starts are not lost: a wait
 *   first looks at the events already recorded after the cursor.
 *
 * Result (one line):
 *   {"client": "v4", "ok": true|false, "failedStep": -1 | index, "failure": "" | text,
 *    "events": [{"name": "connect", "at": 12, "args": []}, ...],
 *    "reconnectAttempts": 0, "transport": "websocket" | "polling" | "" (the transport of the
 *    last open connection, "" if none ever opened),
 *    "connected": bool, "id": "<socket id>" | "", "durationMs": 57}
 *   events lists, in order, everything the client saw until the steps ended, with `at` in ms
 *   since the client was created:
 *     connect []; disconnect [reason]; connect_error [{"message", "data"?, "type"?,
 *     "description"?}] (v4: handshake rejection or transport failure; v2: transport failure);
 *     error [object] (v2: the server's ERROR packet, i.e. the rejection object);
 *     connect_timeout [timeout] (v2); any server event with its arguments, plus "ack": true when
 *     the server asked for an acknowledgement; "ack:<name>" [reply...] for emits with "ack";
 *     manager events "io:open" [], "io:close" [reason], "io:reconnect_attempt" [n],
 *     "io:reconnect" [n], "io:reconnect_error" [{"message"}], "io:reconnect_failed" [],
 *     "io:upgrade" [transport name].
 *   Error objects are recorded as {"message", ...own enumerable fields}; binary as
 *   {"_binary": base64}; functions as "[Function]".
 *   The client's own closing at the end of the run is not recorded.
 *
 * --many N: runs N copies concurrently (each with its own connection) and prints
 *   {"n": N, "ok": k, "failed": N-k, "outcomes": {"<outcome>": count}, "events": {"<name>":
 *    count}, "failures": {"step <i>: <failure>": count}, "reconnectAttempts": total,
 *    "terminalAtMax": ms, "terminalAtP50": ms, "durationMs": ms}
 *   The outcome of one copy is its last recorded event other than the manager's "io:*" ones:
 *   "<name>" alone, or "<name>:<detail>" where detail is the first argument when it is a
 *   string, else its data.code, else its code, else its message; "none" when there is no such
 *   event. terminalAt is the time of that event.
 */

const V4_CLIENT = 'socket.io-client';
const V2_CLIENT = 'socket.io-client-v2';

const DEFAULT_WAIT = 5000;
const DEFAULT_DEADLINE = 20000;

class ScenarioError extends Error {}

function now() {
  return Number(process.hrtime.bigint() / 1000000n);
}

// toJSONable turns what a client hands to a listener into plain JSON values.
function toJSONable(value, seen = new Set()) {
  if (value === null || value === undefined) return value === undefined ? null : value;
  if (typeof value === 'function') return '[Function]';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return { _binary: value.toString('base64') };
  if (value instanceof ArrayBuffer) return { _binary: Buffer.from(value).toString('base64') };
  if (ArrayBuffer.isView(value)) {
    return { _binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => toJSONable(v, seen));
    if (value instanceof Error) {
      const out = { message: value.message };
      for (const k of Object.keys(value)) {
        if (k === 'stack' || k === 'message') continue;
        const v = value[k];
        // Transport errors carry their cause (an Error or a DOM-like event) as description.
        if (k === 'description' && v && typeof v === 'object') {
          out.description = v.message !== undefined ? String(v.message) : String(v);
          continue;
        }
        if (k === 'context' || k === 'target' || k === 'transport') continue;
        out[k] = toJSONable(v, seen);
      }
      return out;
    }
    if (typeof value.toJSON === 'function') return toJSONable(value.toJSON(), seen);
    const out = {};
    for (const k of Object.keys(value)) out[k] = toJSONable(value[k], seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

function asNames(v, field) {
  const names = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n !== '')) {
    throw new ScenarioError(`${field} must be an event name or a non-empty list of names`);
  }
  return names;
}

function asMs(v, field, dflt) {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ScenarioError(`${field} must be a number of ms >= 0`);
  return v;
}

function validate(s) {
  if (!s || typeof s !== 'object' || Array.isArray(s)) throw new ScenarioError('scenario must be a JSON object');
  if (typeof s.url !== 'string' || !/^https?:\/\//.test(s.url)) throw new ScenarioError('url must be an http(s) URL');
  const client = s.client || 'v4';
  if (client !== 'v4' && client !== 'v2') throw new ScenarioError(`client must be "v4" or "v2", not ${JSON.stringify(client)}`);
  const nsp = s.namespace || '/';
  if (typeof nsp !== 'string' || !nsp.startsWith('/')) throw new ScenarioError('namespace must start with "/"');
  if (client === 'v2' && s.auth !== undefined) throw new ScenarioError('auth is a v4 option: give v2 tokens in query');
  if (client === 'v2' && s.authFn !== undefined) throw new ScenarioError('authFn is a v4 option: give v2 tokens in query');
  if (s.authFn !== undefined && (!Array.isArray(s.authFn) || s.authFn.length === 0)) throw new ScenarioError('authFn must be a non-empty list');
  if (s.steps !== undefined && !Array.isArray(s.steps)) throw new ScenarioError('steps must be a list');
  const known = new Set(['wait', 'emit', 'sleep', 'ackLast', 'disconnect', 'connect', 'dropTransport', 'expectNo']);
  (s.steps || []).forEach((st, i) => {
    if (!st || typeof st !== 'object') throw new ScenarioError(`step ${i} must be an object`);
    const kinds = Object.keys(st).filter((k) => known.has(k));
    if (kinds.length !== 1) throw new ScenarioError(`step ${i} must have exactly one of ${[...known].join(', ')}`);
    if (st.wait !== undefined) asNames(st.wait, `step ${i} wait`);
    if (st.expectNo !== undefined) asNames(st.expectNo, `step ${i} expectNo`);
    if (st.emit !== undefined && typeof st.emit !== 'string') throw new ScenarioError(`step ${i} emit must be an event name`);
    if (st.args !== undefined && !Array.isArray(st.args)) throw new ScenarioError(`step ${i} args must be a list`);
    asMs(st.timeout, `step ${i} timeout`, 0);
    asMs(st.sleep, `step ${i} sleep`, 0);
    asMs(st.for, `step ${i} for`, 0);
  });
  asMs(s.deadline, 'deadline', 0);
  return { client, nsp };
}

class Run {
  constructor(scenario) {
    const { client, nsp } = validate(scenario);
    this.s = scenario;
    this.client = client;
    this.nsp = nsp;
    this.events = [];
    this.ackFns = new Map(); // event index -> ack callback handed over by the client
    this.listeners = new Set();
    this.cursor = 0;
    this.recording = true;
    this.reconnectAttempts = 0;
    this.transport = '';
    this.failedStep = -1;
    this.failure = '';
  }

  record(name, args, ack) {
    if (!this.recording) return;
    const ev = { name, at: now() - this.t0, args: args.map((a) => toJSONable(a)) };
    if (ack) {
      ev.ack = true;
      this.ackFns.set(this.events.length, ack);
    }
    this.events.push(ev);
    for (const l of [...this.listeners]) l();
  }

  // findFrom returns the index of the first event at or after `from` named in `names`, or -1.
  findFrom(from, names) {
    for (let i = from; i < this.events.length; i++) if (names.includes(this.events[i].name)) return i;
    return -1;
  }

  // until resolves true when pred() holds (checked now and on every new event), false after ms.
  until(pred, ms) {
    return new Promise((resolve) => {
      if (pred()) {
        resolve(true);
        return;
      }
      let timer;
      const l = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve(true);
      };
      timer = setTimeout(() => {
        this.listeners.delete(l);
        resolve(false);
      }, ms);
      this.listeners.add(l);
    });
  }

  options() {
    const s = this.s;
    const o = { forceNew: true, reconnection: !!s.reconnection };
    if (s.transports) o.transports = s.transports;
    for (const k of ['reconnectionAttempts', 'reconnectionDelay', 'reconnectionDelayMax', 'randomizationFactor']) {
      if (s[k] !== undefined) o[k] = s[k];
    }
    if (s.connectTimeout !== undefined) o.timeout = s.connectTimeout;
    if (s.query) o.query = s.query;
    const headers = Object.assign({}, s.headers || {});
    if (s.cookie !== undefined) headers.Cookie = s.cookie;
    if (Object.keys(headers).length) o.extraHeaders = headers;
    if (s.auth !== undefined) o.auth = s.auth;
    if (s.authFn !== undefined) {
      let n = 0;
      const list = s.authFn;
      o.auth = (cb) => {
        const entry = list[Math.min(n++, list.length - 1)];
        cb(typeof entry === 'string' ? { token: entry } : entry);
      };
    }
    return o;
  }

  open() {
    const url = this.s.url.replace(/\/+$/, '') + this.nsp;
    this.t0 = now();
    if (this.client === 'v4') this.openV4(url);
    else this.openV2(url);
    this.manager = this.socket.io;
    this.watchManager();
  }

  openV4(url) {
    const { io } = require(V4_CLIENT);
    const socket = io(url, this.options());
    this.socket = socket;
    socket.on('connect', () => {
      this.noteTransport();
      this.record('connect', []);
    });
    socket.on('connect_error', (err) => this.record('connect_error', [err]));
    socket.on('disconnect', (reason) => this.record('disconnect', [reason]));
    socket.onAny((event, ...args) => {
      const ack = args.length && typeof args[args.length - 1] === 'function' ? args.pop() : null;
      this.record(event, args, ack);
    });
  }

  openV2(url) {
    const io = require(V2_CLIENT);
    const socket = io(url, this.options());
    this.socket = socket;
    const run = this;
    // v2 has no onAny: server events are taken where the client decodes them.
    const onevent = socket.onevent;
    socket.onevent = function (packet) {
      const data = packet.data || [];
      const ack = packet.id != null ? this.ack(packet.id) : null;
      run.record(String(data[0]), data.slice(1), ack);
      return onevent.call(this, Object.assign({}, packet, { id: null }));
    };
    socket.on('connect', () => {
      this.noteTransport();
      this.record('connect', []);
    });
    socket.on('disconnect', (reason) => this.record('disconnect', [reason]));
    socket.on('error', (obj) => this.record('error', [obj]));
    socket.on('connect_error', (err) => this.record('connect_error', [err]));
    socket.on('connect_timeout', (t) => this.record('connect_timeout', [t]));
  }

  watchManager() {
    const m = this.manager;
    m.on('open', () => {
      this.noteTransport();
      this.record('io:open', []);
      const engine = m.engine;
      if (engine) engine.on('upgrade', (t) => {
        this.transport = t && t.name ? t.name : this.transport;
        this.record('io:upgrade', [this.transport]);
      });
    });
    m.on('close', (reason) => this.record('io:close', [reason]));
    m.on('reconnect_attempt', (n) => {
      this.reconnectAttempts++;
      this.record('io:reconnect_attempt', [n]);
    });
    m.on('reconnect', (n) => this.record('io:reconnect', [n]));
    m.on('reconnect_error', (err) => this.record('io:reconnect_error', [{ message: err && err.message }]));
    m.on('reconnect_failed', () => this.record('io:reconnect_failed', []));
  }

  noteTransport() {
    const e = this.manager && this.manager.engine;
    if (e && e.readyState === 'open' && e.transport && e.transport.name) this.transport = e.transport.name;
  }

  async step(st, i) {
    if (st.wait !== undefined) {
      const names = asNames(st.wait, 'wait');
      const ms = asMs(st.timeout, 'timeout', DEFAULT_WAIT);
      let found = -1;
      const ok = await this.until(() => (found = this.findFrom(this.cursor, names)) >= 0, ms);
      if (!ok) return `wait ${names.join('|')} timed out after ${ms}ms`;
      this.cursor = found + 1;
      return '';
    }
    if (st.emit !== undefined) {
      const args = (st.args || []).slice();
      if (!st.ack) {
        this.socket.emit(st.emit, ...args);
        return '';
      }
      const name = `ack:${st.emit}`;
      const from = this.events.length;
      this.socket.emit(st.emit, ...args, (...reply) => this.record(name, reply));
      const ms = asMs(st.timeout, 'timeout', DEFAULT_WAIT);
      const ok = await this.until(() => this.findFrom(from, [name]) >= 0, ms);
      return ok ? '' : `no ack for ${st.emit} after ${ms}ms`;
    }
    if (st.sleep !== undefined) {
      await new Promise((r) => setTimeout(r, st.sleep));
      return '';
    }
    if (st.ackLast !== undefined) {
      const name = typeof st.ackLast === 'string' ? st.ackLast : 'unauthorized';
      for (let j = this.events.length - 1; j >= 0; j--) {
        if (this.events[j].name !== name) continue;
        const fn = this.ackFns.get(j);
        if (!fn) return `last ${name} event came without an ack callback`;
        fn(...(st.args || []));
        return '';
      }
      return `no ${name} event to acknowledge`;
    }
    if (st.disconnect !== undefined) {
      this.socket.disconnect();
      return '';
    }
    if (st.connect !== undefined) {
      this.socket.connect();
      return '';
    }
    if (st.dropTransport !== undefined) {
      const engine = this.socket.io && this.socket.io.engine;
      if (!engine) return 'no Engine.IO connection to drop';
      engine.close();
      return '';
    }
    if (st.expectNo !== undefined) {
      const names = asNames(st.expectNo, 'expectNo');
      const ms = asMs(st.for, 'for', 0);
      let found = -1;
      const seen = await this.until(() => (found = this.findFrom(this.cursor, names)) >= 0, ms);
      if (seen) return `unexpected ${this.events[found].name} at ${this.events[found].at}ms`;
      return '';
    }
    throw new Error(`step ${i}: unknown kind`);
  }

  async run() {
    this.open();
    const deadline = asMs(this.s.deadline, 'deadline', DEFAULT_DEADLINE);
    let timer;
    const expired = new Promise((r) => {
      timer = setTimeout(() => r('deadline'), deadline);
    });
    const steps = this.s.steps || [];
    for (let i = 0; i < steps.length; i++) {
      const r = await Promise.race([this.step(steps[i], i), expired]);
      if (r === 'deadline') {
        this.failedStep = i;
        this.failure = `deadline of ${deadline}ms reached`;
        break;
      }
      if (r) {
        this.failedStep = i;
        this.failure = r;
        break;
      }
    }
    clearTimeout(timer);
    this.noteTransport();
    this.recording = false;
    const result = {
      client: this.client,
      ok: this.failedStep < 0,
      failedStep: this.failedStep,
      failure: this.failure,
      events: this.events,
      reconnectAttempts: this.reconnectAttempts,
      transport: this.transport,
      connected: !!this.socket.connected,
      id: this.socket.id || '',
      durationMs: now() - this.t0,
    };
    await this.close();
    return result;
  }

  // close disconnects the socket and its manager, waiting (bounded) for the engine to close.
  async close() {
    const m = this.manager;
    const engine = m && m.engine;
    const closed = new Promise((r) => {
      if (!engine || engine.readyState === 'closed') r();
      else {
        engine.once('close', r);
        setTimeout(r, 500);
      }
    });
    try {
      m.reconnection(false);
      this.socket.disconnect();
      if (typeof m._close === 'function') m._close();
      else if (typeof m.close === 'function') m.close();
    } catch (e) {
      // Closing twice or an already-broken connection: nothing left to release.
    }
    await closed;
  }
}

function outcomeOf(ev) {
  if (!ev) return 'none';
  const a = ev.args[0];
  if (typeof a === 'string') return `${ev.name}:${a}`;
  if (a && typeof a === 'object') {
    if (a.data && typeof a.data.code === 'string') return `${ev.name}:${a.data.code}`;
    if (typeof a.code === 'string') return `${ev.name}:${a.code}`;
    if (typeof a.message === 'string') return `${ev.name}:${a.message}`;
  }
  return ev.name;
}

function aggregate(results, durationMs) {
  const out = {
    n: results.length, ok: 0, failed: 0, outcomes: {}, events: {}, failures: {},
    reconnectAttempts: 0, terminalAtMax: 0, terminalAtP50: 0, durationMs,
  };
  const at = [];
  for (const r of results) {
    if (r.ok) out.ok++;
    else {
      out.failed++;
      const k = `step ${r.failedStep}: ${r.failure}`;
      out.failures[k] = (out.failures[k] || 0) + 1;
    }
    const last = r.events.filter((e) => !e.name.startsWith('io:')).pop();
    const o = outcomeOf(last);
    out.outcomes[o] = (out.outcomes[o] || 0) + 1;
    for (const e of r.events) out.events[e.name] = (out.events[e.name] || 0) + 1;
    out.reconnectAttempts += r.reconnectAttempts;
    if (last) at.push(last.at);
  }
  at.sort((a, b) => a - b);
  if (at.length) {
    out.terminalAtMax = at[at.length - 1];
    out.terminalAtP50 = at[Math.floor((at.length - 1) / 2)];
  }
  return out;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function emit(obj) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(obj) + '\n', resolve));
}

async function main() {
  const argv = process.argv.slice(2);
  let many = 0;
  if (argv[0] === '--many') {
    many = Number(argv[1]);
    if (!Number.isInteger(many) || many < 1 || many > 10000) throw new ScenarioError('--many needs a count between 1 and 10000');
    argv.splice(0, 2);
  }
  let batch = false;
  if (!many && argv[0] === '--batch') {
    batch = true;
    argv.splice(0, 1);
  }
  const text = argv.length && argv[0] !== '-' ? argv[0] : await readStdin();
  let scenario;
  try {
    scenario = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`scenario is not JSON: ${e.message}`);
  }
  if (batch) {
    if (!Array.isArray(scenario) || scenario.length < 1 || scenario.length > 10000) {
      throw new ScenarioError('--batch needs a list of 1 to 10000 scenarios');
    }
    scenario.forEach((s) => validate(s));
    const longest = Math.max(...scenario.map((s) => asMs(s.deadline, 'deadline', DEFAULT_DEADLINE)));
    setTimeout(() => {
      process.stderr.write(`driver.js: batch still going ${longest + 5000}ms after start; exiting\n`);
      process.exit(3);
    }, longest + 5000).unref();
    await emit(await Promise.all(scenario.map((s) => new Run(s).run())));
    return;
  }
  validate(scenario);
  // Last resort against a hang inside a client library: report what is known and leave.
  const bound = asMs(scenario.deadline, 'deadline', DEFAULT_DEADLINE) + 5000;
  const watchdog = setTimeout(() => {
    process.stderr.write(`driver.js: run still going ${bound}ms after start; exiting\n`);
    process.exit(3);
  }, bound);
  watchdog.unref();

  if (!many) {
    await emit(await new Run(scenario).run());
    return;
  }
  const t0 = now();
  const runs = [];
  for (let i = 0; i < many; i++) runs.push(new Run(scenario).run());
  const results = await Promise.all(runs);
  await emit(aggregate(results, now() - t0));
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`driver.js: ${e instanceof ScenarioError ? e.message : (e && e.stack) || e}\n`);
  process.exit(2);
});
