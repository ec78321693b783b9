// Live coordinator dashboard: the page joins its team's room on the /dashboards namespace;
// after each relevant commit the server emits `dashboard_changed {team_id, patient_ids}`
// (ids only). The page refetches those patients' rows over HTTP (access checked again there),
// replaces, inserts or removes them, and recounts the counters; `workload_changed {team_id}`
// makes it refetch the workload table. Same origin, session cookie.
(function () {
  "use strict";

  const root = document.getElementById("dashboard");
  if (!root) return;

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  const tbody = document.getElementById("dashboard-rows");
  const status = document.getElementById("dashboard-live");
  if (!tbody || !status || typeof window.io !== "function") return;

  const teamId = parseInt(root.dataset.teamId, 10);
  const rowsUrl = root.dataset.rowsUrl;
  const filters = root.dataset.filters || "";
  const kinds = JSON.parse(root.dataset.kinds || "{}");
  const MAX = 100;
  let pending = new Set();
  let timer = null;
  let ended = false;
  let joinedOnce = false;

  function say(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function recount() {
    const counts = {};
    Object.keys(kinds).forEach(function (pid) {
      (kinds[pid] || []).forEach(function (k) { counts[k] = (counts[k] || 0) + 1; });
    });
    document.querySelectorAll("[id^='count-']").forEach(function (el) {
      if (el.hasAttribute("data-fixed")) return;  // counted by its own fragment
      const n = counts[el.id.slice(6)] || 0;
      el.textContent = String(n);
      el.closest(".dash-count").classList.toggle("dash-count-some", n > 0);
    });
    const shown = tbody.querySelectorAll("tr[data-patient-id]").length;
    const shownEl = document.getElementById("rows-shown");
    if (shownEl) shownEl.textContent = String(shown);
    const empty = document.getElementById("dashboard-empty");
    if (empty) empty.hidden = shown > 0;
  }

  function insertSorted(row) {
    const key = row.dataset.sortKey || "";
    const rows = tbody.querySelectorAll("tr[data-patient-id]");
    for (let i = 0; i < rows.length; i += 1) {
      if ((rows[i].dataset.sortKey || "") > key) {
        tbody.insertBefore(row, rows[i]);
        return;
      }
    }
    tbody.appendChild(row);
  }

  function apply(ids, html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const update = doc.getElementById("dashboard-kinds-update");
    const fresh = update ? JSON.parse(update.dataset.kinds || "{}") : {};
    let changed = 0;
    ids.forEach(function (pid) {
      const incoming = doc.getElementById("patient-" + pid);
      const existing = document.getElementById("patient-" + pid);
      if (fresh[pid]) { kinds[pid] = fresh[pid]; } else { delete kinds[pid]; }
      if (existing) existing.remove();
      if (incoming) {
        const row = document.importNode(incoming, true);
        row.classList.add("dash-row-updated");
        insertSorted(row);
        changed += 1;
      } else if (existing) {
        changed += 1;
      }
    });
    recount();
    if (changed) {
      say("Alertes mises à jour pour " + changed + " personne" + (changed > 1 ? "s" : "") + ".", "live");
    }
  }

  function refetch(ids) {
    for (let i = 0; i < ids.length; i += MAX) {
      const chunk = ids.slice(i, i + MAX);
      const query = (filters ? filters + "&" : "") +
        chunk.map(function (id) { return "patient_id=" + encodeURIComponent(id); }).join("&");
      fetch(rowsUrl + "?" + query, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.status === 401 || response.status === 403 || response.status === 404) {
            stop("Votre accès à ce tableau de bord a pris fin : rechargez la page.");
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) { if (html !== null && html !== undefined) apply(chunk, html); })
        .catch(function () { say("Mise à jour impossible pour l'instant : rechargez la page si besoin.", "offline"); });
    }
  }

  function refetchRequests() {
    const url = root.dataset.requestsUrl;
    if (!url || ended) return;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        const doc = new DOMParser().parseFromString(html, "text/html");
        const incoming = doc.getElementById("dashboard-requests");
        const existing = document.getElementById("dashboard-requests");
        if (!incoming || !existing) return;
        existing.replaceWith(document.importNode(incoming, true));
        const count = document.getElementById("count-waiting_requests");
        if (count) {
          const n = parseInt(incoming.dataset.count, 10) || 0;
          count.textContent = String(n);
          count.closest(".dash-count").classList.toggle("dash-count-some", n > 0);
        }
        say("Sollicitations mises à jour.", "live");
      })
      .catch(function () { /* the next event or a reload catches up */ });
  }

  function refetchWorkload() {
    const url = root.dataset.workloadUrl;
    if (!url || ended) return;
    fetch(url + (filters ? "?" + filters : ""), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        const doc = new DOMParser().parseFromString(html, "text/html");
        const incoming = doc.getElementById("dashboard-workload");
        const existing = document.getElementById("dashboard-workload");
        if (!incoming || !existing) return;
        existing.replaceWith(document.importNode(incoming, true));
      })
      .catch(function () { /* the next event or a reload catches up */ });
  }

  function schedule(ids) {
    ids.forEach(function (id) { if (Number.isInteger(id)) pending.add(id); });
    if (timer) return;
    timer = window.setTimeout(function () {
      const ids2 = Array.from(pending);
      pending = new Set();
      timer = null;
      if (ids2.length && !ended) refetch(ids2);
    }, 300);
  }

  const socket = window.io("/dashboards", { transports: ["websocket", "polling"] });

  function stop(text) {
    ended = true;
    say(text, "ended");
    socket.disconnect();
  }

  function join() {
    socket.emit("join_team", { team_id: teamId }, function (ack) {
      if (!ack || !ack.ok) {
        stop((ack && ack.error) || "Mise à jour en direct indisponible.");
        return;
      }
      say("Mise à jour en direct : les alertes changent sans recharger la page.", "live");
      if (joinedOnce) {
        // Back after a cut: events may have been missed, refetch every known patient.
        const known = new Set(Object.keys(kinds).map(Number));
        tbody.querySelectorAll("tr[data-patient-id]").forEach(function (tr) {
          known.add(parseInt(tr.dataset.patientId, 10));
        });
        schedule(Array.from(known));
        refetchRequests();
        refetchWorkload();
      }
      joinedOnce = true;
    });
  }

  socket.on("connect", join);
  socket.on("disconnect", function () {
    if (!ended) say("Connexion perdue : nouvelle tentative… Les alertes se mettront à jour au retour.", "offline");
  });
  socket.on("connect_error", function () {
    if (!ended) say("Mise à jour en direct indisponible : rechargez la page pour voir les dernières alertes.", "offline");
  });
  socket.on("rejoin_required", function (data) {
    if (data && data.team_id === teamId) join();
  });
  socket.on("workload_changed", function (data) {
    if (data && data.team_id === teamId) refetchWorkload();
  });
  socket.on("dashboard_changed", function (data) {
    if (!data || data.team_id !== teamId || !Array.isArray(data.patient_ids)) return;
    if (data.requests) refetchRequests();
    if (data.patient_ids.length) schedule(data.patient_ids);
  });
})();
