// Kunci virtual door panel: send button presses without reloading; show relay and LEDs every second;
// a dot for each digit typed (never the digit), and after "#" what the door decided.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel) { return; }
  var statusUrl = panel.getAttribute("data-status-url");
  // With several doors the page shows one (data-door): its entry of status.doors, and the decisions at that door
  // (the status URL names it); the keypad lockout is the controller's, shared by every door.
  var doorName = panel.getAttribute("data-door");
  var message = document.getElementById("panel-message");
  var errorBox = document.getElementById("panel-error");
  var dots = document.getElementById("panel-dots");
  var outcome = document.getElementById("panel-outcome");
  // Every word shown comes from the page, in its language (panel.html's "panel-texts" JSON block):
  // reasons of a refusal (codes: controller/core/policy.py Reason), door states and the outcome lines.
  // The keypad itself reveals nothing to the person at the door; this panel is the admin's simulator, so it says why.
  var pageWords = window.kunciTexts("panel-texts");  // texts.js
  var TEXTS = pageWords.texts;
  var say = pageWords.say;
  var REASONS = TEXTS.reasons || {};
  var DOOR = TEXTS.door || {};
  var typed = 0;          // digits typed on this panel since the last "#" or "*"
  var lastSeen = null;    // id of the newest access decision the page knows of (0: none yet)
  var waitingAfter = null;  // "#" was sent: the first decision newer than this id is the PIN's outcome

  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function light(id, on) { var el = document.getElementById(id); if (el) { el.setAttribute("data-on", on ? "yes" : "no"); } }
  function showDots() {
    dots.setAttribute("data-count", String(typed));
    dots.textContent = typed ? new Array(typed + 1).join("\u25CF") : say("no_digits");
    dots.setAttribute("aria-label", say("digits_typed", { count: typed }));
  }
  function reasonWords(access) {
    var words = REASONS[access.reason];
    if (words && typeof words === "object") { words = words[access.method] || words.pin; }
    return words || (access.reason ? String(access.reason).replace(/_/g, " ") : say("refused"));
  }
  function sayOutcome(data) {
    var s = data.status || {};
    var access = data.last_access;
    var locked = s.lockout && s.lockout.active;
    var line;
    if (locked && data.lockout_until_local) {
      line = say("locked_out_until", { time: data.lockout_until_local });
    } else if (access && access.result === "granted") {
      line = say("granted");
    } else if (access) {
      line = say("refused_because", { reason: reasonWords(access) });
    } else {
      return;
    }
    outcome.hidden = false;
    outcome.textContent = line;
    outcome.setAttribute("data-result", locked ? "locked_out" : (access ? access.result : ""));
  }
  function doorOf(s) {
    if (!doorName || !s.doors) { return s; }
    for (var i = 0; i < s.doors.length; i += 1) {
      var d = s.doors[i];
      if (d.name === doorName) {
        return { door: d.state, relay: d.relay, indicators: d.indicators, lockout: s.lockout, name: d.name };
      }
    }
    return {};
  }
  function show(data) {
    var access = data.last_access;
    lastSeen = access ? access.id : 0;
    if (waitingAfter !== null && access && access.id !== waitingAfter) { waitingAfter = null; sayOutcome(data); }
    if (!data.reachable) { errorBox.hidden = false; errorBox.textContent = data.error || say("unreachable"); return; }
    errorBox.hidden = true;
    var s = doorOf(data.status || {});
    var ind = s.indicators || {};
    text("st-door", DOOR[s.door || "unknown"] || String(s.door).replace(/_/g, " "));
    text("st-relay", say(s.relay ? "relay_on" : "relay_off"));
    text("st-lockout", s.lockout && s.lockout.active
      ? (data.lockout_until_local ? say("lockout_active_until", { time: data.lockout_until_local }) : say("lockout_active"))
      : say("lockout_none"));
    light("led-green", ind.green); light("led-red", ind.red); light("buzzer", ind.buzzer);
  }
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (r.status === 401) { window.location.reload(); } return r.json(); })
      .then(show)
      .catch(function () { /* try again next second */ });
  }
  // Count what a key form sends: digits add dots, "*" clears, "#" submits (the outcome follows).
  function keysSent(keys) {
    for (var i = 0; i < keys.length; i += 1) {
      var k = keys.charAt(i);
      // "Checking..." only while the decision is still awaited: a poll during this request may have shown it already.
      if (k === "#") {
        typed = 0;
        if (waitingAfter !== null) { outcome.hidden = false; outcome.textContent = say("checking"); outcome.removeAttribute("data-result"); }
      }
      else if (k === "*") { typed = 0; }
      else if (/[0-9]/.test(k)) { typed += 1; if (typed === 1 && waitingAfter === null) { outcome.hidden = true; } }
    }
    showDots();
  }
  var keyChain = Promise.resolve();  // the key presses not yet answered, in click order
  panel.querySelectorAll("form[data-panel]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var isKeys = /\/press$/.test(form.getAttribute("action") || "");
      var keyInput = form.querySelector("input[name=keys]");
      var keys = keyInput ? keyInput.value : "";
      var body = new URLSearchParams(new FormData(form));
      // Before sending: the decision this "#" causes may be polled before the request returns.
      if (isKeys && keys.indexOf("#") >= 0 && lastSeen !== null) { waitingAfter = lastSeen; }
      if (isKeys && keyInput && keyInput.type === "text") { keyInput.value = ""; }  // never left on screen
      function send() {
        return fetch(form.action, {
          method: "POST", credentials: "same-origin", body: body,
          headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
        })
          .then(function (r) { return r.json(); })
          .then(function (d) {
            if (isKeys && d.ok) { message.textContent = ""; keysSent(String(keys).toUpperCase()); }
            else { message.textContent = d.message || d.error || ""; }
            poll();
          })
          .catch(function () { message.textContent = say("request_failed"); });
      }
      // Keys go one request after another: sent at once, quick clicks travel on parallel connections and
      // may reach the door in another order (a PIN typed right read as a wrong one).
      if (isKeys) { keyChain = keyChain.then(send); } else { send(); }
    });
  });
  window.setInterval(poll, 1000);
  poll();
})();
