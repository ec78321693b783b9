// Live meeting screen: the page joins its meeting on the /meetings namespace. After each
// committed change the server emits `meeting_changed {meeting_id, what}` to the meeting's room
// or `item_changed {meeting_id, item_id}` to the room of an agenda patient the viewer may see
// (ids only). The page then refetches its state over HTTP (access checked again there) and
// swaps it in. A decisions form being typed is never replaced. `join_meeting` acks with the
// stamp of the state the server would show now: after a reconnect, a different stamp means
// events were missed, and the page refetches. Without JavaScript, every control is a form.
(function () {
  "use strict";

  const root = document.getElementById("meeting-live");
  const status = document.getElementById("live-connection");
  if (!root || !status || typeof window.io !== "function") return;

  const meetingId = parseInt(root.dataset.meetingId, 10);
  const stateUrl = root.dataset.stateUrl;
  let ended = false;
  let timer = null;
  let dirty = false;

  function say(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function stamp() {
    const state = document.getElementById("live-state");
    return state ? state.dataset.stamp : "";
  }

  function watchForm() {
    dirty = false;
    const form = document.getElementById("decisions-form");
    if (!form) return;
    // An error summary means the server refused what was typed: it is still being edited.
    if (document.getElementById("decisions-errors")) dirty = true;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
  }

  function apply(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const incoming = doc.getElementById("live-state");
    const existing = document.getElementById("live-state");
    if (!incoming || !existing) return;
    const fresh = document.importNode(incoming, true);
    const oldForm = document.getElementById("decisions-form");
    if (dirty && oldForm) {
      // Keep what is being typed: the same patient's form is moved into the new state; for
      // another patient the whole panel stays, with a word that the discussion moved on.
      const newForm = fresh.querySelector("#decisions-form");
      if (newForm && newForm.dataset.itemId === oldForm.dataset.itemId) {
        newForm.replaceWith(oldForm);
      } else {
        const panel = fresh.querySelector("#patient-courant");
        const oldPanel = document.getElementById("patient-courant");
        if (panel && oldPanel) {
          panel.replaceWith(oldPanel);
          say("La discussion est passée à une autre personne : votre saisie est conservée. Enregistrez-la ou rechargez la page.", "live");
        }
      }
    }
    const moved = existing.dataset.currentItem !== fresh.dataset.currentItem;
    existing.replaceWith(fresh);
    // The header (title, time, place, video link) may have changed too.
    const head = doc.getElementById("live-head");
    const oldHead = document.getElementById("live-head");
    if (head && oldHead) oldHead.replaceWith(document.importNode(head, true));
    if (moved) {
      const panel = document.getElementById("patient-courant");
      if (panel) panel.classList.add("live-updated");
    }
    if (!(dirty && oldForm)) watchForm();
  }

  function refetch() {
    if (ended) return;
    fetch(stateUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          stop("Votre accès à cette concertation a pris fin : rechargez la page.");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        apply(html);
        say("En direct : l'écran suit la séance sans recharger la page.", "live");
      })
      .catch(function () { say("Mise à jour impossible pour l'instant : rechargez la page si besoin.", "offline"); });
  }

  function schedule() {
    if (timer) return;
    timer = window.setTimeout(function () { timer = null; refetch(); }, 150);
  }

  const socket = window.io("/meetings", { transports: ["websocket", "polling"] });

  function stop(text) {
    ended = true;
    say(text, "ended");
    socket.disconnect();
  }

  function join() {
    socket.emit("join_meeting", { meeting_id: meetingId }, function (ack) {
      if (!ack || !ack.ok) {
        stop((ack && ack.error) || "Mise à jour en direct indisponible.");
        return;
      }
      say("En direct : l'écran suit la séance sans recharger la page.", "live");
      // Missed events (a cut, or changes between the page load and this join): catch up.
      if (ack.stamp !== stamp()) schedule();
    });
  }

  watchForm();
  socket.on("connect", join);
  socket.on("disconnect", function () {
    if (!ended) say("Connexion perdue : nouvelle tentative… L'écran se remettra à jour au retour.", "offline");
  });
  socket.on("connect_error", function () {
    if (!ended) say("Mise à jour en direct indisponible : rechargez la page pour voir les changements.", "offline");
  });
  socket.on("rejoin_required", join);
  socket.on("access_revoked", function (data) {
    if (data && data.meeting_id === meetingId) stop("Votre accès à cette concertation a pris fin.");
  });
  socket.on("meeting_changed", function (data) {
    if (data && data.meeting_id === meetingId) schedule();
  });
  socket.on("item_changed", function (data) {
    if (data && data.meeting_id === meetingId) schedule();
  });
})();
