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
