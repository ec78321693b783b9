// Grid editor: show only the inputs that fit each question's type (points for oui/non,
// options for a choice, "counts in the score" for both). Without JavaScript every input
// stays visible with its hint, and the server ignores the ones that do not apply.
(function () {
  "use strict";

  function sync(item) {
    var select = item.querySelector("select[name$='-type']");
    if (!select) { return; }
    item.querySelectorAll("[data-type-only]").forEach(function (block) {
      var fits = block.getAttribute("data-type-only").split(" ").indexOf(select.value) !== -1;
      block.hidden = !fits;
      if (!fits) {
        // A hidden "counts in the score" box must not stay ticked behind the user's back.
        block.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; });
      }
    });
  }

  function init() {
    document.querySelectorAll(".grid-editor-item").forEach(function (item) {
      sync(item);
      var select = item.querySelector("select[name$='-type']");
      if (select) { select.addEventListener("change", function () { sync(item); }); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
