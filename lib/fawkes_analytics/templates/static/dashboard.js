// The dashboards' page script: draws the interactive charts (plotly.js, served by the dashboard
// server) that the kernel's fragments describe, and keeps the address bar in step with the
// view on screen so that a view can be shared by its URL. Widgets replace their HTML whenever
// the view changes, so both are done by a MutationObserver. The first paint the server put in
// the page (.fwk-first-paint: the same precomputed view, before any widget) is removed as soon
// as the widgets show the view: from then on the controls work.
(function () {
  "use strict";

  // plotly.js (4.8 MB) is fetched only when a page has a chart to draw, after the page is up:
  // the first KPI never waits for it.
  var here = document.currentScript ? document.currentScript.src : "";
  var plotlyUrl = here.replace(/dashboard\.js(\?.*)?$/, "plotly.min.js");
  var loading = false;

  function loadPlotly() {
    if (loading || !plotlyUrl) { return; }
    loading = true;
    var script = document.createElement("script");
    script.src = plotlyUrl;
    script.async = true;
    script.onload = function () { drawCharts(document); };
    document.head.appendChild(script);
  }

  // Charts of the widgets' view only: the first paint is about to be replaced.
  var CHARTS = ".fwk-dashboard .fwk-plotly[data-figure]:not([data-drawn])";

  function drawCharts(root) {
    if (!root.querySelector(CHARTS)) { return; }
    if (!window.Plotly) { loadPlotly(); return; }
    root.querySelectorAll(CHARTS).forEach(function (el) {
      el.setAttribute("data-drawn", "1");
      try {
        var figure = JSON.parse(el.getAttribute("data-figure"));
        window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
      } catch (err) {
        el.textContent = "This chart could not be drawn.";
      }
    });
  }

  function syncAddress() {
    var state = document.querySelector(".fwk-state[data-query]");
    if (!state) { return; }
    var query = state.getAttribute("data-query");
    if (window.location.search !== "?" + query) {
      window.history.replaceState(null, "", window.location.pathname + "?" + query);
    }
  }

  function handOver() {
    var first = document.querySelector(".fwk-first-paint");
    // The widgets show a view (its header) or why they cannot (a status banner).
    var widgets = document.querySelector("#rendered_cells .fwk-dashboard :is(.fwk-header, .fwk-banner)");
    if (first && widgets && widgets.offsetParent !== null) {
      first.parentNode.removeChild(first);
    }
  }

  function update() {
    handOver();
    drawCharts(document);
    syncAddress();
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; update(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("load", update);
  document.addEventListener("DOMContentLoaded", update);
})();
