// Kunci finger enrolment: poll the progress endpoint and show the current step.
(function () {
  "use strict";
  var box = document.getElementById("enrol");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var message = document.getElementById("enrol-message");
  var result = document.getElementById("enrol-result");
  // The steps in the page's order (rendered from the one step list, controller/core/enrolment.py).
  var order = Array.prototype.map.call(box.querySelectorAll("li[data-step]"), function (li) {
    return li.getAttribute("data-step");
  });
  function mark(step, done) {
    var reached = order.indexOf(step);
    box.querySelectorAll("li[data-step]").forEach(function (li) {
      var i = order.indexOf(li.getAttribute("data-step"));
      li.setAttribute("data-state", done || i < reached ? "done" : (i === reached ? "current" : ""));
    });
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.error && !s.done) { message.textContent = s.error; return; }
        message.textContent = s.message || "";
        mark(s.step, s.done && s.ok);
        if (s.done) {
          result.hidden = false;
          if (s.ok) {
            result.textContent = "Done" + (s.slot !== null && s.slot !== undefined ? ": stored in sensor slot " + s.slot : "") + ".";
          } else {
            message.classList.add("error");
            result.textContent = "The enrolment failed: " + (s.error || "unknown error") + ". You can start again.";
          }
          return;
        }
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
