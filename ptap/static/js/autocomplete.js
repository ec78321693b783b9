// Name autocompletion for fields rendered by templates/_macros/autocomplete.html.
// An ARIA 1.2 combobox: typing asks the server for the first matches (never the whole
// directory), arrows move in the list, Enter or a click chooses, Escape closes. Choosing sets
// the hidden id field; typing again clears it. Without JavaScript the form still works: the
// server resolves the typed name.
(() => {
  "use strict";
  const MIN_CHARS = 2;
  const DELAY_MS = 200;

  function setup(box) {
    const input = box.querySelector("[role=combobox]");
    const list = box.querySelector("[role=listbox]");
    const status = box.querySelector("[role=status]");
    const hidden = document.getElementById(box.dataset.autocompleteTarget);
    if (!input || !list || !hidden) return;
    let timer = null;
    let active = -1;
    let controller = null;

    function options() {
      return Array.from(list.querySelectorAll("[role=option]"));
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      const all = options();
      if (!all.length) return;
      active = (index + all.length) % all.length;
      all.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({ block: "nearest" });
    }

    function choose(option) {
      hidden.value = option.dataset.id;
      input.value = option.textContent;
      status.textContent = `${option.textContent} choisi.`;
      close();
    }

    function render(items) {
      list.replaceChildren();
      items.forEach((item, i) => {
        const option = document.createElement("li");
        option.id = `${input.id}-option-${i}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.id = String(item.id);
        option.textContent = item.label; // text only: never HTML from the server
        option.addEventListener("mousedown", (event) => {
          event.preventDefault(); // keep the focus in the input
          choose(option);
        });
        list.appendChild(option);
      });
      const open = items.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      status.textContent = open
        ? `${items.length} professionnel(s) proposé(s) : flèches pour parcourir, Entrée pour choisir.`
        : "Aucun professionnel ne correspond.";
    }

    async function search(text) {
      if (controller) controller.abort();
      controller = new AbortController();
      const url = new URL(box.dataset.autocompleteUrl, window.location.origin);
      url.searchParams.set("q", text);
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          signal: controller.signal,
        });
        if (!response.ok) return close();
        render((await response.json()).items || []);
      } catch (error) {
        if (error.name !== "AbortError") close();
      }
    }

    input.addEventListener("input", () => {
      hidden.value = "";
      clearTimeout(timer);
      const text = input.value.trim();
      if (text.length < MIN_CHARS) return close();
      timer = setTimeout(() => search(text), DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (list.hidden) return;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        highlight(active + 1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        highlight(active - 1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(options()[active]);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", close);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-autocomplete-url]").forEach(setup);
  });
})();
