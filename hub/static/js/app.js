// Copy buttons: <button data-copy="#id"> copies the text of the element it names.
document.addEventListener("click", function (ev) {
  var b = ev.target.closest ? ev.target.closest("[data-copy]") : null;
  if (!b) return;
  var el = document.querySelector(b.getAttribute("data-copy"));
  if (!el) return;
  var text = el.value !== undefined && el.tagName === "INPUT" ? el.value : el.textContent;
  var done = function () { var t = b.textContent; b.textContent = b.getAttribute("data-done") || "OK"; setTimeout(function () { b.textContent = t; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    var r = document.createRange(); r.selectNodeContents(el);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    try { document.execCommand("copy"); done(); } catch (e) {}
  }
});

// Forms that ask first: <form data-confirm="question?">.
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  var q = f && f.getAttribute ? f.getAttribute("data-confirm") : null;
  if (q && !window.confirm(q)) ev.preventDefault();
});

// Secrets (push URL with a key, stream key, passphrase, QR code) stay hidden until "Show".
(function () {
  var b = document.getElementById("reveal");
  if (!b) return;
  b.addEventListener("click", function () {
    var show = b.getAttribute("aria-pressed") !== "true";
    document.querySelectorAll(".secret").forEach(function (el) { el.hidden = !show; });
    document.querySelectorAll("[data-mask-for]").forEach(function (el) { el.hidden = show; });
    b.setAttribute("aria-pressed", show ? "true" : "false");
    b.textContent = b.getAttribute(show ? "data-hide" : "data-show");
  });
})();

// Pickers that send their form when changed: <select data-submit> (region pickers). A new
// province clears the city and county below it; a new city clears the county.
document.addEventListener("change", function (ev) {
  var el = ev.target;
  if (!el || !el.hasAttribute || !el.hasAttribute("data-submit") || !el.form) return;
  var below = { province: ["city", "county"], city: ["county"] }[el.name] || [];
  below.forEach(function (name) { var x = el.form.elements[name]; if (x) x.value = ""; });
  el.form.submit();
});

// Forms answered in place: <form data-inline> posts in the background (X-Inline: 1) and shows
// the JSON answer's message in the .inline-answer next to it; the button goes once done.
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  if (!f || !f.hasAttribute || !f.hasAttribute("data-inline") || !window.fetch) return;
  ev.preventDefault();
  var item = f.closest("li") || f.parentNode;
  var out = item.querySelector(".inline-answer");
  var button = f.querySelector("button");
  if (button) button.disabled = true;
  fetch(f.action, { method: "POST", body: new FormData(f), credentials: "same-origin", headers: { "X-Inline": "1", "Accept": "application/json" } })
    .then(function (r) { return r.json().then(function (body) { return { ok: r.ok && body.ok, body: body }; }); })
    .then(function (a) {
      if (out) { out.hidden = false; out.textContent = a.body.message || ""; out.className = "inline-answer " + (a.ok ? "notice" : "alert"); }
      if (a.ok) f.remove(); else if (button) button.disabled = false;
    })
    .catch(function () { f.submit(); });
});

// The private calendar feed: <button data-private-feed='{"center_id": 1}'> asks the API for a
// private address (every class, centers-only ones too) and shows it to copy into a calendar.
document.addEventListener("click", function (ev) {
  var b = ev.target.closest ? ev.target.closest("[data-private-feed]") : null;
  if (!b || !window.fetch) return;
  b.disabled = true;
  fetch("/api/v1/calendar/feeds", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: b.getAttribute("data-private-feed") })
    .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
    .then(function (a) {
      var out = document.getElementById(b.getAttribute("aria-controls"));
      if (!out) return;
      out.hidden = false;
      var field = out.querySelector("input");
      if (a.ok && field) { field.value = a.body.url; field.select(); } else { out.textContent = b.getAttribute("data-failed"); }
    })
    .catch(function () { b.disabled = false; });
});
