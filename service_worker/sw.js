/* The IOP Companion service worker (served at /sw.js; `self.IOP_CONFIG` is prepended by the server).
 *
 * - Precaches a versioned shell (CSS, htmx, scripts, icons, the offline page, and the crisis
 *   help page, which then opens offline whether or not it was ever visited). Static files are
 *   named by their content's hash; offline, an older name gets the current file.
 * - Pages: network first with a short timeout. The participant's key pages are kept, for the
 *   signed-in person only, in a cache that sign-out deletes; offline, or on a network slower
 *   than the timeout, they open from it with a banner saying when they were saved. Any other
 *   page shows the offline page when offline, and goes on loading when the network is slow.
 * - A navigation that lands on the sign-in page means the session is gone (revoked elsewhere,
 *   timed out): the kept pages are deleted then (the page script does it too; the outbox stays).
 * - Never stores a response to an htmx request as a page, nor anything but a 200.
 * - A new version waits until the person taps "Reload" (the page posts SKIP_WAITING).
 * - Background Sync, where the browser has it, is one more trigger to flush the outbox.
 */
"use strict";

const CONFIG = self.IOP_CONFIG;
const PREFIX = "iop-";
const SHELL_CACHE = `${PREFIX}shell-${CONFIG.version}`;
const PAGES_CACHE = `${PREFIX}pages-v1`; // personal: deleted once the session is gone
const NETWORK_TIMEOUT_MS = 4000;

importScripts("/static/js/outbox.js");

/* The shell, fetched afresh (never from the HTTP cache: a new version must get new files) and
 * without cookies: its pages (/help) are public and are stored rendered for no one. */
function shellRequest(url) {
  const headers = CONFIG.shellPages.includes(url) ? { [CONFIG.shellCopyHeader]: "1" } : {};
  return new Request(url, { cache: "reload", credentials: "omit", headers });
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(CONFIG.shell.map(shellRequest)))
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith(`${PREFIX}shell-`) && name !== SHELL_CACHE)
          .map((name) => caches.delete(name))
      );
      await self.clients.claim();
    })()
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
});

function isOfflinePage(url) {
  return (
    CONFIG.offlinePages.includes(url.pathname) ||
    CONFIG.offlinePagePrefixes.some((prefix) => url.pathname.startsWith(prefix))
  );
}

const SLOW = new Error("slow network");

/* The promise, or SLOW if it has not settled after `ms` (the promise itself goes on). */
function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(SLOW), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); }
    );
  });
}

/* Keep a copy of a page, stamped with the time it was saved, for reading offline. */
async function keepPage(request, response) {
  const html = await response.text();
  const stamped = html.replace(
    /<html([^>]*)>/,
    `<html$1 data-offline-saved-at="${new Date().toISOString()}">`
  );
  const headers = new Headers(response.headers);
  headers.delete("Set-Cookie");
  const cache = await caches.open(PAGES_CACHE);
  await cache.put(
    new Request(new URL(request.url).pathname),
    new Response(stamped, { status: 200, headers })
  );
}

/* What the network answered a navigation: returned as it is; on the way, a kept page is stored
 * afresh, and landing on the sign-in page takes the kept pages away. */
function fromNetwork(event, request, url, response) {
  if (response.ok && new URL(response.url || request.url).pathname === CONFIG.signIn) {
    event.waitUntil(self.IOPOutbox.forgetPages());
    return response;
  }
  // Only a real page for the signed-in person: a 200 that was not redirected (to sign-in).
  if (response.status === 200 && !response.redirected && isOfflinePage(url) &&
      response.headers.get("X-Offline-Page") === "1") {
    event.waitUntil(keepPage(request, response.clone()));
  }
  return response;
}

/* This device's copy of the page, if it has one: a public shell page (crisis help, visited or
 * not), or a page kept for the signed-in person. */
async function copyOf(url) {
  if (CONFIG.shellPages.includes(url.pathname)) {
    const shell = await caches.match(url.pathname, { cacheName: SHELL_CACHE });
    if (shell) return shell;
  }
  if (!isOfflinePage(url)) return undefined;
  const cache = await caches.open(PAGES_CACHE);
  return cache.match(url.pathname);
}

