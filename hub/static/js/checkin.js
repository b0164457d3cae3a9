// Center pages offline: registers the service worker that keeps the schedule, and sends a
// check-in through the JSON API with its idempotency key; without a connection the check-in
// is queued on this device (localStorage) and sent when the connection returns. The key
// makes a check-in that reached the server but whose answer was lost count once.
(function () {
  "use strict";
  var QUEUE = "sharehub_checkins";
  function load() { try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; } }
  function save(q) { try { localStorage.setItem(QUEUE, JSON.stringify(q)); } catch (e) {} showQueued(); }
  function showQueued() {
    var n = load().length, b = document.getElementById("queued-banner"), c = document.getElementById("queued-count");
    if (b) { b.hidden = n === 0; if (c) c.textContent = n; }
  }
  function showOffline() {
    var b = document.getElementById("offline-banner");
    if (b) b.hidden = navigator.onLine !== false;
  }
  function newKey() {
    var a = new Uint8Array(18); window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function post(item) {
    return fetch("/api/v1/bookings/" + item.booking + "/check-in", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ children: item.children, key: item.key })
    });
  }
  var flushing = false;
  function flush() {
    if (flushing || navigator.onLine === false) return;
    var q = load();
    if (!q.length) return;
    flushing = true;
    var item = q[0];
    post(item).then(function (r) {
      var rest = load().filter(function (x) { return x.key !== item.key; });
      if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 429)) save(rest);
      flushing = false;
      if (r.ok && rest.length) flush();
    }).catch(function () { flushing = false; });
  }
  function say(id, extra) {
    var out = document.getElementById("checkin-result"), t = document.getElementById(id);
    if (!out || !t) return;
    out.textContent = t.innerHTML.trim() + (extra ? " " + extra : "");
    out.hidden = false;
    out.className = id === "msg-failed" ? "alert" : "notice";
  }
  var form = document.getElementById("checkin-form");
  if (form && window.fetch && window.crypto) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var children = parseInt(form.elements.children.value, 10);
      if (isNaN(children) || children < 0) { form.elements.children.focus(); return; }
      var item = { booking: form.getAttribute("data-booking"), children: children, key: newKey(), at: new Date().toISOString() };
      var button = form.querySelector("button"); button.disabled = true;
      var queueIt = function () { var q = load(); q.push(item); save(q); say("msg-queued"); button.disabled = false; };
      if (navigator.onLine === false) { queueIt(); return; }
      post(item).then(function (r) {
        button.disabled = false;
        if (r.ok) { say("msg-sent"); setTimeout(function () { location.href = location.pathname + "?ok=checked-in"; }, 600); return; }
        if (r.status >= 500 || r.status === 0) { queueIt(); return; }
        r.json().then(function (b) { say("msg-failed", b && b.detail ? b.detail : String(r.status)); },
                      function () { say("msg-failed", String(r.status)); });
      }).catch(queueIt);
    });
  }
  window.addEventListener("online", function () { showOffline(); flush(); });
  window.addEventListener("offline", showOffline);
  showOffline(); showQueued(); flush();
  setInterval(flush, 30000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/center/sw.js", { scope: "/center" }).catch(function () {});
  }
  window.sharehubCheckins = { queued: function () { return load(); }, flush: flush };
})();
