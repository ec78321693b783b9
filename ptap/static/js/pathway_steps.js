// Drag a step to reorder it (the ↑/↓ buttons stay the keyboard way). The fields are renamed
// after the drop (steps-<n>-…), so the order saved is the order shown.
(function () {
  "use strict";
  var list = document.getElementById("steps");
  if (!list) { return; }
  var dragged = null;

  function renumber() {
    var items = list.querySelectorAll("li.pathway-step");
    items.forEach(function (item, index) {
      item.querySelectorAll("[name^='steps-'], [id^='steps-'], label[for^='steps-']").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) { el.setAttribute(attr, value.replace(/^steps-\d+-/, "steps-" + index + "-")); }
        });
      });
      // The ↑/↓/Supprimer buttons name their step by position: keep them on this one.
      item.querySelectorAll("button[name='op']").forEach(function (button) {
        var kind = (button.value.match(/^(up|down|remove)-\d+$/) || [])[1];
        if (!kind) { return; }
        button.value = kind + "-" + index;
        var label = button.getAttribute("aria-label");
        if (label) { button.setAttribute("aria-label", label.replace(/\d+$/, String(index + 1))); }
        if (kind === "up") { button.disabled = index === 0; }
        if (kind === "down") { button.disabled = index === items.length - 1; }
      });
      var legend = item.querySelector("legend");
      if (legend) { legend.textContent = legend.textContent.replace(/^Étape \d+/, "Étape " + (index + 1)); }
    });
  }

  list.addEventListener("dragstart", function (event) {
    dragged = event.target.closest("li.pathway-step");
    if (dragged) { dragged.classList.add("dragging"); event.dataTransfer.effectAllowed = "move"; }
  });
  list.addEventListener("dragover", function (event) {
    var over = event.target.closest("li.pathway-step");
    if (!dragged || !over || over === dragged) { return; }
    event.preventDefault();
    var box = over.getBoundingClientRect();
    list.insertBefore(dragged, event.clientY > box.top + box.height / 2 ? over.nextSibling : over);
  });
  list.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); dragged = null; renumber(); }
  });
})();
