// Kunci page words for the scripts: every word a script shows comes from the page, in the login's language,
// as a JSON data block (<script type="application/json" id="...">, rendered by the template; never executed).
// window.kunciTexts(id) gives {texts, say}: texts is the parsed block ({} when absent) and say(key, values)
// is texts[key] with each "{name}" replaced by values[name].
(function () {
  "use strict";
  window.kunciTexts = function (id) {
    var block = document.getElementById(id);
    var texts = block ? JSON.parse(block.textContent) : {};
    function say(key, values) {
      return String(texts[key] || "").replace(/\{([a-z_]+)\}/g, function (all, name) {
        return values && values[name] !== undefined ? String(values[name]) : all;
      });
    }
    return { texts: texts, say: say };
  };
}());
