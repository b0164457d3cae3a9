// Link health of a share-center's player (classroom mode). Counts stalls (the video waits for
// data while playing), measures how far behind the live edge it plays, and after repeated
// stalls steps down on its own: to the low-bandwidth rendition, then to audio only, telling
// the room. Every 15 s it reports rendition, stalls, delay and whether the room is watching
// to the class's teacher (POST .../classroom/health; a room that did not book the class gets
// 403 and stops reporting).
(function () {
  "use strict";
  var box = document.getElementById("player"), words = document.getElementById("link-words");
  var quality = document.getElementById("quality");
  if (!box || !words || !quality || !window.fetch) return;
  var sid = box.getAttribute("data-session");
  var STALLS_TO_STEP = 3, WINDOW_MS = 60000;
  var stalls = 0, recent = [], steppedDown = false, reporting = true, seeking = false;
  function player() { return window.sharehubPlayer; }
  function notice(msg) {
    var p = document.getElementById("link-notice");
    p.textContent = msg; p.hidden = false;
  }
  function stepDown() {
    var next = quality.value === "low" ? "audio" : quality.value === "audio" ? null : "low";
    if (!next) return;
    quality.value = next;
    quality.dispatchEvent(new Event("change"));
    steppedDown = true; recent = [];
    notice(words.getAttribute(next === "low" ? "data-low" : "data-audio"));
    report();
  }
  function stalled() {
    if (seeking) return;
    var now = Date.now();
    stalls += 1;
    recent = recent.filter(function (t) { return now - t < WINDOW_MS; });
    recent.push(now);
    if (recent.length >= STALLS_TO_STEP) stepDown();
  }
  function latencyMs(video) {
    var hls = player() && player().hls && player().hls();
    if (hls && typeof hls.latency === "number" && isFinite(hls.latency)) return Math.round(hls.latency * 1000);
    var r = video.seekable;
    if (r && r.length) return Math.max(0, Math.round((r.end(r.length - 1) - video.currentTime) * 1000));
    return 0;
  }
  function report() {
    var p = player();
    if (!reporting || !p) return;
    var v = p.video;
    fetch("/api/v1/sessions/" + sid + "/classroom/health", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({
        rendition: quality.value, stalls: stalls, latency_ms: Math.min(latencyMs(v), 3600000),
        watching: !v.paused && !v.ended && v.readyState > 2 && document.visibilityState !== "hidden",
        stepped_down: steppedDown
      })
    }).then(function (r) { if (r.status === 401 || r.status === 403 || r.status === 404) reporting = false; }, function () {});
  }
  box.appendChild(document.getElementById("link-notice"));  // shown under the player
  function attach() {
    var p = player();
    if (!p) { setTimeout(attach, 500); return; }
    var v = p.video;
    v.addEventListener("seeking", function () { seeking = true; });
    v.addEventListener("seeked", function () { seeking = false; });
    v.addEventListener("waiting", function () { if (!v.paused && v.readyState < 3 && v.currentTime > 0) stalled(); });
    setInterval(report, 15000);
    setTimeout(report, 3000);
  }
  attach();
  window.sharehubLinkHealth = { stalls: function () { return stalls; }, stalled: stalled, report: report };
})();
