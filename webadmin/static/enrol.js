// Kunci finger enrolment: poll the progress endpoint and show the current step; a step is ticked only once
// the daemon has moved past it. With simulated hardware the page's Touch/Lift buttons drive the sensor.
(function () {
  "use strict";
  var box = document.getElementById("enrol");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var message = document.getElementById("enrol-message");
  var result = document.getElementById("enrol-result");
  var again = document.getElementById("enrol-again");
  var sim = document.getElementById("enrol-sim");
  // Every word shown comes from the page, in its language (finger.html's "enrol-texts" JSON block).
  var pageWords = window.kunciTexts("enrol-texts");  // texts.js
  var TEXTS = pageWords.texts;
  var say = pageWords.say;
  var STEPS = TEXTS.steps || {};
  // The steps in the page's order (rendered from the one step list, controller/core/enrolment.py).
  var order = Array.prototype.map.call(box.querySelectorAll("li[data-step]"), function (li) {
    return li.getAttribute("data-step");
  });
  // done: every step ticked (stored); otherwise the steps before the one the daemon asks for now are done.
  function mark(step, done) {
    var reached = order.indexOf(step);
    box.querySelectorAll("li[data-step]").forEach(function (li) {
      var i = order.indexOf(li.getAttribute("data-step"));
      li.setAttribute("data-state", done || (reached >= 0 && i < reached) ? "done" : (i === reached ? "current" : ""));
    });
  }
  box.querySelectorAll("form[data-enrol-sim]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
      })
        .then(function (r) { return r.json(); })
        .then(function (d) { if (!d.ok) { message.textContent = d.message || say("sim_no_answer"); } })
        .catch(function () { message.textContent = say("request_failed"); });
    });
  });
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.error && !s.done) { message.textContent = s.error; return; }
        message.textContent = (s.done && !s.ok ? s.error : STEPS[s.step]) || s.message || "";
        if (s.done && !s.ok) {
          // Failed: keep the ticks of the steps that were done, mark none as current.
          box.querySelectorAll("li[data-step][data-state=current]").forEach(function (li) { li.setAttribute("data-state", "failed"); });
        } else {
          mark(s.step, s.done && s.ok);
        }
        if (s.done) {
          result.hidden = false;
          if (sim) { sim.hidden = true; }
          if (s.ok) {
            result.textContent = s.slot !== null && s.slot !== undefined ? say("done_in_slot", { slot: s.slot }) : say("done");
          } else {
            message.classList.add("error");
            result.textContent = say("failed", { error: s.error || say("unknown_error") });
            again.hidden = false;
          }
          return;
        }
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
