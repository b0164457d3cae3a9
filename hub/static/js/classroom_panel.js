// The teacher's live panel (classroom mode) on the go-live page: one ordered queue of the
// rooms' hands and photos (a short tone when one arrives), answered or dismissed with one
// click; the rooms' strip (checked in, head count, watching, quality, stalls, delay, last
// signal, mute); 随机点名. State from GET .../classroom, then live over server-sent events
// (EventSource resumes from the last event id after a cut). Works on a second device.
(function () {
  "use strict";
  var root = document.getElementById("classroom-panel");
  if (!root || !window.fetch) return;
  var sid = root.getAttribute("data-session");
  var base = "/api/v1/sessions/" + sid + "/classroom";
  var words = document.getElementById("cr-words").dataset;
  var queue = document.getElementById("cr-queue"), empty = document.getElementById("cr-queue-empty");
  var strip = document.querySelector("#cr-strip tbody"), logList = document.getElementById("cr-log");
  var names = {}, refreshTimer = null, audio = null;
  function el(tag, cls, txt) { var e = document.createElement(tag); if (cls) e.className = cls; if (txt != null) e.textContent = txt; return e; }
  function post(path, body) {
    return fetch(base + path, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    });
  }
  function beep() {
    if (!document.getElementById("cr-sound").checked) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + 0.18);
    } catch (e) {}
  }
  function log(msg) {
    var at = new Date().toLocaleTimeString(document.documentElement.lang || "zh-CN", { timeZone: root.getAttribute("data-tz") || undefined, hour12: false });
    var li = el("li", null, at + " · " + msg);
    logList.insertBefore(li, logList.firstChild);
    while (logList.children.length > 30) logList.removeChild(logList.lastChild);
  }
  function showEmpty() { empty.hidden = queue.children.length > 0; }
  function addQueued(m) {
    if (document.getElementById("cr-m-" + m.id)) return;
    var li = el("li"); li.id = "cr-m-" + m.id; li.setAttribute("data-id", m.id);
    li.appendChild(el("span", "who", (m.center_name || "") + " · " + (m.kind === "photo" ? words.photo : words.hand)));
    li.appendChild(el("span", "text", m.text || ""));
    if (m.photo_url) { var a = el("a"); a.href = m.photo_url; a.target = "_blank"; var img = el("img"); img.src = m.photo_url; img.alt = words.photo; a.appendChild(img); li.appendChild(a); }
    var actions = el("span", "actions");
    var ans = el("button", "cr-answer", words.answer); ans.type = "button";
    ans.addEventListener("click", function () { settle(m.id, "answer", ""); });
    var dis = el("button", "secondary cr-dismiss", words.dismiss); dis.type = "button";
    dis.addEventListener("click", function () { settle(m.id, "dismiss", ""); });
    actions.appendChild(ans); actions.appendChild(dis);
    if (m.kind === "hand" && m.text) {
      var all = el("button", "secondary cr-show-all", words.showAll); all.type = "button";
      all.addEventListener("click", function () {
        var answer = window.prompt(words.showPrompt, "");
        if (answer === null) return;
        post("/messages/" + m.id + "/show-all", { answer: answer.slice(0, 500) }).then(function () { settle(m.id, "answer", answer.slice(0, 500)); });
      });
      actions.appendChild(all);
    }
    li.appendChild(actions);
    queue.appendChild(li); showEmpty();
  }
  function settle(id, how, text) {
    post("/messages/" + id + "/" + how, { text: text }).then(function (r) {
      if (r.ok || r.status === 409) removeQueued(id);
    });
  }
  function removeQueued(id) { var li = document.getElementById("cr-m-" + id); if (li) li.remove(); showEmpty(); }
  function cell(tr, txt, cls) { var td = el("td", cls, txt); tr.appendChild(td); return td; }
  function renderStrip(rooms) {
    strip.innerHTML = "";
    rooms.forEach(function (r) {
      names[r.center_id] = r.name;
      var tr = el("tr"); tr.id = "cr-room-" + r.center_id;
      cell(tr, r.name);
      cell(tr, r.checked_in ? (words.yes + (r.children != null ? " · " + r.children + " " + words.children : "")) : words.no, r.checked_in ? "good" : "");
      var h = r.health;
      cell(tr, h ? (h.watching ? words.yes : words.no) : "—", h && !h.watching ? "bad" : "");
      cell(tr, h ? (words["rendition_" + h.rendition] || h.rendition) + (h.stepped_down ? " (" + words.stepped + ")" : "") : "—", h && h.stepped_down ? "bad" : "");
      cell(tr, h ? String(h.stalls) : "—", h && h.stalls > 2 ? "bad" : "");
      cell(tr, h ? (h.latency_ms / 1000).toFixed(1) + " s" : "—");
      cell(tr, r.last_signal ? (words[r.last_signal.signal] || r.last_signal.signal) : "—", r.last_signal && r.last_signal.signal !== "understood" ? "bad" : "");
      cell(tr, String(r.questions));
      var td = el("td"), b = el("button", "secondary cr-mute", r.muted ? words.unmute : words.mute); b.type = "button";
      b.addEventListener("click", function () { post("/centers/" + r.center_id + "/mute", { muted: !r.muted }).then(refreshSoon); });
      td.appendChild(b); tr.appendChild(td);
      strip.appendChild(tr);
    });
  }
  function refresh() {
    return fetch(base, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) {
        if (!st) return;
        renderStrip(st.rooms);
        var open = {};
        st.queue.forEach(function (m) { open[m.id] = true; addQueued(m); });
        Array.prototype.forEach.call(queue.querySelectorAll("li"), function (li) { if (!open[li.getAttribute("data-id")]) li.remove(); });
        showEmpty();
        return st;
      });
  }
  function refreshSoon() { if (refreshTimer) return; refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, 800); }
  function onEvent(e) {
    var d; try { d = JSON.parse(e.data); } catch (x) { return; }
    var name = d.center_name || names[d.center_id] || "";
    if ((d.kind === "hand" || d.kind === "photo") && d.state === "open") { addQueued(d); beep(); }
    else if (d.kind === "answer" || d.kind === "dismiss") removeQueued(d.reply_to);
    else if (d.kind === "rollcall") log(words.called.replace("{n}", name));
    else if (d.kind === "rollcall_answer") { log(words.here.replace("{n}", name)); beep(); }
    else if (d.kind === "signal") log(name + " · " + (words[d.signal] || d.signal));
    refreshSoon();
  }
  document.getElementById("cr-rollcall").addEventListener("click", function () {
    post("/roll-call", {}).then(function (r) {
      if (r.status === 409) log(words.noneChecked);
    });
  });
  refresh().then(function (st) {
    if (!window.EventSource) { setInterval(refresh, 5000); return; }
    var es = new EventSource(base + "/stream?after=" + (st ? st.last_event_id : 0));
    var status = document.getElementById("cr-status");
    es.onopen = function () { status.textContent = words.connected; };
    es.onerror = function () { status.textContent = words.reconnecting; };
    ["hand", "photo", "signal", "answer", "dismiss", "rollcall", "rollcall_answer", "broadcast", "mute", "unmute", "health"].forEach(function (k) {
      es.addEventListener(k, onEvent);
    });
  });
})();
