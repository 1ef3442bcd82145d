// Page behaviour that the CSP allows (no inline scripts): small, progressive enhancements only.
(function () {
  "use strict";

  // Put the device's time zone first in a time zone select, in a group of its own; choose it
  // for a new account (data-prefill-timezone="select"), only offer it where the person already
  // has one ("suggest"). The person can still choose any other.
  function prefillTimezone(root) {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) return;
    root.querySelectorAll("select[data-prefill-timezone]").forEach(function (select) {
      if (select.dataset.prefilled) return;
      select.dataset.prefilled = "1";
      var choose = select.dataset.prefillTimezone === "select";
      if (!choose && select.value === zone) return; // already theirs
      var listed = Array.prototype.find.call(select.options, function (o) { return o.value === zone; });
      var option = document.createElement("option");
      option.value = zone; // an old name the list lacks (Asia/Calcutta) is stored as its new one
      option.textContent = listed ? listed.textContent : zone.replace(/_/g, " ");
      var group = document.createElement("optgroup");
      group.label = "This device's time zone";
      group.appendChild(option);
      select.insertBefore(group, select.firstChild);
      if (choose) option.selected = true;
    });
  }

  // Select the whole invitation link when it is focused, ready to copy.
  function selectOnFocus(root) {
    root.querySelectorAll("input.copy-field").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  // A counter under long text fields, shown only when the limit is near (calm, not nagging).
  function counters(root) {
    root.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var limit = parseInt(area.dataset.counter, 10);
      var out = document.querySelector('[data-counter-for="' + area.name + '"]');
      if (!out || area.dataset.counted) return;
      area.dataset.counted = "1";
      function update() {
        var left = limit - area.value.length;
        out.hidden = left > 2000;
        out.textContent = left >= 0 ? left.toLocaleString() + " characters left"
                                    : (-left).toLocaleString() + " characters over the limit";
      }
      area.addEventListener("input", update);
      // A form emptied after sending (form.reset(), which fires no input event) counts again;
      // the fields change only after the reset event has run.
      if (area.form) {
        area.form.addEventListener("reset", function () { setTimeout(update, 0); });
      }
      update();
    });
  }

  // Writes carry the device's time of writing (the server keeps it beside its time of receipt).
  // A capturing listener runs before htmx reads the form's values.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-offline-write]")) return;
    var field = form.querySelector('input[name="written_at"]');
    if (field && !field.value) field.value = new Date().toISOString();
  }, true);

  // The box-breathing timer: in 4, hold 4, out 4, hold 4. Runs on the page alone (offline too).
  function breathingTimers(root) {
    root.querySelectorAll("[data-breathing-timer]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      var phases = [["in", "Breathe in"], ["hold-in", "Hold"], ["out", "Breathe out"],
                    ["hold-out", "Hold"]];
      var phaseText = box.querySelector(".breathing-phase");
      var countText = box.querySelector(".breathing-count");
      var start = box.querySelector("[data-timer-start]");
      var stop = box.querySelector("[data-timer-stop]");
      var timer = null, phase = 0, count = 4, rounds = 0;
      function show() {
        box.dataset.phase = phases[phase][0];
        phaseText.textContent = phases[phase][1];
        countText.textContent = String(count);
      }
      function tick() {
        count -= 1;
        if (count === 0) {
          count = 4;
          phase = (phase + 1) % phases.length;
          if (phase === 0) rounds += 1;
          if (rounds === 4) { finish("Well done. Four rounds complete."); return; }
          show();
        } else {
          countText.textContent = String(count);
        }
      }
      function finish(message) {
        clearInterval(timer);
        timer = null;
        delete box.dataset.phase;
        phaseText.textContent = message;
        countText.textContent = "";
        start.hidden = false;
        stop.hidden = true;
        start.focus();
      }
      start.addEventListener("click", function () {
        phase = 0; count = 4; rounds = 0;
        start.hidden = true;
        stop.hidden = false;
        show();
        timer = setInterval(tick, 1000);
      });
      stop.addEventListener("click", function () { finish("Stopped. You can start again any time."); });
    });
  }

  // A page that must change at a known moment (a join link opening) reloads itself then:
  // for pages without htmx, such as a family guest's.
  function reloadAt(root) {
    if (window.htmx) return; // htmx pages poll the join area instead
    root.querySelectorAll("[data-reload-at]").forEach(function (el) {
      var wait = new Date(el.dataset.reloadAt).getTime() - Date.now();
      if (wait > 0 && wait < 24 * 3600 * 1000) setTimeout(function () { location.reload(); }, wait + 1000);
    });
  }

  // Times shown in the reader's own time zone (a guest's page knows only UTC on the server).
  function localTimes(root) {
    root.querySelectorAll("time[data-local-time]").forEach(function (el) {
      el.textContent = IopDates.format(el.getAttribute("datetime"), "day_time");
      var zone = document.querySelector("[data-local-zone]");
      if (zone) {
        zone.hidden = false;
        zone.querySelector("span").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone;
      }
    });
  }

  // "in 2 hours", "in 3 days" next to the next session on Today, refreshed every minute
  // (in the page's language, by dates.js).
  function countdowns(root) {
    var items = root.querySelectorAll("[data-countdown]");
    if (!items.length) return;
    function update() {
      items.forEach(function (el) {
        var minutes = Math.round((new Date(el.dataset.countdown).getTime() - Date.now()) / 60000);
        el.textContent = minutes <= 0 ? "(now)" : "(" + IopDates.relative(minutes) + ")";
      });
    }
    update();
    setInterval(update, 60000);
  }

  // A form back with errors (a 422 page or swap): focus its first error box or invalid field.
  function focusFirstError(root) {
    var scope = root === document ? (document.getElementById("main") || document.body) : root;
    var found = scope.querySelectorAll ? scope.querySelectorAll('.error-box[role="alert"], [aria-invalid="true"]') : [];
    var target = Array.prototype.find.call(found, function (el) { return el.getClientRects().length; });
    if (!target || target.contains(document.activeElement)) return;
    if (!target.matches("input, select, textarea, button") && !target.hasAttribute("tabindex")) {
      target.setAttribute("tabindex", "-1");
    }
    target.focus();
  }

  function enhance(root) {
    reloadAt(root);
    localTimes(root);
    countdowns(root);
    breathingTimers(root);
    prefillTimezone(root);
    selectOnFocus(root);
    counters(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); focusFirstError(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target !== document.body) focusFirstError(event.target);
  });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
