// The go-live panel: ask every 10 s whether the stream is live, and say so.
(function () {
  "use strict";
  var el = document.getElementById("stream-state");
  if (!el) return;
  var id = el.getAttribute("data-session");
  var last = null;
  function poll() {
    fetch("/api/v1/sessions/" + id, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        if (last !== null && s.status !== last) { location.reload(); return; }
        last = s.status;
      }).catch(function () {});
  }
  poll();
  setInterval(poll, 10000);
})();
