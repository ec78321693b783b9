// Monitoring charts: each chart is drawn from its table, which stays the accessible source.
// A hidden cell (secret statistique) has no value in the table, so no bar in the chart.
(function () {
  "use strict";
  // Okabe-Ito palette (colour-blind safe), as in the PDF report.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];

  function readTable(table) {
    var heads = table.querySelectorAll("thead th[data-series]");
    var series = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
    var labels = [];
    var data = series.map(function () { return []; });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      labels.push(tr.getAttribute("data-label"));
      var cells = tr.querySelectorAll("td[data-value]");
      series.forEach(function (_, i) {
        var raw = cells[i] ? cells[i].getAttribute("data-value") : "";
        data[i].push(raw === "" ? null : Number(raw));
      });
    });
    var allHidden = data.every(function (values) {
      return values.every(function (v) { return v === null || v === 0; });
    });
    if (allHidden) {
      // Every month is hidden or empty: chart the period's totals (the table's last row).
      var totals = table.querySelectorAll("tfoot td");
      var footLabel = table.querySelector("tfoot th");
      labels = [footLabel ? footLabel.textContent.trim() : ""];
      data = series.map(function (_, i) {
        var text = totals[i] ? totals[i].textContent.trim() : "";
        return [/^\d+$/.test(text) ? Number(text) : null];
      });
    }
    return { series: series, labels: labels, data: data };
  }

  function draw(table) {
    var canvas = document.getElementById(table.getAttribute("data-chart"));
    if (!canvas || typeof window.Chart === "undefined") { return; }
    var parsed = readTable(table);
    var stacked = table.getAttribute("data-stacked") === "true";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: parsed.labels,
        datasets: parsed.series.map(function (name, i) {
          return { label: name, data: parsed.data[i], backgroundColor: PALETTE[i % PALETTE.length] };
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-chart]").forEach(draw);
  });
})();
