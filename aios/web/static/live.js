/* aios dashboard: live run statuses over server-sent events (GET /events?runs=…).
   Every element with data-run-status="RUN_ID" shows that run's status; when the run shown by a
   section with data-refresh changes, that section is fetched again with htmx. No inline script. */
(function () {
  "use strict";
  function start() {
    var nodes = document.querySelectorAll("[data-run-status]");
    if (!window.EventSource || nodes.length === 0) { return; }
    var ids = [];
    nodes.forEach(function (n) {
      var id = n.getAttribute("data-run-status");
      if (ids.indexOf(id) < 0) { ids.push(id); }
    });
    var source = new EventSource("/events?runs=" + encodeURIComponent(ids.join(",")));
    var seen = {};
    source.addEventListener("status", function (e) {
      var d = JSON.parse(e.data);
      var changed = seen[d.run] !== undefined && seen[d.run] !== d.status;
      seen[d.run] = d.status;
      document.querySelectorAll("[data-run-status]").forEach(function (n) {
        if (n.getAttribute("data-run-status") === d.run && n.textContent !== d.status) {
          n.textContent = d.status;
          n.className = "status status-" + d.status;
          changed = true;
        }
      });
      var section = document.querySelector("[data-refresh]");
      if (changed && section && section.getAttribute("data-refresh-run") === d.run && window.htmx) {
        window.htmx.ajax("GET", section.getAttribute("data-refresh"),
                         {target: "#" + section.id, select: "#" + section.id, swap: "outerHTML"});
      }
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
