// Keep shareable URLs short: drop empty fields from htmx GET requests (the filter form).
document.addEventListener("htmx:configRequest", function (event) {
  if (event.detail.verb !== "get") return;
  var params = event.detail.parameters;
  Object.keys(params).forEach(function (key) {
    if (params[key] === "") delete params[key];
  });
});
// Filter menus (<details class="dropdown">) close on a click outside them or on Escape.
document.addEventListener("click", function (event) {
  document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
    if (!d.contains(event.target)) d.removeAttribute("open");
  });
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.dropdown[open]").forEach(function (d) { d.removeAttribute("open"); });
});
// Polls (hx-trigger="every …") skip their turn while the tab is hidden. This lives here, not in
// a trigger filter, because the Content-Security-Policy forbids the eval such filters need.
document.addEventListener("htmx:confirm", function (event) {
  var trigger = event.detail.elt.getAttribute("hx-trigger") || "";
  if (document.visibilityState !== "visible" && /^\s*every\s/.test(trigger)) event.preventDefault();
});
// A live-refresh answer names the rows it replaces (header X-Removed-Rows, jobs/views/joblist.py):
// their old copies go before the new ones are inserted.
document.addEventListener("htmx:beforeSwap", function (event) {
  var removed = event.detail.xhr.getResponseHeader("X-Removed-Rows");
  if (!removed || event.detail.target.id !== "job-rows") return;
  removed.split(" ").forEach(function (id) {
    var row = document.getElementById("job-" + id);
    if (row) row.remove();
  });
});
// A 400 that explains itself (jobs/bad_request.html#problem, sent with HX-Reswap: a filter the
// server refused) is shown where the server says; other error answers are not swapped.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  if (xhr.status === 400 && xhr.getResponseHeader("HX-Reswap")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
// A filter menu's button names what is ticked, the way templates/jobs/_dropdown.html renders
// it: "Kind: Voice" for one, "Kind" and a count badge for more.
document.addEventListener("change", function (event) {
  var menu = event.target.closest ? event.target.closest("details.dropdown") : null;
  if (!menu) return;
  var ticked = menu.querySelectorAll("input[type=checkbox]:checked");
  var summary = menu.querySelector("summary");
  var picked = summary.querySelector(".dd-picked");
  if (picked) picked.textContent = ticked.length === 1 ? ": " + ticked[0].parentNode.textContent.trim() : "";
  var badge = summary.querySelector(".count");
  if (ticked.length > 1) {
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "count";
      summary.append(" ", badge);
    }
    badge.textContent = String(ticked.length);
  } else if (badge) {
    if (badge.previousSibling && badge.previousSibling.nodeType === Node.TEXT_NODE) badge.previousSibling.remove();
    badge.remove();
  }
});
// Back to the job list: its URL brings the rows back ("Load more" records ?n= in it), this the
// scroll position. Applied again once the counts above the rows have loaded (they change the
// height above the rows, and scroll anchoring would keep the wrong rows in view).
(function () {
  if (!document.getElementById("job-rows")) return;
  var key = function () { return "scroll:" + location.pathname + location.search; };
  window.addEventListener("pagehide", function () {
    try { sessionStorage.setItem(key(), String(Math.round(window.scrollY))); } catch (e) { /* storage off */ }
  });
  var nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
  var y = nav && nav.type === "back_forward" ? Number(sessionStorage.getItem(key()) || 0) : 0;
  if (!(y > 0)) return;
  history.scrollRestoration = "manual";
  window.scrollTo(0, y);
  var again = function (event) {
    if (event.detail.target.id !== "counts") return;
    document.removeEventListener("htmx:afterSettle", again);
    window.scrollTo(0, y);
  };
  document.addEventListener("htmx:afterSettle", again);
})();
// Rows that arrive by live refresh end the list's "No jobs match these filters." (an
// out-of-band delete would log an error whenever the list already had rows).
document.addEventListener("htmx:afterSwap", function (event) {
  var rows = event.detail.target;
  if (rows.id !== "job-rows" || !rows.querySelector("tr[id^=job-]")) return;
  var empty = document.getElementById("no-jobs");
  if (empty) empty.remove();
});
