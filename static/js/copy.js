// "Copy" buttons beside links meant to be shared (templates/_copy.html): a button with
// data-copy-target="ID" copies the text of the field with that id and says so in the live region
// beside it. The Clipboard API where the page may use it; otherwise the text is selected and the
// browser's copy command tried, and the person is told how to finish if that fails too.
(function () {
  "use strict";

  var cleared = new WeakMap();

  function say(button, message) {
    var status = button.parentNode.querySelector(".copy-status");
    if (!status) return;
    // Emptied first, so that saying "Copied" twice is announced twice.
    status.textContent = "";
    setTimeout(function () { status.textContent = message; }, 50);
    clearTimeout(cleared.get(status));
    cleared.set(status, setTimeout(function () { status.textContent = ""; }, 6000));
  }

  function selectAndCopy(field) {
    field.focus();
    if (field.select) field.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function copy(button) {
    var field = document.getElementById(button.dataset.copyTarget);
    if (!field) return;
    var text = "value" in field ? field.value : field.textContent;
    function fallback() {
      say(button, selectAndCopy(field) ? "Copied"
        : "The link is selected: copy it with Ctrl+C (or ⌘+C, or your phone's Copy).");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say(button, "Copied"); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy-target]");
    if (button) copy(button);
  });

  // The buttons start hidden: without this script they would do nothing.
  function reveal(root) {
    root.querySelectorAll("button[data-copy-target][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
