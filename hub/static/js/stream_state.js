// The go-live panel: ask every 5 s where the class stands (live, ended, a rehearsal push
// arriving) and show the new state; play the preview of the push with hls.js, retrying
// until the first segment is there.
(function () {
  "use strict";
  var el = document.getElementById("stream-state");
  if (!el) return;
  var id = el.getAttribute("data-session");
  var last = null;
  function poll() {
    fetch("/api/v1/sessions/" + id + "/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        var warn = document.getElementById("keyframe-warning");
        if (warn) {
          var limit = Number(warn.getAttribute("data-limit"));
          var late = s.keyframe_seconds && s.keyframe_seconds > limit;
          warn.textContent = late ? warn.getAttribute("data-text").replace("{s}", s.keyframe_seconds) : "";
          warn.hidden = !late;
        }
        var now = s.status + "/" + (s.rehearsal ? "rehearsal" : "");
        if (last !== null && now !== last) { location.reload(); return; }
        last = now;
      }).catch(function () {});
  }
  poll();
  setInterval(poll, 5000);

  var video = document.getElementById("preview");
  if (!video || !window.Hls || !window.Hls.isSupported()) return;
  var delay = 2000;
  function start() {
    var hls = new window.Hls({ lowLatencyMode: false, liveSyncDurationCount: 2 });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      delay = 2000;
      var p = video.play(); if (p && p.catch) p.catch(function () {});
    });
    hls.on(window.Hls.Events.ERROR, function (_, data) {
      if (!data.fatal) return;
      hls.destroy();
      setTimeout(start, delay);
      delay = Math.min(delay * 2, 15000);
    });
    hls.loadSource(video.getAttribute("data-src"));
    hls.attachMedia(video);
  }
  start();
})();
