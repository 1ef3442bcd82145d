/* Passkeys (WebAuthn): the page's side. No inline scripts (CSP), no library.
 *
 * - A button [data-passkey="get"] signs in with a passkey, or uses one as a second factor or to
 *   confirm it's you: it posts to data-options-url for the server's options, asks the browser
 *   (navigator.credentials.get: the phone's lock), and posts the answer to data-verify-url.
 * - A form [data-passkey="create"] adds a passkey (navigator.credentials.create) named by its
 *   "name" field.
 * - [data-passkey-only] is shown only where the browser can use passkeys.
 * - The server answers {redirect} (go there) or {error} (shown in [data-passkey-status]), or
 *   403 {confirm} ("Confirm it's you" first).
 * Binary fields travel as base64url, as py_webauthn reads and writes them. The endpoints are POST,
 * which the service worker never caches.
 */
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function toBytes(value) {
    var b64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(data || {}),
    }).then(function (response) {
      return response.json().then(
        function (body) { return { status: response.status, body: body }; },
        function () { return { status: response.status, body: {} }; }
      );
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: toBytes(c.id), transports: c.transports };
    });
  }

  function credentialJSON(credential) {
    var r = credential.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function statusOf(element) {
    var scope = element.closest("form, section, div") || document;
    return scope.querySelector("[data-passkey-status]");
  }

  function say(element, text) {
    var status = statusOf(element);
    if (status) status.textContent = text;
  }

  function follow(answer, element) {
    if (answer.body.redirect) {
      window.location.assign(answer.body.redirect);
      return true;
    }
    if (answer.status === 403 && answer.body.confirm) {
      window.location.assign(answer.body.confirm);
      return true;
    }
    if (answer.status === 401 && answer.body.sign_in) {
      window.location.assign(answer.body.sign_in);
      return true;
    }
    say(element, answer.body.error || "Something went wrong. Please try again.");
    return false;
  }

  function cancelled(error) {
    return error && (error.name === "NotAllowedError" || error.name === "AbortError");
  }

  function usePasskey(button) {
    say(button, "");
    button.disabled = true;
    post(button.getAttribute("data-options-url"))
      .then(function (answer) {
        if (answer.status !== 200) return follow(answer, button);
        var options = answer.body;
        return navigator.credentials
          .get({
            publicKey: {
              challenge: toBytes(options.challenge),
              rpId: options.rpId,
              timeout: options.timeout,
              userVerification: options.userVerification,
              allowCredentials: descriptors(options.allowCredentials),
            },
          })
          .then(function (credential) {
            return post(button.getAttribute("data-verify-url"), {
              credential: credentialJSON(credential),
              next: button.getAttribute("data-next") || "",
            });
          })
          .then(function (result) { follow(result, button); });
      })
      .catch(function (error) {
        say(button, cancelled(error)
          ? "No passkey was used. Try again, or use your password."
          : "This passkey could not be used. Please try again.");
      })
      .then(function () { button.disabled = false; });
  }

  function addPasskey(form) {
    say(form, "");
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    var name = (form.querySelector("input[name=name]") || {}).value || "";
    post(form.getAttribute("data-options-url"))
      .then(function (answer) {
        if (answer.status !== 200) return follow(answer, form);
        var options = answer.body;
        return navigator.credentials
          .create({
            publicKey: {
              rp: options.rp,
              user: {
                id: toBytes(options.user.id),
                name: options.user.name,
                displayName: options.user.displayName,
              },
              challenge: toBytes(options.challenge),
              pubKeyCredParams: options.pubKeyCredParams,
              timeout: options.timeout,
              excludeCredentials: descriptors(options.excludeCredentials),
              authenticatorSelection: options.authenticatorSelection,
              attestation: options.attestation,
            },
          })
          .then(function (credential) {
            return post(form.getAttribute("data-verify-url"), {
              credential: credentialJSON(credential),
              name: name,
            });
          })
          .then(function (result) { follow(result, form); });
      })
      .catch(function (error) {
        say(form, cancelled(error)
          ? "No passkey was added. You can try again."
          : "This passkey could not be added. Please try again.");
      })
      .then(function () { if (button) button.disabled = false; });
  }

  document.querySelectorAll("[data-passkey-only]").forEach(function (element) {
    element.hidden = !supported;
  });
  document.querySelectorAll("[data-passkey]").forEach(function (element) {
    if (!supported) {
      say(element, "This browser can't use passkeys.");
      var control = element.matches("button") ? element : element.querySelector("button");
      if (control) control.disabled = true;
      return;
    }
    if (element.getAttribute("data-passkey") === "create") {
      element.addEventListener("submit", function (event) {
        event.preventDefault();
        addPasskey(element);
      });
    } else {
      element.addEventListener("click", function () { usePasskey(element); });
    }
  });
})();