async function offlinePage() {
  const offline = await caches.match("/offline");
  return offline || new Response("You are offline.", { status: 503 });
}

/* Network first. Offline (the fetch fails): the device's copy, else the offline page.
 * Slow (no answer within NETWORK_TIMEOUT_MS): the device's copy, with its "saved at" banner,
 * while the answer still arrives and is kept for next time; without a copy, the page goes on
 * loading (the page it was opened from says "Still loading on a slow connection", see
 * pwa.js): saying "You're offline" while the answer is on its way would be wrong. */
async function handleNavigation(event) {
  const request = event.request;
  const url = new URL(request.url);
  const network = fetch(request).then((response) => fromNetwork(event, request, url, response));
  try {
    return await withTimeout(network, NETWORK_TIMEOUT_MS);
  } catch (error) {
    const copy = await copyOf(url);
    if (error === SLOW) {
      if (copy) {
        event.waitUntil(network.catch(() => undefined)); // kept afresh when it arrives
        return copy;
      }
      try {
        return await network;
      } catch (failed) {
        return offlinePage();
      }
    }
    return copy || offlinePage();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // Writes (forms, the outbox, the passkey (WebAuthn) JSON endpoints) go straight to the network
  // and are never cached: only GETs are handled below.
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.headers.get("HX-Request")) return; // htmx fragments: straight to the network

  if (request.mode === "navigate") {
    event.respondWith(handleNavigation(event));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    // The shell: cache first (it is versioned by the service worker), network for the rest.
    event.respondWith(staticFile(request, url));
  }
});

/* A static file's name carries its content's hash ("app.3f2a9c1b7d.css"). A page kept for
 * offline reading before an update names the older version: offline, it gets the current one. */
const HASHED = /\.[0-9a-f]{10}(\.\w+)$/;

async function staticFile(request, url) {
  const hit = await caches.match(request, { cacheName: SHELL_CACHE });
  if (hit) return hit;
  try {
    return await fetch(request);
  } catch (error) {
    const plain = url.pathname.replace(HASHED, "$1");
    const current = CONFIG.shell.find((path) => path.replace(HASHED, "$1") === plain);
    const kept = current && (await caches.match(current, { cacheName: SHELL_CACHE }));
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("sync", (event) => {
  if (event.tag === "iop-outbox") {
    event.waitUntil(self.IOPOutbox.flush({ foreground: false }));
  }
});

/* --- Push: reminders ---------------------------------------------------------------------
 * Every push shows a notification (iOS stops delivering to an app that shows none), with the
 * generic words the server sends ("You have a new reminder"): a lock screen is seen by anyone
 * holding the phone, so no name of an exercise, a session or a person ever reaches it. A tap
 * focuses an open window of the app and takes it to the payload's url, or opens one there. */
const PUSH_TITLE = "IOP Companion";
const PUSH_BODY = "You have a new reminder";

function appPath(value) {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//")
    ? value
    : "/";
}

function pushMessage(event) {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  return {
    title: typeof data.title === "string" && data.title ? data.title : PUSH_TITLE,
    body: typeof data.body === "string" && data.body ? data.body : PUSH_BODY,
    tag: typeof data.tag === "string" && data.tag ? data.tag : undefined,
    url: appPath(data.url),
    kind: typeof data.kind === "string" ? data.kind : "",
  };
}

self.addEventListener("push", (event) => {
  const message = pushMessage(event);
  event.waitUntil(
    self.registration.showNotification(message.title, {
      body: message.body,
      tag: message.tag,
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      data: { url: message.url, kind: message.kind },
    })
  );
});

async function openApp(path) {
  const url = new URL(path, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    // focus() is allowed only while the browser handles a real tap; navigate() always is, so a
    // refused focus still takes the open window to the url.
    const focused = await open.focus().catch(() => null);
    return (focused || open).navigate(url);
  }
  return self.clients.openWindow(url);
}

/* What a tap on a notification does: close it and open (or focus) the app at its url. */
function notificationClicked(notification) {
  notification.close();
  const data = notification.data || {};
  return openApp(appPath(data.url));
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(notificationClicked(event.notification));
});
