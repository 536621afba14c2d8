// Kunci people page: search as you type. After a pause in typing, asks /people/search.json for a
// code prefix or a name fragment and lists the matches (at most a screenful) as links. Built with
// textContent only (names are data, never markup). Without JavaScript the Search button still works.
(function () {
  "use strict";
  var input = document.getElementById("f-q");
  var box = document.getElementById("live-results");
  if (!input || !box) { return; }
  var url = box.getAttribute("data-search-url");
  var delayMs = parseInt(box.getAttribute("data-delay-ms") || "250", 10);
  var timer = null;
  var asked = 0;
  // Every word shown comes from the page, in its language (people/list.html's "live-results-texts" JSON block).
  var pageWords = window.kunciTexts("live-results-texts");  // texts.js
  var TEXTS = pageWords.texts;
  var say = pageWords.say;
  var STATUS = TEXTS.status || {};

  function show(term, answer) {
    var list = document.createElement("ul");
    answer.people.forEach(function (p) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = p.url;
      link.textContent = p.code;
      item.appendChild(link);
      item.appendChild(document.createTextNode(" " + (p.name || "") + " (" + (STATUS[p.status] || p.status) + ")"));
      list.appendChild(item);
    });
    var note = document.createElement("p");
    if (!answer.people.length) {
      note.textContent = say("nobody", { term: term });
    } else {
      note.textContent = say(answer.more ? "first_matches" : "matches", { count: answer.people.length, term: term });
    }
    box.replaceChildren(note, list);
    box.hidden = false;
  }

  function search() {
    var term = input.value.trim();
    var mine = ++asked;
    if (!term) { box.hidden = true; box.replaceChildren(); return; }
    fetch(url + "?q=" + encodeURIComponent(term), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.json();
      })
      .then(function (answer) {
        if (!answer || mine !== asked) { return; }  // a newer search is under way
        if (answer.ok) { show(term, answer); return; }
        var p = document.createElement("p");
        p.textContent = answer.error || say("failed");
        box.replaceChildren(p);
        box.hidden = false;
      })
      .catch(function () { /* keep the last answer; the Search button still works */ });
  }

  input.addEventListener("input", function () {
    if (timer !== null) { window.clearTimeout(timer); }
    timer = window.setTimeout(search, delayMs);
  });
})();
