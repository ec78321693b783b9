// Assessment grids: the score-over-time chart (drawn from its table, which stays the
// accessible source) and the autosave of a draft assessment.
(function () {
  "use strict";

  function drawCharts() {
    if (typeof window.Chart === "undefined") { return; }
    document.querySelectorAll("table[data-grid-chart]").forEach(function (table) {
      var canvas = document.getElementById(table.getAttribute("data-grid-chart"));
      if (!canvas) { return; }
      var labels = [], data = [];
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        labels.push(tr.getAttribute("data-label"));
        data.push(Number(tr.getAttribute("data-value")));
      });
      new window.Chart(canvas, {
        type: "line",
        data: { labels: labels, datasets: [{ label: table.getAttribute("data-series"), data: data,
          borderColor: "#0072B2", backgroundColor: "#0072B2", tension: 0 }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false,
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
    });
  }

  function autosave(form) {
    var status = document.getElementById("autosave-status");
    var revision = form.querySelector("input[name=revision]");
    var timer = null, busy = false, again = false, waiting = null;
    function send() {
      timer = null;
      if (busy) { again = true; return; }
      busy = true;
      var body = new FormData(form);
      body.delete("action");
      fetch(form.getAttribute("data-autosave"), { method: "POST", body: body,
        credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          if (res.ok) {
            revision.value = res.j.revision;
            document.getElementById("grid-score").textContent = res.j.score === null ? "—" : res.j.score;
            document.getElementById("grid-band").textContent = res.j.band ? " : " + res.j.band : "";
            status.textContent = "Brouillon enregistré à " + new Date().toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit" }) + ".";
          } else {
            status.textContent = "Non enregistré : " + (res.j.error || "erreur");
          }
        })
        .catch(function () { status.textContent = "Non enregistré : connexion perdue. Réessayez."; })
        .finally(function () {
          busy = false;
          if (again) { again = false; send(); return; }
          // A button pressed during an autosave is submitted now, with the new revision.
          if (waiting) { var button = waiting; waiting = null; submit(button); }
        });
    }
    function submit(button) {
      if (form.requestSubmit) { form.requestSubmit(button || undefined); } else { form.submit(); }
    }
    // Saving or signing while an autosave is pending or in flight would post an old
    // revision (a 409): wait for the autosave, then submit.
    form.addEventListener("submit", function (e) {
      if (!busy && timer === null) { return; }
      e.preventDefault();
      waiting = e.submitter || form.querySelector("button[type=submit]");
      if (timer !== null) { clearTimeout(timer); send(); }
    });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(send, 400); });
    form.addEventListener("input", function (e) {
      if (e.target.tagName === "TEXTAREA" || e.target.type === "text") {
        clearTimeout(timer); timer = setTimeout(send, 1500);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    var form = document.querySelector("form[data-autosave]");
    if (form) { autosave(form); }
  });
})();
