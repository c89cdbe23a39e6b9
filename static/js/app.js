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
// A 400 that explains itself (jobs/bad_request.html#problem, sent with HX-Reswap: a filter the
// server refused) is shown where the server says; other error answers are not swapped.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  if (xhr.status === 400 && xhr.getResponseHeader("HX-Reswap")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
