#!/usr/bin/env node
'use strict';
/*
 * Verification micro-benchmark on the Node side: jsonwebtoken 9.0.3 and 8.5.1 `verify`.
 *
 *   node bench/node/verify.js [-ms 1000]
 *
 * For each library, algorithm (HS256, RS256, ES256, EdDSA) and key form (a KeyObject built
 * once, or the secret / PEM text as applications usually configure it), it times verifies of
 * one token for about -ms milliseconds after a warm-up and prints one JSON line:
 *   {"lib": "jsonwebtoken@9.0.3", "alg": "RS256", "key": "pem", "n": 12345, "nsPerOp": 81000}
 * or, when the library cannot verify that algorithm, {"lib", "alg", "key", "error": "..."}.
 */

const crypto = require('crypto');
const libs = [
  ['jsonwebtoken@' + require('jsonwebtoken/package.json').version, require('jsonwebtoken')],
  ['jsonwebtoken@' + require('jsonwebtoken8/package.json').version, require('jsonwebtoken8')],
];

let budgetMs = 1000;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i].replace(/^--?/, '');
  if (a === 'ms' && i + 1 < argv.length) budgetMs = Number(argv[++i]);
  else if (a.startsWith('ms=')) budgetMs = Number(a.slice(3));
  else {
    process.stderr.write(`verify.js: unknown argument ${argv[i]}\n`);
    process.exit(2);
  }
}
if (!Number.isFinite(budgetMs) || budgetMs <= 0 || budgetMs > 60000) {
  process.stderr.write('verify.js: -ms must be in (0, 60000]\n');
  process.exit(2);
}

const claims = { first_name: 'John', last_name: 'Doe', email: 'john@doe.com', id: 123, sub: 'bench' };
const secret = 'aaafoo super sercret';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = crypto.generateKeyPairSync('ed25519');
const pem = (k) => k.export({ type: 'spki', format: 'pem' });

const cases = [
  { alg: 'HS256', signKey: secret, keyObject: crypto.createSecretKey(Buffer.from(secret)), text: secret },
  { alg: 'RS256', signKey: rsa.privateKey, keyObject: rsa.publicKey, text: pem(rsa.publicKey) },
  { alg: 'ES256', signKey: ec.privateKey, keyObject: ec.publicKey, text: pem(ec.publicKey) },
  { alg: 'EdDSA', signKey: ed.privateKey, keyObject: ed.publicKey, text: pem(ed.publicKey) },
];

function time(fn) {
  const warm = Date.now() + Math.min(200, budgetMs / 5);
  while (Date.now() < warm) fn();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(budgetMs * 1e6));
  let n = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = process.hrtime.bigint();
  }
  return { n, nsPerOp: Number(now - start) / n };
}

for (const [name, jwt] of libs) {
  for (const c of cases) {
    let token;
    try {
      // Sign with jsonwebtoken 9 where the older library cannot sign the algorithm.
      token = jwt.sign(claims, c.signKey, { algorithm: c.alg, expiresIn: 3600 });
    } catch (e) {
      for (const key of ['object', 'text']) {
        console.log(JSON.stringify({ lib: name, alg: c.alg, key, error: e.message }));
      }
      continue;
    }
    for (const [key, k] of [['object', c.keyObject], ['text', c.text]]) {
      const opts = { algorithms: [c.alg] };
      try {
        jwt.verify(token, k, opts);
      } catch (e) {
        console.log(JSON.stringify({ lib: name, alg: c.alg, key, error: e.message }));
        continue;
      }
      const r = time(() => jwt.verify(token, k, opts));
      console.log(JSON.stringify({ lib: name, alg: c.alg, key, n: r.n, nsPerOp: Math.round(r.nsPerOp) }));
    }
  }
}
