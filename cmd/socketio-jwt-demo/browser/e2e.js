// Drives the demo page in headless Chromium (Debian's, never a downloaded
// one) with playwright-core, as a user would: log in, chat between two
// browsers, tamper with the token, refresh in-band past the first expiry,
// let a token expire, log out, and knock on the admin namespace.
//
//   node e2e.js --url URL --short-url URL [--screenshot FILE] [--chromium PATH]
//
// --url is a demo started with its default token lifetime; --short-url one
// started with -token-ttl 6s -expiry-warning 3s. It prints one JSON line
// per scenario, {"scenario", "ok", "ms", "error"}, and exits 1 when one
// failed. browser_test.go runs it.
"use strict";

const { chromium } = require("playwright-core");

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const TIMEOUT = 15000;

function parseArgs(argv) {
  const opts = { chromium: "/usr/bin/chromium" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!["url", "short-url", "screenshot", "chromium"].includes(key) || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    opts[key] = argv[i + 1];
  }
  if (!opts.url || !opts["short-url"]) throw new Error("--url and --short-url are required");
  return opts;
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// A user is one browser context (its own cookies and storage) with one page.
class User {
  constructor(browser, base, name) {
    this.browser = browser;
    this.base = base;
    this.name = name;
    this.errors = [];
  }

  async open() {
    this.context = await this.browser.newContext({ viewport: { width: 1280, height: 860 } });
    this.page = await this.context.newPage();
    this.page.setDefaultTimeout(TIMEOUT);
    this.page.on("pageerror", (err) => this.errors.push(err.message));
    await this.page.goto(this.base);
    return this;
  }

  // login logs in with a role: "user" (a member, the default), "viewer"
  // or "admin".
  async login({ admin = false, role = admin ? "admin" : "user" } = {}) {
    const p = this.page;
    await p.fill("#username", this.name);
    await p.selectOption("#role", role);
    await p.click("#login");
    await this.waitState("connected");
    await this.waitText("#whoami", this.name);
  }

  waitState(state) {
    return this.page.waitForSelector(`#status[data-state="${state}"]`);
  }

  // waitText waits until the element's text contains every given string.
  waitText(selector, ...parts) {
    return this.page.waitForFunction(
      ([sel, ps]) => {
        const e = document.querySelector(sel);
        return e && !e.hidden && ps.every((s) => e.textContent.includes(s));
      },
      [selector, parts],
    );
  }

  // waitLog waits for a line of the "Socket events" list.
  waitLog(...parts) {
    return this.page.waitForFunction(
      (ps) => [...document.querySelectorAll("#log li")].some((li) => ps.every((s) => li.textContent.includes(s))),
      parts,
    );
  }

  async say(text) {
    await this.page.fill("#text", text);
    await this.page.click("#send");
  }

  // waitMessage waits for a chat line from `from` with `text`.
  waitMessage(from, text) {
    return this.page.waitForFunction(
      ([f, t]) =>
        [...document.querySelectorAll("#messages li")].some(
          (li) => li.querySelector(".from")?.textContent === f && li.querySelector(".text")?.textContent === t,
        ),
      [from, text],
    );
  }

  eval(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  async close() {
    if (this.context) await this.context.close();
    check(this.errors.length === 0, `${this.name}: uncaught page errors: ${this.errors.join("; ")}`);
  }
}

const scenarios = {
  // Two browsers chat; the sender's name comes from the server's verified
  // claims, whatever the event says. A third, a viewer, reads the chat but
  // its post is refused by the server's event rule, and /admin refuses it:
  // the screenshot is of its page.
  async chat({ opts, user }) {
    const alice = await user("alice", opts.url);
    const bob = await user("bob", opts.url);
    const carol = await user("carol", opts.url);
    await alice.login({ admin: true });
    await bob.login();
    await carol.login({ role: "viewer" });
    await alice.waitText("#messages", "bob joined", "carol joined");
    await carol.waitText("#whoami", "viewer");

    await alice.page.waitForFunction(() => window.demo.socket.io.engine.transport.name === "websocket");
    await alice.waitText("#transport", "websocket");

    const lines = [
      [alice, "alice", "Hello from alice!"],
      [bob, "bob", "Hi alice, bob here."],
      [alice, "alice", "My token expires in a minute: watch the countdown."],
      [bob, "bob", "Mine too. The page refreshes it in-band, the socket stays open."],
    ];
    for (const [from, name, text] of lines) {
      await from.say(text);
      await (from === alice ? bob : alice).waitMessage(name, text);
      await carol.waitMessage(name, text);
    }

    // The viewer may read, not post: the refusal comes back in the
    // acknowledgement and shows in the page; nobody gets the message.
    await carol.say("Can a viewer post?");
    await carol.waitText("#messages", "Not sent: insufficient_scope: insufficient scope: user or admin required");
    await carol.waitLog("chat", "refused by the server: insufficient_scope");
    await bob.say("Viewers read only.");
    await alice.waitMessage("bob", "Viewers read only.");
    await carol.waitMessage("bob", "Viewers read only.");
    for (const u of [alice, bob, carol]) {
      const leaked = await u.eval(() =>
        [...document.querySelectorAll("#messages li .text")].some((e) => e.textContent === "Can a viewer post?"),
      );
      check(!leaked, `${u.name} saw the viewer's refused message`);
    }
    await carol.waitState("connected"); // a refused event leaves the socket connected
    await carol.page.click("#admin-open");
    await carol.waitText("#admin-result", "Refused by /admin", "insufficient_scope: insufficient scope: admin required");
    if (opts.screenshot) {
      await carol.page.waitForTimeout(300); // let the countdown bar settle
      await carol.page.screenshot({ path: opts.screenshot });
    }

    // The admin panel lists the users.
    await alice.page.click("#admin-open");
    await alice.waitText("#users", "alice", "bob", "carol");

    // A client that claims to be someone else in the event is named by its token.
    await bob.eval(() => window.demo.socket.emit("chat", { text: "Who wrote this?", from: "alice", name: "alice" }));
    await alice.waitMessage("bob", "Who wrote this?");
    const spoofed = await alice.eval(() =>
      [...document.querySelectorAll("#messages li")].some(
        (li) => li.querySelector(".text")?.textContent === "Who wrote this?" && li.querySelector(".from")?.textContent !== "bob",
      ),
    );
    check(!spoofed, "a message was shown under the name the client chose");
    await alice.close();
    await bob.close();
    await carol.close();
  },

  // A non-admin is refused by /admin with the rule's code and message; an
  // admin sees the connected users, and the list follows them.
  async admin({ opts, user }) {
    const carol = await user("carol", opts.url);
    const dave = await user("dave", opts.url);
    await carol.login();
    await dave.login({ admin: true });

    await carol.page.click("#admin-open");
    await carol.waitText("#admin-result", "Refused by /admin", "insufficient_scope: insufficient scope: admin required");
    await carol.waitLog("admin", "connect_error: insufficient_scope: insufficient scope: admin required");
    check(await carol.eval(() => document.getElementById("users").hidden), "a refused user sees the user list");
    await carol.waitState("connected"); // the chat socket is unaffected

    await dave.page.click("#admin-open");
    await dave.waitText("#admin-result", "Admitted to /admin");
    await dave.waitText("#users", "carol", "dave");
    await carol.close();
    await dave.page.waitForFunction(() => !document.getElementById("users").textContent.includes("carol"));
    await dave.close();
  },

  // A token whose payload was changed is refused with the signature error;
  // the real token connects again.
  async tamper({ opts, user }) {
    const erin = await user("erin", opts.url);
    await erin.login();
    await erin.page.click("#tamper");
    await erin.waitText("#tamper-result", "Refused: invalid_token: invalid signature");
    await erin.waitState("refused");
    await erin.waitLog("chat", "connect_error: invalid_token: invalid signature");
    await erin.page.click("#restore");
    await erin.waitState("connected");
    await erin.say("back with my real token");
    await erin.waitMessage("erin", "back with my real token");
    await erin.close();
  },

  // Logging out revokes the token: the server cuts the socket, and the token
  // opens nothing any more.
  async logout({ opts, user }) {
    const frank = await user("frank", opts.url);
    const gina = await user("gina", opts.url);
    await frank.login();
    await gina.login();
    const token = await frank.eval(() => window.demo.token);
    await frank.page.click("#logout");
    await frank.waitText("#banner", "revoked the token and cut the socket", "invalid_token: jwt revoked", "io server disconnect");
    await frank.waitState("out");
    await frank.waitLog("chat", "unauthorized: invalid_token: jwt revoked");
    await frank.waitLog("chat", "disconnect: io server disconnect");
    await gina.waitText("#messages", "frank left");

    const refresh = await frank.eval(async (t) => {
      const res = await fetch("/refresh", { method: "POST", headers: { Authorization: "Bearer " + t } });
      return { status: res.status, body: await res.json() };
    }, token);
    check(refresh.status === 401 && refresh.body.error === "jwt revoked", `refresh with the revoked token: ${JSON.stringify(refresh)}`);
    const reconnect = await frank.eval(
      (t) =>
        new Promise((resolve) => {
          const s = io({ auth: { token: t }, forceNew: true, reconnection: false });
          s.on("connect", () => resolve({ connected: true }));
          s.on("connect_error", (err) => resolve(err.data));
        }),
      token,
    );
    check(reconnect.code === "invalid_token" && reconnect.message === "jwt revoked", `reconnect with the revoked token: ${JSON.stringify(reconnect)}`);
    await frank.close();
    await gina.close();
  },

  // With a 6 s token and the warning 3 s before expiry, the page refreshes
  // in-band and the same socket stays open past the first token's expiry.
  async refresh({ opts, user }) {
    const hana = await user("hana", opts["short-url"]);
    await hana.login();
    const first = await hana.eval(() => ({ id: window.demo.socket.id, exp: window.demo.claims.exp }));
    await hana.page.waitForFunction((exp) => Date.now() > exp * 1000 + 1500, first.exp, { timeout: 10000 });
    const now = await hana.eval(() => ({
      connected: window.demo.socket.connected,
      id: window.demo.socket.id,
      exp: window.demo.claims.exp,
      refreshes: window.demo.refreshes,
    }));
    check(now.connected && now.id === first.id, `socket not kept open past the first expiry: ${JSON.stringify({ first, now })}`);
    check(now.refreshes >= 1 && now.exp > first.exp, `no in-band refresh: ${JSON.stringify({ first, now })}`);
    await hana.waitLog("chat", "token_expiring");
    await hana.waitLog("chat", "authenticated: new token in force");
    await hana.waitState("connected");
    await hana.close();
  },

  // Without the refresh, the server cuts the socket when the token expires,
  // and the page says why.
  async expiry({ opts, user }) {
    const ivan = await user("ivan", opts["short-url"]);
    // Off before the socket opens: the warning may come soon after.
    await ivan.eval(() => (document.getElementById("auto-refresh").checked = false));
    await ivan.login();
    await ivan.waitState("cut");
    await ivan.waitText("#cut", "invalid_token: jwt expired", "io server disconnect");
    await ivan.waitLog("chat", "token_expiring");
    check((await ivan.eval(() => window.demo.refreshes)) === 0, "refreshed although auto-refresh was off");
    await ivan.close();
  },
};

async function runScenario(name, browser, opts) {
  const start = Date.now();
  const users = [];
  const user = async (userName, base) => {
    const u = new User(browser, base, userName);
    users.push(u);
    return u.open();
  };
  try {
    await scenarios[name]({ opts, user });
    return { scenario: name, ok: true, ms: Date.now() - start };
  } catch (err) {
    // What each user's page showed: its status and latest socket events.
    const pages = [];
    for (const u of users) {
      try {
        const seen = await u.page.evaluate(() => ({
          status: document.getElementById("status").textContent,
          events: [...document.querySelectorAll("#log li")].slice(0, 12).map((li) => li.textContent),
        }));
        pages.push(`${u.name}: status "${seen.status}"; events, latest first:\n    ${seen.events.join("\n    ")}`);
      } catch {
        // closed
      }
    }
    return { scenario: name, ok: false, ms: Date.now() - start, error: [String((err && err.stack) || err), ...pages].join("\n") };
  } finally {
    for (const u of users) await u.context?.close().catch(() => {});
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  // Each launch runs with a new, empty profile (user data directory) that
  // Playwright creates under TMPDIR and removes at close.
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
  let failed = false;
  const report = (r) => {
    failed = failed || !r.ok;
    process.stdout.write(JSON.stringify(r) + "\n");
  };
  try {
    // The two short-lifetime scenarios wait on the clock: run them together.
    const timed = Promise.all([runScenario("refresh", browser, opts), runScenario("expiry", browser, opts)]);
    for (const name of ["chat", "admin", "tamper", "logout"]) report(await runScenario(name, browser, opts));
    (await timed).forEach(report);
  } finally {
    await browser.close();
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`e2e: ${(err && err.stack) || err}\n`);
  process.exitCode = 2;
});
