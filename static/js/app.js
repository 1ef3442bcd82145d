// Page behaviour that the CSP allows (no inline scripts): small, progressive enhancements only.
(function () {
  "use strict";

  // Pre-fill a time zone select from the browser on first render (the person can still change it).
  function prefillTimezone(root) {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    root.querySelectorAll("select[data-prefill-timezone]").forEach(function (select) {
      if (select.dataset.prefilled) return;
      select.dataset.prefilled = "1";
      if (zone && select.querySelector('option[value="' + zone + '"]')) select.value = zone;
    });
  }

  // Select the whole invitation link when it is focused, ready to copy.
  function selectOnFocus(root) {
    root.querySelectorAll("input.copy-field").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  function enhance(root) {
    prefillTimezone(root);
    selectOnFocus(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
