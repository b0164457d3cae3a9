// The watch page: plays HLS with hls.js (or natively on Safari), lets the viewer pick a
// lower quality or audio only, and sends view beacons every 15 s while the video plays.
(function () {
  "use strict";
  var box = document.getElementById("player");
  if (!box) return;
  var video = document.getElementById("video");
  var quality = document.getElementById("quality");
  var state = document.getElementById("player-state");
  var errorBox = document.getElementById("player-error");
  var sessionId = box.getAttribute("data-session");
  var kind = box.getAttribute("data-kind");
  var src = box.getAttribute("data-src");
  var sources = {};
  try { sources = JSON.parse(box.getAttribute("data-sources") || "{}"); } catch (e) {}
  var current = src;
  var hls = null;

  // a separate playlist for the quality (the archive's low and audio renditions), else the
  // levels of one multi-bitrate playlist (cloud providers)
  function sourceFor(mode) {
    if (mode === "auto" || mode === "high") return sources.high || src;
    return sources[mode] || null;
  }
  function switchTo(mode) {
    var url = sourceFor(mode);
    if (url && url !== current && hls) {
      var at = video.currentTime || 0;
      current = url;
      hls.once(window.Hls.Events.MANIFEST_PARSED, function () {
        if (kind === "replay" && at > 0) video.currentTime = at;
        var p = video.play(); if (p && p.catch) p.catch(function () {});
      });
      hls.loadSource(url);
      video.style.visibility = mode === "audio" ? "hidden" : "visible";
      video.style.height = mode === "audio" ? "3rem" : "";
      return;
    }
    pickLevel(mode);
  }
  function pickLevel(mode) {
    video.style.visibility = mode === "audio" ? "hidden" : "visible";
    video.style.height = mode === "audio" ? "3rem" : "";
    if (!hls || !hls.levels || !hls.levels.length) return;
    var levels = hls.levels.map(function (l, i) { return { i: i, bw: l.bitrate || 0, h: l.height || 0, codecs: l.videoCodec || "" }; });
    levels.sort(function (a, b) { return a.bw - b.bw; });
    if (mode === "auto") { hls.autoLevelCapping = -1; hls.currentLevel = -1; return; }
    if (mode === "high") { hls.autoLevelCapping = -1; hls.currentLevel = levels[levels.length - 1].i; return; }
    var audioOnly = levels.filter(function (l) { return !l.h && !l.codecs; });
    var pick = mode === "audio" && audioOnly.length ? audioOnly[0] : levels[0];
    hls.autoLevelCapping = pick.i;
    hls.currentLevel = pick.i;
  }

  function start() {
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ lowLatencyMode: false, startLevel: quality.value === "low" ? 0 : -1 });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        pickLevel(quality.value);
        var p = video.play(); if (p && p.catch) p.catch(function () {});
      });
      hls.on(window.Hls.Events.ERROR, function (_, data) {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) { setTimeout(function () { hls.startLoad(); }, 3000); }
        else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); }
        else { errorBox.hidden = false; }
      });
      current = sourceFor(quality.value) || src;
      hls.loadSource(current);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      var p = video.play(); if (p && p.catch) p.catch(function () {});
    } else {
      errorBox.hidden = false;
    }
  }
  quality.addEventListener("change", function () { switchTo(quality.value); });

  // --- view beacons: seconds actually watched, sent every 15 s and when the page is left
  function randomId() {
    var a = new Uint8Array(16); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var viewer = null;
  try { viewer = localStorage.getItem("sharehub_viewer"); if (!viewer) { viewer = randomId(); localStorage.setItem("sharehub_viewer", viewer); } }
  catch (e) { viewer = randomId(); }
  var watched = 0, lastTick = null;
  function tick() {
    var now = Date.now();
    if (lastTick !== null && !video.paused && !video.ended && video.readyState > 2) {
      watched += Math.min((now - lastTick) / 1000, 5);
    }
    lastTick = now;
    if (state && !video.paused) state.textContent = Math.floor(video.currentTime) + " s";
  }
  setInterval(tick, 1000);
  function send(beacon, tries) {
    fetch("/api/v1/sessions/" + sessionId + "/beacons", {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(beacon)
    }).then(function (r) {
      if (r.status >= 500 && tries > 0) setTimeout(function () { send(beacon, tries - 1); }, 5000);
    }).catch(function () {
      if (tries > 0) setTimeout(function () { send(beacon, tries - 1); }, 5000);
    });
  }
  function flush() {
    tick();
    if (watched < 0.5) return;
    var seconds = Math.round(watched * 1000) / 1000;
    watched = 0;
    send({ beacon_id: randomId(), viewer_id: viewer, kind: kind, seconds: seconds,
           at: new Date().toISOString(), position: Math.max(0, video.currentTime || 0) }, 2);
  }
  setInterval(flush, 15000);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") flush(); });
  window.sharehubPlayer = { flush: flush, video: video, hls: function () { return hls; }, source: function () { return current; } };
  start();
})();
