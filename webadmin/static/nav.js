// Kunci main menu on narrow screens: the "Menu" button shows and hides it (kunci.css shows the button
// only below 40rem and opens the menu when the button's aria-expanded is "true"). Escape closes it and
// returns the focus to the button. Without JavaScript, nojs.css (in <noscript>) keeps the menu open.
(function () {
  "use strict";
  var button = document.querySelector("button.nav-toggle");
  if (!button) { return; }
  function isOpen() { return button.getAttribute("aria-expanded") === "true"; }
  function setOpen(open) { button.setAttribute("aria-expanded", open ? "true" : "false"); }
  button.addEventListener("click", function () { setOpen(!isOpen()); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) { setOpen(false); button.focus(); }
  });
})();
