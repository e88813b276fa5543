// The demo page: log in, chat over Socket.IO with the token in auth.token,
// refresh it in-band before it expires, open the admin namespace, tamper
// with the token, log out. Every socket event and error is shown in the
// "Socket events" list: nothing fails silently.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // Everything the page knows, exposed for the devtools console:
  // demo.socket.emit("chat", {text: "hi", from: "someone else"}) shows that
  // the server names the sender from the verified token, not from the event.
  const demo = {
    token: null, // kept in memory only, never in localStorage
    claims: null, // decoded for display only: the server verifies
    socket: null, // "/"
    admin: null, // "/admin"
    me: null, // who the server says we are, from the verified claims
    refreshes: 0,
    tampering: false,
    loggingOut: false,
  };
  window.demo = demo;

  // ---- helpers ----

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function log(src, text, level) {
    const li = el("li", level || "");
    li.append(el("span", "t", clock(Date.now())), el("span", "src", src), el("span", "m", text));
    const list = $("log");
    list.prepend(li);
    while (list.children.length > 200) list.lastChild.remove();
  }

  // describe turns a connect_error, an "unauthorized" payload or an Error
  // into "code: message".
  function describe(err) {
    if (err && err.data && err.data.type === "UnauthorizedError") return `${err.data.code}: ${err.data.message}`;
    if (err && err.message) return err.message;
    return String(err);
  }

  function setStatus(state, text) {
    const s = $("status");
    s.dataset.state = state;
    s.textContent = text;
  }

  function show(id, on) {
    $(id).hidden = !on;
  }

  function result(id, text, good) {
    const r = $(id);
    r.textContent = text;
    r.className = "result " + (good ? "good" : "bad");
    r.hidden = false;
  }

  function b64urlDecode(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));
  }

  function b64urlEncode(str) {
    let bin = "";
    new TextEncoder().encode(str).forEach((b) => (bin += String.fromCharCode(b)));
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const payloadOf = (token) => JSON.parse(b64urlDecode(token.split(".")[1]));

  async function api(path, { body, token } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = {};
    try {
      data = await res.json();
    } catch {
      // not JSON: the status says enough
    }
    if (!res.ok) throw new Error(data.error ? `${res.status}: ${data.error}` : `${res.status} ${res.statusText}`);
    return data;
  }

  // ---- token ----

  function setToken(token) {
    demo.token = token;
    demo.claims = payloadOf(token);
    $("exp").textContent = clock(demo.claims.exp * 1000);
    tick();
  }

  function tick() {
    if (!demo.claims) return;
    const left = demo.claims.exp * 1000 - Date.now();
    const life = Math.max(1, (demo.claims.exp - demo.claims.iat) * 1000);
    $("countdown").textContent = left > 0 ? `${Math.ceil(left / 1000)} s` : "expired";
    const fill = $("bar-fill");
    fill.style.width = `${Math.max(0, Math.min(1, left / life)) * 100}%`;
    fill.classList.toggle("low", left < life / 4);
  }
  setInterval(tick, 250);

  let refreshing = null;

  // refresh gets a new token for the same user and hands it to the open
  // sockets in-band: they stay connected.
  function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const { token } = await api("/refresh", { token: demo.token });
        setToken(token);
        log("http", "POST /refresh: new token, sent in-band with authenticate", "ok");
        for (const s of [demo.socket, demo.admin]) {
          if (!s) continue;
          s.auth = { token }; // used if the socket has to reconnect later
          if (s.connected) s.emit("authenticate", { token });
        }
      } catch (e) {
        log("http", `POST /refresh: ${e.message}`, "error");
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // ---- sockets ----

  // watch logs what every socket reports, errors included.
  function watch(socket, src) {
    socket.on("connect", () => log(src, `connected, socket ${socket.id}`, "ok"));
    socket.on("connect_error", (err) => log(src, `connect_error: ${describe(err)}`, "error"));
    socket.on("disconnect", (reason) => log(src, `disconnect: ${reason}`, reason === "io client disconnect" ? "" : "error"));
    socket.on("unauthorized", (err, ack) => {
      socket.lastRefusal = describe(err);
      log(src, `unauthorized: ${describe(err)}`, "error");
      if (typeof ack === "function") ack(); // lets the server disconnect at once
    });
    socket.on("token_expiring", (info) => {
      log(src, `token_expiring: ${(info.expiresIn / 1000).toFixed(1)} s left`, "warn");
      if ($("auto-refresh").checked) refresh();
    });
    socket.on("authenticated", () => log(src, "authenticated: new token in force, same socket", "ok"));
    socket.io.on("reconnect_attempt", (n) => log(src, `reconnecting, attempt ${n}`, "warn"));
    socket.io.on("error", (err) => log(src, `connection error: ${describe(err)}`, "error"));
  }

  function connect() {
    setStatus("connecting", "connecting");
    const socket = io({ auth: { token: demo.token } });
    demo.socket = socket;
    watch(socket, "chat");

    socket.on("connect", () => {
      setStatus("connected", "connected");
      show("cut", false);
      show("relogin-row", false);
      $("send").disabled = false;
      const engine = socket.io.engine;
      $("transport").textContent = engine.transport.name;
      engine.once("upgrade", (t) => ($("transport").textContent = t.name));
      if (demo.tampering) result("tamper-result", "The server accepted the tampered token: this must not happen.", false);
    });
    socket.on("connect_error", (err) => {
      setStatus("refused", "refused");
      $("send").disabled = true;
      if (demo.tampering) {
        result("tamper-result", `Refused: ${describe(err)}`, false);
        show("restore-row", true);
      }
    });
    socket.on("disconnect", (reason) => {
      $("transport").textContent = "–";
      $("send").disabled = true;
      if (reason === "io client disconnect") {
        setStatus("connecting", "disconnected");
        return;
      }
      if (reason !== "io server disconnect") {
        setStatus("connecting", "reconnecting"); // the client retries by itself
        return;
      }
      const why = `${socket.lastRefusal || "no reason given"}; disconnect: ${reason}`;
      if (demo.loggingOut) {
        loggedOut(`The server revoked the token and cut the socket (${why}).`);
        return;
      }
      setStatus("cut", "cut by the server");
      $("cut").textContent = `The server cut the socket (${why}).`;
      show("cut", true);
      show("relogin-row", true);
    });
    socket.on("authenticated", () => {
      demo.refreshes++;
      $("refreshes").textContent = String(demo.refreshes);
    });
    socket.on("welcome", (me) => {
      demo.me = me;
      const who = $("whoami");
      who.textContent = "";
      if (me.role !== "user") who.append(el("span", "badge", me.role));
      who.append(`${me.name}`);
    });
    socket.on("chat", (m) => addMessage(m));
    // An event refused without an acknowledgement callback is answered
    // with "forbidden" {event, message, code, type}.
    socket.on("forbidden", (f) => addDenied(f));
    socket.on("system", (m) => addSystem(m.text, m.at));
  }

  function addLine(li) {
    const list = $("messages");
    list.append(li);
    while (list.children.length > 300) list.firstChild.remove();
    list.scrollTop = list.scrollHeight;
  }

  function addMessage(m) {
    const li = el("li", demo.me && m.sub === demo.me.sub ? "mine" : "");
    li.append(el("span", "time", clock(m.at)));
    if (m.role === "admin") li.append(el("span", "badge", "admin"));
    li.append(el("span", "from", m.from), el("span", "text", m.text));
    addLine(li);
  }

  // addDenied shows an action the server refused: {message, code}.
  function addDenied(refusal) {
    const li = el("li", "denied");
    li.append(el("span", "time", clock(Date.now())), el("span", "", `Not sent: ${refusal.code}: ${refusal.message}`));
    addLine(li);
    log("chat", `refused by the server: ${refusal.code}: ${refusal.message}`, "error");
  }

  function addSystem(text, at) {
    const li = el("li", "system");
    li.append(el("span", "time", clock(at)), el("span", "", text));
    addLine(li);
  }

  // ---- admin namespace ----

  function closeAdmin() {
    if (demo.admin) demo.admin.disconnect();
    demo.admin = null;
    show("users", false);
    show("admin-close", false);
  }

  function openAdmin() {
    closeAdmin();
    $("admin-result").hidden = true;
    const s = io("/admin", { auth: { token: demo.token }, forceNew: true, reconnection: false });
    demo.admin = s;
    watch(s, "admin");
    s.on("connect", () => {
      result("admin-result", "Admitted to /admin: connected users below.", true);
      show("admin-close", true);
    });
    s.on("connect_error", (err) => {
      result("admin-result", `Refused by /admin: ${describe(err)}`, false);
      demo.admin = null;
    });
    s.on("disconnect", (reason) => {
      show("users", false);
      if (reason !== "io client disconnect") result("admin-result", `The admin socket was closed: ${s.lastRefusal || reason}`, false);
    });
    s.on("users", renderUsers);
  }

  function renderUsers(users) {
    const body = $("users").querySelector("tbody");
    body.textContent = "";
    for (const u of users) {
      const tr = el("tr");
      const name = el("td", "", u.name);
      if (demo.me && u.sub === demo.me.sub && u.socket === demo.socket.id) name.append(el("span", "", " (you)"));
      tr.append(name, el("td", "", u.role), el("td", "", u.exp ? clock(u.exp * 1000) : "never"), el("td", "mono", u.socket.slice(0, 8)));
      body.append(tr);
    }
    show("users", true);
  }

  // ---- screens ----

  function showChat() {
    show("login-card", false);
    show("banner", false);
    show("chat-card", true);
    show("token-card", true);
    show("admin-card", true);
    show("tamper-result", false);
    show("restore-row", false);
    show("cut", false);
    show("relogin-row", false);
    $("messages").textContent = "";
    $("admin-result").hidden = true;
    $("refreshes").textContent = "0";
    demo.refreshes = 0;
    $("text").focus();
  }

  function loggedOut(message) {
    demo.loggingOut = false;
    demo.tampering = false;
    closeAdmin();
    if (demo.socket) {
      demo.socket.disconnect();
      demo.socket = null;
    }
    demo.token = demo.claims = demo.me = null;
    show("chat-card", false);
    show("token-card", false);
    show("admin-card", false);
    show("login-card", true);
    $("whoami").textContent = "not logged in";
    setStatus("out", "logged out");
    $("banner").textContent = message;
    show("banner", !!message);
  }

  // ---- controls ----

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show("login-error", false);
    try {
      const { token } = await api("/login", { body: { username: $("username").value, role: $("role").value } });
      log("http", "POST /login: token issued", "ok");
      setToken(token);
      showChat();
      connect();
    } catch (e) {
      $("login-error").textContent = e.message;
      show("login-error", true);
      log("http", `POST /login: ${e.message}`, "error");
    }
  });

  $("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    if (!demo.socket || !demo.socket.connected) {
      log("chat", "not connected: message not sent", "error");
      return;
    }
    demo.socket.timeout(5000).emit("chat", { text }, (err, res) => {
      if (err) log("chat", "the server did not acknowledge the message within 5 s", "error");
      else if (res && res.code === "insufficient_scope") addDenied(res);
      else if (res && res.error) log("chat", `message refused: ${res.error}`, "error");
    });
    $("text").value = "";
  });

  $("refresh").addEventListener("click", () => refresh());

  $("tamper").addEventListener("click", () => {
    const [header, , signature] = demo.token.split(".");
    const claims = payloadOf(demo.token);
    claims.role = "admin";
    claims.exp += 3600;
    const forged = [header, b64urlEncode(JSON.stringify(claims)), signature].join(".");
    log("chat", "reconnecting with a tampered token: role admin, one more hour, same signature", "warn");
    demo.tampering = true;
    show("tamper-result", false);
    show("restore-row", false);
    demo.socket.disconnect();
    demo.socket.auth = { token: forged };
    demo.socket.connect();
  });

  $("restore").addEventListener("click", () => {
    demo.tampering = false;
    show("restore-row", false);
    show("tamper-result", false);
    demo.socket.auth = { token: demo.token };
    demo.socket.connect();
  });

  $("logout").addEventListener("click", async () => {
    demo.loggingOut = true;
    try {
      await api("/logout", { token: demo.token });
      log("http", "POST /logout: token revoked; the server cuts its sockets", "ok");
    } catch (e) {
      demo.loggingOut = false;
      log("http", `POST /logout: ${e.message}`, "error");
      return;
    }
    if (!demo.loggingOut) return; // the cut came before the answer
    if (!demo.socket || !demo.socket.connected) {
      loggedOut("Logged out: the token is revoked.");
      return;
    }
    setTimeout(() => {
      if (demo.loggingOut) {
        log("chat", "the server did not cut the socket within 5 s", "error");
        loggedOut("Logged out, but the server did not cut the socket.");
      }
    }, 5000);
  });

  $("relogin").addEventListener("click", () => loggedOut(""));
  $("admin-open").addEventListener("click", openAdmin);
  $("admin-close").addEventListener("click", () => {
    closeAdmin();
    $("admin-result").hidden = true;
  });

  window.addEventListener("error", (e) => log("page", `error: ${e.message}`, "error"));
  window.addEventListener("unhandledrejection", (e) => log("page", `unhandled: ${describe(e.reason)}`, "error"));
  if (typeof io !== "function") log("page", "socket.io-client did not load from /vendor/socket.io.min.js", "error");
  else log("page", "ready: log in to get a token", "");
})();
