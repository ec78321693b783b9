// Care-plan pages: htmx plumbing (CSRF header, focus and announcements after a swap, errors).
// Every form also works without JavaScript: htmx only saves the page reload.
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function announce(text) {
    const live = document.getElementById("plan-live");
    if (!live || !text) return;
    // Clear first so that the same message twice is announced twice.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  // Flask-WTF reads the token from this header for htmx requests.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // After a swap (or a page shown again with a failed form): announce the fragment's message
  // and move the focus where the user continues (the add-action form after an addition, the
  // message after a status change or a conflict).
  function settle() {
    const fragment = document.querySelector("[data-announce], [data-focus]");
    if (!fragment) return;
    announce(fragment.getAttribute("data-announce"));
    const selector = fragment.getAttribute("data-focus");
    const focus = selector ? document.querySelector(selector) : null;
    if (focus) focus.focus();
    fragment.removeAttribute("data-announce");
    fragment.removeAttribute("data-focus");
  }

  document.addEventListener("htmx:afterSettle", settle);

  // Draft editor: a removed row leaves the page; the focus goes to the list's add button
  // (never lost on <body>) and the removal is announced.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const elt = event.detail.elt;
    const next = elt && elt.getAttribute ? elt.getAttribute("data-after-remove") : null;
    if (!next || !event.detail.xhr || event.detail.xhr.status !== 200) return;
    window.setTimeout(function () {
      const target = document.querySelector(next);
      if (target) target.focus();
      announce("Ligne retirée. Elle sera supprimée à l'enregistrement du brouillon.");
    }, 0);
  });

  // The reason field of a follow-up form only matters for "Non réalisée": hide it otherwise
  // (unless it holds a value or an error). Without JavaScript it is always shown.
  function syncReason(form) {
    const select = form.querySelector("select");
    const reason = form.querySelector(".reason-field");
    if (!select || !reason) return;
    const input = reason.querySelector("input");
    reason.hidden = select.value !== "not_achieved" && !(input && input.value) &&
      !reason.classList.contains("field-error");
  }

  function syncAllReasons() {
    document.querySelectorAll(".status-form").forEach(syncReason);
  }

  document.addEventListener("change", function (event) {
    const form = event.target.closest ? event.target.closest(".status-form") : null;
    if (form) {
      syncReason(form);
      const reason = form.querySelector(".reason-field");
      if (reason && !reason.hidden && event.target.tagName === "SELECT") {
        reason.querySelector("input").focus();
      }
    }
  });
  document.addEventListener("htmx:afterSettle", syncAllReasons);

  // Answers htmx does not swap (403, 404, 500, network failure): say so next to the form.
  function showFailure(event, text) {
    const form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!form) { announce(text); return; }
    let note = form.querySelector(".htmx-failure");
    if (!note) {
      note = document.createElement("p");
      note.className = "error htmx-failure";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    note.textContent = text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    const why = status === 403 ? "vous n'avez pas le droit de modifier ce plan"
      : status === 404 ? "l'élément n'existe plus (rechargez la page)"
      : status === 400 ? "le formulaire a expiré (rechargez la page)"
      : "erreur du serveur (" + status + ")";
    showFailure(event, "Rien n'a été enregistré : " + why + ".");
  });

  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event, "Rien n'a été enregistré : le serveur ne répond pas. Vérifiez la connexion et réessayez.");
  });

  document.addEventListener("DOMContentLoaded", function () {
    // The conflict panel comes first: screen-reader users hear it before the form.
    const conflict = document.getElementById("conflit");
    if (conflict) conflict.focus();
    else settle();
    syncAllReasons();
  });
})();
