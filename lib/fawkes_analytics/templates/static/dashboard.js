// The dashboards' page script: draws the interactive charts (plotly.js, served by the dashboard
// server) that the kernel's fragments describe, and keeps the address bar in step with the
// view on screen so that a view can be shared by its URL. Widgets replace their HTML whenever
// the view changes, so both are done by a MutationObserver.
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

  function drawCharts(root) {
    if (!root.querySelector(".fwk-plotly[data-figure]:not([data-drawn])")) { return; }
    if (!window.Plotly) { loadPlotly(); return; }
    root.querySelectorAll(".fwk-plotly[data-figure]:not([data-drawn])").forEach(function (el) {
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

  function update() {
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
