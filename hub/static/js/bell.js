// The bell in the header: the signed-in user's unread notifications (GET unread-count).
(function () {
  var bell = document.getElementById("bell-count");
  if (!bell || !window.fetch) return;
  fetch(bell.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (d) {
      if (!d || !d.unread) return;
      bell.textContent = d.unread > 99 ? "99+" : String(d.unread);
      bell.hidden = false;
    })
    .catch(function () {});
})();
