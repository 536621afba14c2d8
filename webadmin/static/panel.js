// Kunci virtual door panel: send button presses without reloading; show relay and LEDs every second.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel) { return; }
  var statusUrl = panel.getAttribute("data-status-url");
  var message = document.getElementById("panel-message");
  var errorBox = document.getElementById("panel-error");
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function light(id, on) { var el = document.getElementById(id); if (el) { el.setAttribute("data-on", on ? "yes" : "no"); } }
  function show(data) {
    if (!data.reachable) { errorBox.hidden = false; errorBox.textContent = data.error || "The door daemon is not reachable."; return; }
    errorBox.hidden = true;
    var s = data.status || {};
    var ind = s.indicators || {};
    text("st-door", String(s.door || "unknown").replace(/_/g, " "));
    text("st-relay", s.relay ? "energised (unlocked)" : "off (locked)");
    text("st-lockout", s.lockout && s.lockout.active ? "active" : "none");
    light("led-green", ind.green); light("led-red", ind.red); light("buzzer", ind.buzzer);
  }
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (r.status === 401) { window.location.reload(); } return r.json(); })
      .then(show)
      .catch(function () { /* try again next second */ });
  }
  panel.querySelectorAll("form[data-panel]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
      })
        .then(function (r) { return r.json(); })
        .then(function (d) { message.textContent = d.message || d.error || ""; poll(); })
        .catch(function () { message.textContent = "The request failed."; });
    });
  });
  window.setInterval(poll, 1000);
  poll();
})();
