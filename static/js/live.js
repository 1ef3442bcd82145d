/* Live lists (a conversation's messages): polling, scrolling, Enter to send. No inline scripts.
 *
 * A page opts in with data attributes, naming no feature: [data-live-list] the list that grows
 * at its end, [data-poll] its poller, [data-live-empty] a note removed once something arrives,
 * [data-live-announce] a live region, [data-crisis-slot] help shown when a sent write's answer
 * says `crisis`, textarea[data-enter-sends] a composer.
 *
 * The poller (an element marked data-poll, with hx-get ".../poll?after=N" and hx-trigger "poll")
 * is asked every few seconds while the page is visible, never while it is hidden (a phone in a
 * pocket costs the server nothing). The server answers 204 when nothing is new, or the new
 * messages followed by a new poller that asks after the newest id. */
(function () {
  "use strict";

  var list = document.querySelector("[data-live-list]");
  if (!list) return;
  var live = document.querySelector("[data-live-announce]");
  var timer = null;
  var gone = false; // the server said this conversation is not ours (any more)

  function poller() { return list.querySelector("[data-poll]"); }

  function poll() {
    if (gone) return;
    var el = poller();
    if (el && window.htmx && document.visibilityState === "visible" && navigator.onLine !== false) {
      window.htmx.trigger(el, "poll");
    }
  }

  function start() {
    if (gone) return;
    var el = poller();
    var seconds = el ? parseInt(el.dataset.pollSeconds, 10) || 3 : 3;
    stop();
    timer = setInterval(poll, seconds * 1000);
  }
  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { poll(); start(); } else { stop(); }
  });

  // "The bottom" is the conversation's end, the newest item, not the page's: below the list
  // there may be more (a group's members, a facilitator's settings), and above the page's
  // bottom edge sit what covers it (the composer, sticky, and a fixed navigation bar).
  function newest() {
    var items = list.querySelectorAll("[data-live-item]");
    return items.length ? items[items.length - 1] : null;
  }
  function coveredBelow() {
    var covered = 0;
    var area = document.querySelector("textarea[data-enter-sends]");
    var composer = area && area.form;
    if (composer && getComputedStyle(composer).position === "sticky") {
      covered += composer.getBoundingClientRect().height;
    }
    document.querySelectorAll("nav").forEach(function (bar) {
      if (getComputedStyle(bar).position === "fixed") covered += bar.getBoundingClientRect().height;
    });
    return covered;
  }
  function nearBottom() {
    var item = newest();
    if (!item) return true;
    var edge = item.getBoundingClientRect().bottom;
    return edge >= 0 && edge <= window.innerHeight - coveredBelow() + 200;
  }
  function toBottom() {
    var item = newest();
    if (!item) return;
    var overshoot = item.getBoundingClientRect().bottom - (window.innerHeight - coveredBelow());
    window.scrollBy(0, overshoot + 8);
  }

  // New messages arrived (a poll's answer was swapped in): keep the newest in view if the
  // reader was there, and say it for screen readers.
  var wasNearBottom = true;
  var polled = false; // the swap under way answers the poller (not "load older messages")
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    polled = !!(target && target.matches && target.matches("[data-poll]"));
    if (!polled) return;
    // A refused poll (no longer in the conversation, too many requests) swaps nothing into the
    // list; a 404 also ends polling until the page is opened again.
    if (event.detail.xhr && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = false;
      event.detail.isError = false;
      if (event.detail.xhr.status === 404) { stop(); gone = true; }
      return;
    }
    wasNearBottom = nearBottom();
  });
  document.addEventListener("htmx:afterSettle", function () {
    var fresh = list.querySelectorAll("[data-live-item]:not([data-seen])");
    if (!fresh.length) return;
    var others = 0;
    fresh.forEach(function (item) {
      item.dataset.seen = "1";
      if (!item.hasAttribute("data-mine")) others += 1;
    });
    if (!polled) return;
    var empty = document.querySelector("[data-live-empty]");
    if (empty) empty.remove();
    if (others && live) live.textContent = others === 1 ? "1 new message" : others + " new messages";
    if (wasNearBottom) toBottom();
  });

  // The composer: Enter sends on a laptop (a fine pointer and a keyboard), Shift+Enter makes a
  // new line; on a phone Enter is a new line and the Send button sends.
  var fine = window.matchMedia && window.matchMedia("(pointer: fine)").matches;
  document.querySelectorAll("textarea[data-enter-sends]").forEach(function (area) {
    if (!fine) {
      var hint = area.form && area.form.querySelector(".enter-hint");
      if (hint) hint.hidden = true;
      return;
    }
    area.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      if (area.value.trim() && area.form) area.form.requestSubmit();
    });
  });

  // Sent from this page (through the outbox): bring it in now, and if its words sounded like a
  // crisis, show help at once.
  document.addEventListener("iop:sent", function (event) {
    var answer = event.detail || {};
    if (answer.crisis) {
      var crisis = document.querySelector("[data-crisis-slot]");
      if (crisis) { crisis.hidden = false; crisis.scrollIntoView({ block: "nearest" }); }
    }
    wasNearBottom = true;
    poll();
    var area = document.querySelector("textarea[data-enter-sends]");
    if (area) area.focus();
  });

  list.querySelectorAll("[data-live-item]").forEach(function (item) { item.dataset.seen = "1"; });
  // Open at the newest message, once the page's other scripts have laid it out (the composer's
  // counter shows on DOMContentLoaded), and again when fonts and images have loaded, unless the
  // reader has moved away from it meanwhile.
  function openAtNewest() { if (!location.hash) toBottom(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", openAtNewest);
  } else {
    openAtNewest();
  }
  window.addEventListener("load", function () { if (nearBottom()) openAtNewest(); });
  if (document.visibilityState === "visible") start();
})();
