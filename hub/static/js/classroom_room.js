// The room's class screen: hands, signals, photos and roll-call answers go to the teacher
// through the JSON API with an idempotency key. Without a connection a text message waits on
// this device (localStorage, like check-ins) and is sent when the connection returns; the key
// makes a send whose answer was lost arrive once. The teacher's answers, roll calls and
// questions for all rooms arrive over server-sent events (EventSource resumes from the last
// event id by itself).
(function () {
  "use strict";
  var root = document.getElementById("class-screen");
  if (!root || !window.fetch) return;
  var sid = root.getAttribute("data-session"), me = parseInt(root.getAttribute("data-center"), 10);
  var base = "/api/v1/sessions/" + sid + "/classroom";
  var QUEUE = "sharehub_classroom_" + sid;
  function $(id) { return document.getElementById(id); }
  function text(id) { var t = $(id); return t ? t.innerHTML.trim() : ""; }
  function load() { try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; } }
  function save(q) { try { localStorage.setItem(QUEUE, JSON.stringify(q)); } catch (e) {} showQueued(); }
  function showQueued() { var n = load().length; $("cr-queued").hidden = n === 0; $("cr-queued-count").textContent = n; }
  function showOffline() { $("cr-offline").hidden = navigator.onLine !== false; }
  function newKey() {
    var a = new Uint8Array(16); window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function say(msg, bad) { var o = $("cr-result"); o.textContent = msg; o.hidden = false; o.className = bad ? "alert" : "notice"; }
  function post(body) {
    return fetch(base + "/messages", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    });
  }
  function refused(r) {
    r.json().then(function (b) { say(text("t-refused") + " " + (b && b.detail ? b.detail : r.status), true); },
                  function () { say(text("t-refused") + " " + r.status, true); });
  }
  function send(body, done) {
    body.key = newKey();
    var queueIt = function () { var q = load(); q.push(body); save(q); say(text("t-queued")); };
    if (navigator.onLine === false) { queueIt(); return; }
    post(body).then(function (r) {
      if (r.ok) { say(done || text("t-sent")); return; }
      if (r.status >= 500) { queueIt(); return; }
      refused(r);
    }).catch(queueIt);
  }
  var flushing = false;
  function flush() {
    if (flushing || navigator.onLine === false) return;
    var q = load(); if (!q.length) return;
    flushing = true;
    var item = q[0];
    post(item).then(function (r) {
      if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 429)) {
        save(load().filter(function (x) { return x.key !== item.key; }));
        if (r.ok) say(text("t-sent"));
      }
      flushing = false;
      if (r.ok && load().length) flush();
    }).catch(function () { flushing = false; });
  }
  $("cr-hand-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("cr-text");
    send({ kind: "hand", text: input.value.trim().slice(0, 200) });
    input.value = "";
  });
  Array.prototype.forEach.call(document.querySelectorAll(".cr-signal"), function (b) {
    b.addEventListener("click", function () {
      send({ kind: "signal", signal: b.getAttribute("data-signal") });
      b.classList.add("sent"); setTimeout(function () { b.classList.remove("sent"); }, 1500);
    });
  });
  var rollcall = null;
  $("cr-here").addEventListener("click", function () {
    if (!rollcall) return;
    send({ kind: "rollcall_answer", reply_to: rollcall, text: "" }, text("t-here-sent"));
    rollcall = null; $("cr-rollcall").hidden = true;
  });
  $("cr-photo-file").addEventListener("change", function (ev) {
    var file = ev.target.files && ev.target.files[0];
    if (!file) return;
    fetch(base + "/photos?key=" + newKey(), {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": file.type || "application/octet-stream", "Accept": "application/json" },
      body: file
    }).then(function (r) { if (r.ok) say(text("t-photo-sent")); else refused(r); },
            function () { say(text("t-queued").split(":")[0], true); });
    ev.target.value = "";
  });
  function feed(title, body) {
    var li = document.createElement("li"), b = document.createElement("b");
    b.textContent = title; li.appendChild(b);
    if (body) { var p = document.createElement("span"); p.textContent = body; li.appendChild(p); }
    var list = $("cr-feed"); list.insertBefore(li, list.firstChild);
  }
  function setMuted(m) { $("cr-muted").hidden = !m; }
  function onEvent(e) {
    var d; try { d = JSON.parse(e.data); } catch (x) { return; }
    if (d.kind === "rollcall" && d.center_id === me) {
      rollcall = d.id; $("cr-rollcall").hidden = false;
      if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    } else if (d.kind === "rollcall_answer" && d.reply_to === rollcall) {
      rollcall = null; $("cr-rollcall").hidden = true;
    } else if (d.kind === "answer") {
      feed(text("t-answered"), d.text);
    } else if (d.kind === "dismiss") {
      feed(text("t-dismissed"), "");
    } else if (d.kind === "broadcast") {
      feed(text("t-broadcast") + ": " + d.text, text("t-answer") + ": " + (d.data.answer || ""));
    } else if (d.kind === "mute" || d.kind === "unmute") {
      setMuted(d.kind === "mute"); feed(text(d.kind === "mute" ? "t-muted" : "t-unmuted"), "");
    }
  }
  fetch(base, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (st) { if (st) setMuted(st.muted); }, function () {});
  if (window.EventSource) {
    var es = new EventSource(base + "/stream");
    ["rollcall", "rollcall_answer", "answer", "dismiss", "broadcast", "mute", "unmute"].forEach(function (k) {
      es.addEventListener(k, onEvent);
    });
  }
  window.addEventListener("online", function () { showOffline(); flush(); });
  window.addEventListener("offline", showOffline);
  showOffline(); showQueued(); flush();
  setInterval(flush, 15000);
  window.sharehubClassroom = { queued: load, flush: flush };
})();
