// Kunci dashboard: reload the live part (server-rendered, escaped HTML) every few seconds.
// Skips a refresh while the keyboard focus is inside it, so a button is never pulled from under the user.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) { return; }
  var url = box.getAttribute("data-refresh-url");
  var seconds = parseInt(box.getAttribute("data-refresh-seconds") || "5", 10);
  function refresh() {
    if (document.hidden || box.contains(document.activeElement)) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { box.innerHTML = html; } })
      .catch(function () { /* keep the last view; try again next time */ });
  }
  window.setInterval(refresh, Math.max(2, seconds) * 1000);
})();
