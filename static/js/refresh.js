/* Regions that refresh themselves while the page is seen (the therapist's caseload). No inline
 * scripts: a region opts in with data-refresh-seconds and its own hx-get / hx-trigger="refresh"
 * / hx-swap="outerHTML". Every N seconds, and at once when the page is seen again after being
 * hidden for longer than that, the script triggers "refresh" on it; while the page is hidden
 * (another tab, a closed laptop) nothing is asked. The swap replaces the region with the
 * server's, which carries the same attributes, so it goes on. */
(function () {
  "use strict";

  // Content loaded on request ("Show older") may name where focus goes next, so a keyboard or
  // screen-reader user goes on reading from the first older entry instead of the page's top.
  // (htmx:load fires on each element htmx adds, in the document; an outerHTML swap's own
  // after-events fire on the element it replaced, which has left the document.)
  document.addEventListener("htmx:load", function (event) {
    var added = event.target;
    var next = added.matches && added.matches("[data-focus-after-swap]")
      ? added : added.querySelector && added.querySelector("[data-focus-after-swap]");
    if (!next) return;
    next.removeAttribute("data-focus-after-swap");
    next.focus();
  });

  function regions() { return document.querySelectorAll("[data-refresh-seconds]"); }
  if (!regions().length) return;

  var lastAsked = Date.now();
  var timer = null;

  function seconds() {
    var first = regions()[0];
    return first ? parseInt(first.dataset.refreshSeconds, 10) || 60 : 60;
  }

  function refresh() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    lastAsked = Date.now();
    regions().forEach(function (el) { window.htmx.trigger(el, "refresh"); });
  }

  function start() {
    stop();
    timer = setInterval(refresh, seconds() * 1000);
  }
  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      if (Date.now() - lastAsked >= seconds() * 1000) refresh();
      start();
    } else {
      stop();
    }
  });

  // A refused refresh (signed out, too many requests) leaves the list as it was.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.hasAttribute && target.hasAttribute("data-refresh-seconds") &&
        event.detail.xhr && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = false;
      event.detail.isError = false;
    }
  });

  if (document.visibilityState === "visible") start();
})();
