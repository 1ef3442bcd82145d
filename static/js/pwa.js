/* The installable, offline-first app on the page: service worker, outbox UI, sign-out cleanup,
 * the update banner, the offline banner and the install button. No inline scripts (CSP). */
(function () {
  "use strict";

  var body = document.body;
  var userId = body.dataset.user || "";
  var outbox = window.IOPOutbox;
  var LAST_USER_KEY = "iop-last-user";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = crypto.getRandomValues(new Uint8Array(1))[0] % 16;
      return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
    });
  }
  function say(text) {
    var live = $("#outbox-live");
    if (live) live.textContent = text;
  }

  /* --- Personal data on the device ------------------------------------------------------ */

  /* The kept pages and htmx's history key (static/js/outbox.js, shared with the service worker). */
  function forgetPages() {
    return outbox ? outbox.forgetPages() : Promise.resolve();
  }

  function forgetEverything() {
    try {
      localStorage.removeItem(LAST_USER_KEY);
    } catch (e) { /* storage unavailable */ }
    return Promise.all([forgetPages(), outbox ? outbox.clearAll() : null]);
  }

  // A different person signed in on this phone: the last person's saved pages go.
  if (userId) {
    var last = null;
    try { last = localStorage.getItem(LAST_USER_KEY); } catch (e) { /* ignore */ }
    if (last && last !== userId) forgetPages();
    try { localStorage.setItem(LAST_USER_KEY, userId); } catch (e) { /* ignore */ }
  }

  // No one is signed in here (the sign-in page after a session was revoked or timed out, or any
  // page opened without a session): the kept pages go even if the service worker did not see
  // this page. Unsent items stay, hidden, until their owner signs in again.
  if (body.hasAttribute("data-signed-out")) forgetPages();

  /* --- Service worker and updates --------------------------------------------------------- */

  function showUpdate(registration) {
    var banner = $("#update-banner");
    if (!banner || !registration.waiting) return;
    banner.hidden = false;
    $("button", banner).addEventListener("click", function () {
      var refreshing = false;
      navigator.serviceWorker.addEventListener("controllerchange", function () {
        if (refreshing) return;
        refreshing = true;
        location.reload();
      });
      registration.waiting.postMessage({ type: "SKIP_WAITING" });
    }, { once: true });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (registration) {
      if (registration.waiting && navigator.serviceWorker.controller) showUpdate(registration);
      registration.addEventListener("updatefound", function () {
        var worker = registration.installing;
        if (!worker) return;
        worker.addEventListener("statechange", function () {
          if (worker.state === "installed" && navigator.serviceWorker.controller) {
            showUpdate(registration);
          }
        });
      });
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") registration.update().catch(function () {});
      });
    }).catch(function () { /* the app still works online without it */ });
  }

  /* --- Offline banner for a page opened from the device ---------------------------------- */

  /* Dates are written by dates.js (IopDates), which may run after this script. */
  function withDates(fn) {
    if (window.IopDates) fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  var savedAt = document.documentElement.dataset.offlineSavedAt;
  if (savedAt) {
    var banner = $("#offline-banner");
    if (banner) {
      $("time", banner).setAttribute("datetime", savedAt);
      withDates(function () { $("time", banner).textContent = IopDates.format(savedAt, "time"); });
      banner.hidden = false;
    }
  }

  /* --- Slow network: the worker waits for a page it has no copy of (sw.js); say so ------ */
  var SLOW_AFTER_MS = 3000;
  var slowTimer = null;

  function leaving() {
    var slow = $("#slow-banner");
    if (!slow) return;
    clearTimeout(slowTimer);
    slowTimer = setTimeout(function () { slow.hidden = false; }, SLOW_AFTER_MS);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey ||
        event.ctrlKey || event.shiftKey || event.altKey) return;
    if (link.target && link.target !== "_self") return;
    if (link.hasAttribute("download") || link.origin !== location.origin) return;
    if (link.pathname === location.pathname && link.search === location.search && link.hash) {
      return; // a jump within this page
    }
    leaving();
  });
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented && !event.target.hasAttribute("hx-post")) leaving();
  });
  window.addEventListener("pagehide", function () { clearTimeout(slowTimer); });
  window.addEventListener("pageshow", function () {
    clearTimeout(slowTimer);
    var slow = $("#slow-banner");
    if (slow) slow.hidden = true; // back/forward cache
  });

  /* --- Outbox: queue every write, send when possible ------------------------------------- */

  /* A page opened from the device (offline copy, back/forward cache) holds the client id it was
   * rendered with, which an earlier write from that same copy already used: a new write would
   * replace that item in the outbox, or be taken for a replay by the server and dropped.
   * Every page view therefore starts its write forms with ids of its own. */
  function freshClientIds() {
    document.querySelectorAll("form[data-offline-write] input[name='client_id']")
      .forEach(function (field) { field.value = uuid(); });
  }
  freshClientIds();
  window.addEventListener("pageshow", function (event) { if (event.persisted) freshClientIds(); });

  /* --- Pending marks: what a write waiting on the phone changes on the page ---------------
   * A write form may name what it marks: data-pending-key="practice-12-{day}" ("{name}" is filled
   * from the form's field of that name) is stored with the item. While an item with that key waits
   * to sync, elements naming the key (space-separated lists) show it, with no script of their own:
   *   data-pending-show="k ..."  shown while any of the keys waits, hidden otherwise;
   *   data-pending-hide="k ..."  hidden (and disabled) while any of them waits;
   *   data-pending-done="k ..."  disabled, reading its data-pending-label, while all of them wait.
   * Once the server has the item, the page's own answer replaces them (data-refresh-after-sync). */
  function pendingKeyOf(form, fields) {
    var pattern = form.dataset.pendingKey;
    if (!pattern) return "";
    return pattern.replace(/\{([\w-]+)\}/g, function (whole, name) {
      var pair = fields.filter(function (p) { return p[0] === name; })[0];
      return pair ? pair[1] : "";
    });
  }

  function keysOf(el, attribute) {
    return (el.getAttribute(attribute) || "").split(/\s+/).filter(Boolean);
  }

  function showPending(keys) {
    function anyWaits(el, attribute) {
      return keysOf(el, attribute).some(function (key) { return keys.indexOf(key) >= 0; });
    }
    document.querySelectorAll("[data-pending-show]").forEach(function (el) {
      el.hidden = !anyWaits(el, "data-pending-show");
    });
    document.querySelectorAll("[data-pending-hide]").forEach(function (el) {
      var waits = anyWaits(el, "data-pending-hide");
      el.hidden = waits;
      if ("disabled" in el) el.disabled = waits;
    });
    document.querySelectorAll("[data-pending-done]").forEach(function (el) {
      var mine = keysOf(el, "data-pending-done");
      var done = mine.length > 0 && mine.every(function (key) { return keys.indexOf(key) >= 0; });
      if (el.dataset.pendingOriginal === undefined) el.dataset.pendingOriginal = el.textContent;
      el.textContent = done ? el.dataset.pendingLabel || el.dataset.pendingOriginal
                            : el.dataset.pendingOriginal;
      el.disabled = done;
    });
    // A list whose chosen option just went: choose the first one still offered.
    document.querySelectorAll("select").forEach(function (select) {
      var chosen = select.options[select.selectedIndex];
      if (!chosen || !chosen.disabled) return;
      var next = Array.prototype.filter.call(select.options, function (o) { return !o.disabled; })[0];
      if (next) select.value = next.value;
    });
  }

  /* After a write was kept on the phone: bring its "waiting to sync" line into view (clear of
   * the bottom bar: see scroll-margin in app.css) and keep the keyboard there, as the button
   * that had the focus may now be disabled. */
  function revealPending(form) {
    var scope = form.parentElement || form;
    var note = scope.querySelector("[data-pending-show]:not([hidden])");
    if (!note) return;
    note.scrollIntoView({ block: "nearest" });
    if (note.hasAttribute("tabindex")) note.focus({ preventScroll: true });
  }

  function renderOutbox() {
    if (!outbox || !userId) return Promise.resolve();
    return outbox.forUser(userId).then(function (items) {
      showPending(items.filter(function (item) {
        return item.status === "waiting" && item.pending;
      }).map(function (item) { return item.pending; }));
      var status = $("#outbox-status");
      var count = items.length;
      if (status) {
        // A refused item is not waiting: it is sent only after the person fixes it.
        var refused = items.filter(function (item) { return item.status === "invalid"; }).length;
        var waiting = count - refused;
        var parts = [];
        if (waiting) parts.push(waiting + " waiting to sync");
        if (refused) parts.push(refused + " not sent");
        status.hidden = count === 0;
        $("#outbox-count").textContent = parts.join(" · ");
      }
      // A list shows the items of its kinds; with data-outbox-url, only those sent there (one
      // conversation's messages), oldest last or, with data-outbox-waiting, oldest first and
      // labelled with its words ("Waiting to send").
      document.querySelectorAll("[data-outbox-list]").forEach(function (list) {
        var kinds = (list.dataset.outboxList || "").split(" ");
        var url = list.dataset.outboxUrl;
        var mine = items.filter(function (item) {
          return kinds.indexOf(item.kind) >= 0 && (!url || item.url === url);
        });
        list.hidden = mine.length === 0;
        var ul = $("ul", list);
        ul.textContent = "";
        var ordered = list.dataset.outboxWaiting ? mine : mine.slice().reverse();
        ordered.forEach(function (item) {
          ul.appendChild(outboxItem(item, list.dataset.outboxWaiting));
        });
      });
    });
  }

  function outboxItem(item, waitingWords) {
    var li = document.createElement("li");
    li.className = "entry-item pending";
    var label = document.createElement("p");
    label.className = "badge " + (item.status === "invalid" ? "problem" : "waiting");
    label.textContent = item.status === "invalid" ? "Not sent" : (waitingWords || "Waiting to sync");
    var when = document.createElement("p");
    when.className = "entry-date";
    when.textContent = IopDates.format(item.createdAt, "short_day_time");
    var summary = document.createElement("p");
    summary.className = "entry-excerpt";
    summary.textContent = item.summary;
    li.append(label, when, summary);
    if (item.status === "invalid") {
      var why = document.createElement("p");
      why.className = "error";
      why.textContent = item.errors.join(" ");
      var actions = document.createElement("div");
      actions.className = "actions";
      var fix = document.createElement("button");
      fix.type = "button";
      fix.className = "button-secondary";
      fix.textContent = "Fix and send again";
      fix.addEventListener("click", function () { fixItem(item); });
      var discard = document.createElement("button");
      discard.type = "button";
      discard.className = "button-quiet";
      discard.textContent = "Discard";
      discard.addEventListener("click", function () {
        if (confirm("Discard this unsent item? It cannot be recovered.")) {
          outbox.remove(item.id).then(renderOutbox);
        }
      });
      actions.append(fix, discard);
      li.append(why, actions);
    }
    return li;
  }

  /* Put a refused item back into its form (same id, so it is still stored only once). */
  function fixItem(item) {
    var form = document.querySelector('form[data-offline-write="' + item.kind + '"]');
    if (!form) return;
    form.reset();
    item.fields.forEach(function (pair) {
      var fields = form.querySelectorAll('[name="' + pair[0] + '"]');
      fields.forEach(function (field) {
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.value === pair[1]) field.checked = true;
        } else if (field.name !== "csrf_token") {
          field.value = pair[1];
        }
      });
    });
    outbox.remove(item.id).then(renderOutbox);
    var disclosure = form.closest("details"); // a form behind "New entry"
    if (disclosure) disclosure.open = true;
    form.scrollIntoView();
    var first = form.querySelector("textarea, input:not([type=hidden])");
    if (first) first.focus();
  }

  function summarize(form, fields) {
    var text = "";
    fields.forEach(function (pair) {
      if (pair[0] === "body" && pair[1]) text = pair[1];
    });
    if (!text && form.dataset.outboxSummary) text = form.dataset.outboxSummary; // "PHQ-9 answers"
    if (!text) {
      var mood = form.querySelector('input[name="mood"]:checked');
      if (mood) text = "Mood: " + (mood.labels[0] ? mood.labels[0].textContent.trim() : mood.value);
    }
    return text.length > 200 ? text.slice(0, 200) + "…" : (text || "Saved on this phone");
  }

  function flush(foregroundId) {
    if (!outbox || !userId) return Promise.resolve(null);
    var button = $("#sync-now");
    if (button) button.disabled = true;
    return outbox.flush({ foregroundId: foregroundId }).then(function (report) {
      if (button) button.disabled = false;
      var signIn = $("#outbox-signin");
      if (signIn) signIn.hidden = !report.signedOut;
      var refreshed = [];
      if (report.sent.length && !foregroundId) {
        say(report.sent.length === 1 ? "1 item synced." : report.sent.length + " items synced.");
        // What just left "Kept on this phone" must show up as the server has it, not vanish
        // until a reload: a region that wants this says so with data-refresh-after-sync (and an
        // id); it is replaced by the same region of the page as the server renders it now.
        if (window.htmx) {
          document.querySelectorAll("[data-refresh-after-sync][id]").forEach(function (region) {
            var target = "#" + region.id;
            refreshed.push(Promise.resolve(htmx.ajax("GET", location.pathname + location.search,
              { target: target, swap: "outerHTML", select: target })).catch(function () {}));
          });
        }
      }
      // Pending marks stay until the server's version of their region has arrived.
      return Promise.all(refreshed).then(renderOutbox).then(function () { return report; });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!outbox || !userId || !form.matches("form[data-offline-write]")) return;
    if (!window.indexedDB) return; // the plain form post still works
    event.preventDefault();
    event.stopImmediatePropagation();
    var idField = form.querySelector('input[name="client_id"]');
    var stamp = form.querySelector('input[name="written_at"]'); // filled by app.js
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") fields.push([name, String(value)]);
    });
    var item = {
      id: idField.value, userId: userId, url: form.getAttribute("action") || location.pathname,
      kind: form.dataset.offlineWrite, fields: fields, summary: summarize(form, fields),
      pending: pendingKeyOf(form, fields), createdAt: new Date().toISOString(),
    };
    outbox.add(item).then(function () {
      form.reset();
      idField.value = uuid();
      if (stamp) stamp.value = "";
      return flush(item.id);
    }).then(function (report) {
      var mine = report && report.sent.filter(function (s) { return s.id === item.id; })[0];
      // A form that stays on its page (a conversation's composer) is told, and the page shows
      // the result itself: no navigation between two messages.
      if (mine && form.hasAttribute("data-outbox-stay")) {
        form.dispatchEvent(new CustomEvent("iop:sent", { bubbles: true, detail: mine.answer || {} }));
        return;
      }
      if (mine && mine.redirect) {
        location.assign(mine.redirect);
        return;
      }
      return outbox.forUser(userId).then(function (items) {
        var still = items.filter(function (i) { return i.id === item.id; })[0];
        if (!still) { location.reload(); return; } // sent meanwhile by another tab or the worker
        if (still.status !== "invalid") revealPending(form);
        if (report && report.signedOut) {
          say("Saved on this phone. Sign in again to send it.");
        } else if (still.status === "invalid") {
          say("The server could not accept this. See below to fix it.");
        } else {
          say("Saved on this phone. It will be sent when you are back online.");
          // One more trigger where the browser has it: the worker sends it when the
          // connection returns, even if this page is closed by then.
          if (navigator.serviceWorker && navigator.serviceWorker.ready) {
            navigator.serviceWorker.ready.then(function (registration) {
              if (registration.sync) registration.sync.register("iop-outbox").catch(function () {});
            });
          }
        }
      });
    });
  }, true);

  var syncButton = $("#sync-now");
  if (syncButton) syncButton.addEventListener("click", function () { flush(); });
  window.addEventListener("online", function () { flush(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  try {
    new BroadcastChannel(outbox ? outbox.CHANNEL : "iop-outbox").onmessage = function (event) {
      // Another tab's or the worker's flush found the session gone.
      if (event.data === "signed-out") {
        var signIn = $("#outbox-signin");
        if (signIn) signIn.hidden = false;
      }
      renderOutbox();
    };
  } catch (e) { /* no BroadcastChannel */ }
  if (userId) renderOutbox().then(function () { flush(); });

  /* --- Sign out: nothing waiting is lost silently, nothing personal stays behind ---------- */

  // Every sign-out form (the top bar's, and "Sign out and continue" on an invitation link).
  var signOutForms = document.querySelectorAll("form.signout-form");
  var signOutForm = null; // the one being submitted
  var dialog = $("#signout-dialog");
  Array.prototype.forEach.call(signOutForms, function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed) return;
      event.preventDefault();
      signOutForm = form;
      if (!navigator.onLine) {
        // Signing out ends the session on the server: without a connection it would only wipe
        // this phone and leave the session alive. Say so and change nothing.
        say("You're offline. Signing out needs a connection; nothing was changed.");
        alert("You're offline. Signing out needs a connection; nothing was changed.");
        return;
      }
      var proceed = function () {
        forgetEverything().then(function () {
          form.dataset.confirmed = "1";
          form.submit();
        });
      };
      if (!outbox) { proceed(); return; }
      outbox.forUser(userId).then(function (items) {
        if (!items.length || !dialog) { proceed(); return; }
        $("#signout-count", dialog).textContent = items.length === 1 ? "1 item" : items.length + " items";
        $("#signout-discard", dialog).textContent = "Sign out and discard " +
          (items.length === 1 ? "1 unsent item" : items.length + " unsent items");
        dialog.showModal();
      });
    });
  });
  if (dialog) {
    $("#signout-sync", dialog).addEventListener("click", function () {
      dialog.close();
      flush().then(function () { if (signOutForm) signOutForm.requestSubmit(); });
    });
    $("#signout-discard", dialog).addEventListener("click", function () {
      dialog.close();
      forgetEverything().then(function () {
        signOutForm.dataset.confirmed = "1";
        signOutForm.submit();
      });
    });
    $("#signout-cancel", dialog).addEventListener("click", function () { dialog.close(); });
  }

  /* --- Install ---------------------------------------------------------------------------- */

  // Offered at the end of the page where the browser can install the app (or on an iPhone,
  // with the steps), until the person installs it or says "Not now" (remembered here).
  var INSTALL_DISMISSED_KEY = "iop-install-dismissed";
  var installCard = $("#install-card");
  var installButton = $("#install-app");
  var deferredPrompt = null;

  function installDismissed() {
    try { return localStorage.getItem(INSTALL_DISMISSED_KEY) === "1"; } catch (e) { return false; }
  }
  function offerInstall(part) {
    if (!installCard || installDismissed()) return;
    $(part).hidden = false;
    installCard.hidden = false;
  }
  function closeInstall(remember) {
    if (remember) {
      try { localStorage.setItem(INSTALL_DISMISSED_KEY, "1"); } catch (e) { /* ignore */ }
    }
    if (!installCard) return;
    var hadFocus = installCard.contains(document.activeElement);
    installCard.hidden = true;
    if (hadFocus) $("#main").focus();
  }

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
    if (installButton) installButton.hidden = false;
    offerInstall("#install-prompt-text");
  });
  window.addEventListener("appinstalled", function () { closeInstall(true); });
  if (installButton) {
    installButton.addEventListener("click", function () {
      if (!deferredPrompt) return;
      deferredPrompt.prompt();
      deferredPrompt.userChoice.then(function (choice) {
        // Installed, or declined in the browser's own dialog: either way, don't ask again.
        closeInstall(!!choice);
      }, function () { closeInstall(false); }).finally(function () { deferredPrompt = null; });
    });
  }
  var later = $("#install-later");
  if (later) later.addEventListener("click", function () { closeInstall(true); });
  var standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone;
  var iOS = /iPhone|iPad|iPod/.test(navigator.userAgent) && !window.MSStream;
  if (iOS && !standalone) offerInstall("#ios-install");
})();
