/* Reminders on this device (web push): the page's side. No inline scripts (CSP).
 *
 * - On every app open (once per browser session) a signed-in page re-reads the browser's
 *   subscription with getSubscription() and sends it to the server, which stores it by endpoint:
 *   `pushsubscriptionchange` is unreliable, so this is how a renewed subscription is noticed.
 * - Elements marked [data-push-panel] show the line that fits this browser
 *   ([data-push-state~="on|off|denied|dismissed|nopush|ios|unsupported|checking|error"]), and
 *   the buttons
 *   [data-push-on] / [data-push-off] turn reminders on (permission is asked only after a tap,
 *   as iOS requires) or off for this device.
 * - iOS delivers push only to an app added to the Home Screen: outside it the page says so.
 */
(function () {
  "use strict";

  var SYNCED_KEY = "iop-push-synced";
  var panels = document.querySelectorAll("[data-push-panel]");
  var signedIn = !!document.querySelector("a.account-link");

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function send(method, url, data) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: data === undefined ? undefined : JSON.stringify(data),
    });
  }

  function isIOS() {
    var ua = navigator.userAgent || "";
    return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
  }

  function standalone() {
    return navigator.standalone === true ||
      (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  }

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function show(state) {
    panels.forEach(function (panel) {
      panel.querySelectorAll("[data-push-state]").forEach(function (line) {
        line.hidden = line.getAttribute("data-push-state").split(" ").indexOf(state) === -1;
      });
      var on = panel.querySelector("[data-push-on]");
      var off = panel.querySelector("[data-push-off]");
      if (on) on.hidden = !(state === "off" || state === "error" || state === "dismissed");
      if (off) off.hidden = state !== "on";
    });
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function registration() {
    return navigator.serviceWorker.ready;
  }

  function store(subscription) {
    return send("POST", "/push/subscriptions", subscription.toJSON()).then(function (response) {
      if (!response.ok) throw new Error("not stored");
      try { sessionStorage.setItem(SYNCED_KEY, "1"); } catch (e) { /* ignore */ }
    });
  }

  /* What this browser can do and has done; refreshes the server's copy once a session. */
  function check() {
    if (!supported()) return Promise.resolve(isIOS() && !standalone() ? "ios" : "unsupported");
    if (Notification.permission === "denied") return Promise.resolve("denied");
    return registration().then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) return "off";
      var synced = false;
      try { synced = sessionStorage.getItem(SYNCED_KEY) === "1"; } catch (e) { /* ignore */ }
      if (synced && !panels.length) return "on";
      return store(subscription).then(function () { return "on"; });
    }).catch(function () {
      return "error";
    });
  }

  /* Permission granted, subscribe() refused: no push service (a private window, a browser
   * without one), unless offline. */
  var NO_PUSH_SERVICE = ["NotAllowedError", "AbortError", "NotSupportedError"];
  function subscribeProblem(error) {
    var name = error && error.name;
    var state = NO_PUSH_SERVICE.indexOf(name) >= 0 && navigator.onLine !== false ? "nopush" : "error";
    return { state: state };
  }

  function turnOn(button) {
    button.disabled = true;
    Notification.requestPermission().then(function (permission) {
      if (permission === "denied") return "denied";
      if (permission !== "granted") return "dismissed"; // the question was closed unanswered
      return Promise.all([
        registration(),
        fetch("/push/key", { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.json(); }),
      ]).then(function (found) {
        return found[0].pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(found[1].publicKey),
        }).catch(function (error) { throw subscribeProblem(error); });
      }).then(store).then(function () {
        window.location.reload(); // the device list now has this device
        return "on";
      });
    }).catch(function (problem) {
      // The key or the subscription did not reach the server: the connection.
      return (problem && problem.state) || "error";
    }).then(function (state) {
      button.disabled = false;
      show(state);
    });
  }

  function turnOff(button) {
    button.disabled = true;
    registration().then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) return null;
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return send("DELETE", "/push/subscriptions", { endpoint: endpoint });
      });
    }).then(function () {
      try { sessionStorage.removeItem(SYNCED_KEY); } catch (e) { /* ignore */ }
      window.location.reload();
    }).catch(function () {
      button.disabled = false;
      show("error");
    });
  }

  panels.forEach(function (panel) {
    var on = panel.querySelector("[data-push-on]");
    var off = panel.querySelector("[data-push-off]");
    if (on) on.addEventListener("click", function () { turnOn(on); });
    if (off) off.addEventListener("click", function () { turnOff(off); });
  });

  if (signedIn && (panels.length || supported())) check().then(show);
})();
