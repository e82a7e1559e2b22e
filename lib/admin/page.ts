/**
 * The admin page: one HTML document, its stylesheet and its script, served by the router as three
 * answers so that a `Content-Security-Policy` without 'unsafe-inline' allows them (no inline script,
 * style or event handler). They live here as strings, not files, so the page works wherever the
 * package is bundled, with no files to copy. The script builds every row with textContent: a user
 * id, a session id or a User-Agent is shown as text, never parsed as HTML.
 */

/** Escapes text for an HTML attribute or element. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page, with its script, stylesheet and API under `base` (the router's mount path). */
export function adminHtml(base: string): string {
  const at = escapeHtml(base);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sessions · admin</title>
<link rel="icon" href="${at}/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${at}/admin.css">
<script src="${at}/admin.js" defer></script>
</head>
<body data-base="${at}">
<header><h1>Sessions</h1><p class="muted">Find a user, see their devices, sign them out.</p></header>
<main>
<form id="find" class="find" role="search">
  <label for="user">User id</label>
  <input id="user" name="user" required maxlength="1024" autocomplete="off" spellcheck="false">
  <button type="submit">Find</button>
</form>
<p id="status" class="status" role="status" aria-live="polite"></p>
<section id="user-section" hidden>
  <h2 id="user-title"></h2>
  <div class="bar">
    <label for="reason">Reason</label>
    <input id="reason" value="admin" maxlength="200">
    <button id="sign-out-all" type="button" class="danger">Sign out everywhere</button>
  </div>
  <ul id="devices" class="devices"></ul>
  <p id="no-devices" class="muted" hidden>No live sessions.</p>
</section>
<section>
  <h2>Active users</h2>
  <div class="bar">
    <label for="within">Within</label>
    <select id="within">
      <option value="300">5 minutes</option>
      <option value="3600">1 hour</option>
      <option value="86400">24 hours</option>
    </select>
    <span id="active-count" class="muted"></span>
  </div>
  <ul id="active-users" class="users"></ul>
</section>
</main>
</body>
</html>
`;
}

/** The page's icon (the browser asks for one; without it, for the app's /favicon.ico). */
export const ADMIN_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#b3261e"/><path d="M9 11h14M9 16h14M9 21h9" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>
`;

export const ADMIN_CSS = `:root { color-scheme: light; --line: #d9dce1; --muted: #5f6670; --danger: #b3261e; --accent: #0b57d0; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1f2328; }
h1 { margin: 0; font-size: 1.6rem; } h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.find, .bar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
.find input { flex: 1 1 12rem; min-width: 0; }
input, select, button { font: inherit; padding: .35rem .6rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
button { cursor: pointer; background: #f6f8fa; }
button.danger { color: #fff; background: var(--danger); border-color: var(--danger); }
button:disabled { opacity: .6; cursor: default; }
.status:empty { display: none; }
.status { padding: .5rem .75rem; border-radius: 6px; background: #eef3fc; }
.status.error { background: #fcebea; color: var(--danger); }
ul.devices, ul.users { list-style: none; padding: 0; margin: 0; }
.device { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: flex-start; justify-content: space-between;
  border: 1px solid var(--line); border-radius: 8px; padding: .75rem; margin: .5rem 0; }
.device .what { flex: 1 1 16rem; min-width: 0; }
.device .name { font-weight: 600; }
.device .agent, .device .id { font-size: .85rem; color: var(--muted); overflow-wrap: anywhere; }
.device dl { display: grid; grid-template-columns: auto 1fr; gap: 0 .75rem; margin: .25rem 0 0; font-size: .9rem; }
.device dt { color: var(--muted); } .device dd { margin: 0; overflow-wrap: anywhere; }
.users li { display: inline-block; margin: 0 .4rem .4rem 0; }
.users button { max-width: 100%; overflow-wrap: anywhere; text-align: left; }
`;

/** The page's behaviour. Plain ES2020 for any current browser; no build step. */
export const ADMIN_JS = `"use strict";
(function () {
  var base = document.body.getAttribute("data-base") || "";
  var $ = function (id) { return document.getElementById(id); };
  var current = null;

  function show(text, isError) {
    var status = $("status");
    status.textContent = text;
    status.className = isError ? "status error" : "status";
  }

  async function call(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var res = await fetch(base + "/api/" + path, init);
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new Error((data && data.error) || ("HTTP " + res.status));
    return data;
  }

  function ago(iso) {
    if (!iso) return "unknown";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "unknown";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function deviceItem(s) {
    var li = el("li", "device");
    li.setAttribute("data-session", s.id);
    var what = el("div", "what");
    what.appendChild(el("div", "name", s.device ? s.device.name : "Unknown device"));
    if (s.device) what.appendChild(el("div", "agent", s.device.userAgent));
    var dl = el("dl");
    var rows = [
      ["Signed in", when(s.createdAt)],
      ["Last active", ago(s.lastActive)],
      ["Expires", s.expiresAt ? when(s.expiresAt) : "never"],
      ["IP", s.device ? s.device.ip : "unknown"],
    ];
    rows.forEach(function (row) {
      dl.appendChild(el("dt", "", row[0]));
      dl.appendChild(el("dd", "", row[1]));
    });
    what.appendChild(dl);
    what.appendChild(el("div", "id", "Session " + s.id));
    var button = el("button", "sign-out", "Sign out");
    button.type = "button";
    button.addEventListener("click", function () { signOutOne(s.id, button); });
    li.appendChild(what);
    li.appendChild(button);
    return li;
  }

  async function load(userId) {
    current = userId;
    $("user").value = userId;
    if (location.hash !== "#user=" + encodeURIComponent(userId)) history.replaceState(null, "", "#user=" + encodeURIComponent(userId));
    try {
      var data = await call("GET", "users/" + encodeURIComponent(userId) + "/sessions");
      if (current !== userId) return;
      $("user-title").textContent = userId + " · " + data.sessions.length + (data.sessions.length === 1 ? " session" : " sessions");
      $("devices").replaceChildren.apply($("devices"), data.sessions.map(deviceItem));
      $("no-devices").hidden = data.sessions.length > 0;
      $("sign-out-all").disabled = data.sessions.length === 0;
      $("user-section").hidden = false;
    } catch (error) {
      show(error.message, true);
    }
  }

  function reason() {
    return $("reason").value.trim() || "admin";
  }

  async function signOutOne(id, button) {
    button.disabled = true;
    try {
      await call("POST", "sessions/" + encodeURIComponent(id) + "/sign-out", { reason: reason() });
      show("Signed out one session of " + current + ".");
    } catch (error) {
      show(error.message, true);
    }
    if (current !== null) await load(current);
  }

  async function signOutAll() {
    if (current === null) return;
    var userId = current;
    try {
      var data = await call("POST", "users/" + encodeURIComponent(userId) + "/sign-out", { reason: reason() });
      show("Signed out " + data.signedOut + (data.signedOut === 1 ? " session" : " sessions") + " of " + userId + ".");
    } catch (error) {
      show(error.message, true);
    }
    await load(userId);
  }

  async function loadActive() {
    try {
      var data = await call("GET", "active-users?within=" + encodeURIComponent($("within").value) + "&limit=100");
      $("active-count").textContent = data.count + (data.count === 1 ? " user" : " users");
      $("active-users").replaceChildren.apply($("active-users"), data.users.map(function (userId) {
        var li = el("li");
        var button = el("button", "", userId);
        button.type = "button";
        button.addEventListener("click", function () { show(""); load(userId); });
        li.appendChild(button);
        return li;
      }));
    } catch (error) {
      show(error.message, true);
    }
  }

  $("find").addEventListener("submit", function (event) {
    event.preventDefault();
    var userId = $("user").value.trim();
    show("");
    if (userId) load(userId);
  });
  $("sign-out-all").addEventListener("click", signOutAll);
  $("within").addEventListener("change", loadActive);

  var linked = /^#user=(.+)$/.exec(location.hash);
  if (linked) {
    try { load(decodeURIComponent(linked[1])); } catch (e) { show("The link names no valid user id.", true); }
  }
  loadActive();
})();
`;
