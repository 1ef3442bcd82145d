/* The device's outbox: writes made on this phone wait here until the server has them.
 *
 * Used by the pages (static/js/app.js) and by the service worker (Background Sync), so it touches
 * no DOM. Each item is a form post: {id (the form's client_id), userId, url, fields, kind, summary,
 * pending (what it marks, shown meanwhile: see pwa.js), createdAt, seq, status: "waiting" |
 * "invalid", errors}. Items go in the order they were written;
 * one is removed only when a 2xx response echoes its id. A 401 stops the flush and keeps every
 * item (the person is asked to sign in again); a 4xx refusal keeps the item with the reason.
 *
 * A 401 also means the session is gone (signed out elsewhere, password changed, timed out,
 * deactivated): forgetPages() then deletes the pages kept for reading offline; the items stay,
 * and every page is told ("signed-out" on the channel).
 * One flush at a time on the device (pages and worker share a Web Lock); one asked for while
 * one runs here runs once after it, as Workbox's queue does.
 */
(function (global) {
  "use strict";

  var DB_NAME = "iop-outbox";
  var STORE = "items";
  var CHANNEL = "iop-outbox";
  var PAGES_CACHE_PREFIX = "iop-pages-";
  var HTMX_HISTORY_KEY = "htmx-history-cache";
  var FLUSH_LOCK = "iop-outbox-flush";
  var running = null; // this page's (or worker's) flush under way
  var queued = null; // {ids, resolve, promise}: the one flush asked for meanwhile

  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        var store = request.result.createObjectStore(STORE, { keyPath: "id" });
        store.createIndex("seq", "seq");
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.value); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function announce(what) {
    try {
      new BroadcastChannel(CHANNEL).postMessage(typeof what === "string" ? what : "changed");
    } catch (e) { /* old browser */ }
  }

  function all() {
    return withStore("readonly", function (store) {
      var box = { value: [] };
      store.index("seq").openCursor().onsuccess = function (event) {
        var cursor = event.target.result;
        if (cursor) { box.value.push(cursor.value); cursor.continue(); }
      };
      return box;
    });
  }

  function put(item) {
    return withStore("readwrite", function (store) { store.put(item); }).then(announce);
  }

  function add(item) {
    item.seq = Date.now() * 1000 + Math.floor(Math.random() * 1000);
    item.status = "waiting";
    item.errors = [];
    return put(item);
  }

  function remove(id) {
    return withStore("readwrite", function (store) { store.delete(id); }).then(announce);
  }

  function forUser(userId) {
    return all().then(function (items) {
      return items.filter(function (item) { return String(item.userId) === String(userId); });
    });
  }

  /* The person's pages kept for reading offline, and htmx's history key: they must not outlive
   * the session. The outbox is not touched: each item carries its owner's id and is sent only
   * after that person signs in again. Runs in a page and in the service worker (no localStorage). */
  function forgetPages() {
    try {
      if (global.localStorage) global.localStorage.removeItem(HTMX_HISTORY_KEY);
    } catch (e) { /* storage unavailable */ }
    if (!global.caches) return Promise.resolve();
    return global.caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf(PAGES_CACHE_PREFIX) === 0;
      }).map(function (name) { return global.caches.delete(name); }));
    }).catch(function () { /* nothing more this script can do */ });
  }

  function session() {
    return fetch("/api/session", {
      credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
    }).then(function (response) {
      if (response.status === 401) {
        return forgetPages().then(function () { return { signedOut: true }; });
      }
      if (!response.ok) throw new Error("session " + response.status);
      return response.json();
    });
  }

  function send(item, csrf, foregroundIds) {
    var body = new FormData();
    item.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    body.set("csrf_token", csrf);
    var headers = { Accept: "application/json", "X-Outbox": "1", "X-CSRFToken": csrf };
    if (foregroundIds.indexOf(item.id) >= 0) headers["X-Outbox-Foreground"] = "1";
    return fetch(item.url, {
      method: "POST", body: body, credentials: "same-origin", headers: headers,
      redirect: "manual",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var json = type.indexOf("application/json") >= 0 ? response.json() : Promise.resolve({});
      return json.then(function (data) { return { status: response.status, data: data }; });
    });
  }

  /* Send every waiting item of the signed-in person, oldest first.
   * Resolves to {sent: [{id, redirect}], signedOut, offline, invalid}. */
  function flushOnce(foregroundIds) {
    var report = { sent: [], signedOut: false, offline: false, invalid: 0 };
    // Nothing waiting on this device: no request at all (most page loads).
    return all().then(function (items) {
      if (!items.some(function (item) { return item.status === "waiting"; })) return report;
      return flushWaiting({ foregroundIds: foregroundIds }, report);
    }).then(function (done) {
      if (done.signedOut) announce("signed-out");
      return done;
    });
  }

  function flushWaiting(options, report) {
    return session().then(function (who) {
      if (who.signedOut) { report.signedOut = true; return report; }
      var csrf = who.csrf;
      return forUser(who.user).then(function (items) {
        var waiting = items.filter(function (item) { return item.status === "waiting"; });
        report.invalid = items.length - waiting.length;
        var chain = Promise.resolve(true);
        waiting.forEach(function (item) {
          chain = chain.then(function (goOn) {
            if (!goOn) return false;
            return send(item, csrf, options.foregroundIds).then(function (answer) {
              if (answer.status === 400 && answer.data.error === "csrf") {
                return session().then(function (again) {
                  if (again.signedOut) { report.signedOut = true; return null; }
                  csrf = again.csrf;
                  return send(item, csrf, options.foregroundIds);
                });
              }
              return answer;
            }).then(function (answer) {
              if (!answer) return false;
              if (answer.status >= 200 && answer.status < 300 && answer.data.id === item.id) {
                report.sent.push({ id: item.id, redirect: answer.data.redirect, answer: answer.data });
                return remove(item.id).then(function () { return true; });
              }
              if (answer.status === 401) {
                report.signedOut = true;
                return forgetPages().then(function () { return false; });
              }
              if (answer.status === 0) { // a redirect, most likely to sign-in: try again later
                report.signedOut = true;
                return false;
              }
              if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 &&
                  answer.status !== 429) {
                item.status = "invalid";
                item.errors = (answer.data && answer.data.errors) ||
                  [(answer.data && answer.data.detail) || "The server could not accept this."];
                report.invalid += 1;
                return put(item).then(function () { return true; });
              }
              return false; // 5xx, 408, 429: try again later, in order
            });
          });
        });
        return chain.then(function () { return report; });
      });
    }).catch(function () {
      report.offline = true;
      return report;
    });
  }

  /* A Web Lock: released by the browser if its holder goes away. */
  function exclusive(work) {
    var locks = global.navigator && global.navigator.locks;
    if (!locks || typeof locks.request !== "function") return work();
    return locks.request(FLUSH_LOCK, work);
  }

  function start(ids) {
    var run = exclusive(function () { return flushOnce(ids); });
    running = run;
    var after = function () {
      if (!queued) { running = null; return; }
      var next = queued;
      queued = null;
      next.resolve(start(next.ids)); // at once: nothing can slip in between
    };
    run.then(after, after);
    return run;
  }

  /* Now, or once after the running flush (calls meanwhile share it and its report). */
  function flush(options) {
    var id = options && options.foregroundId;
    var ids = id ? [id] : [];
    if (!running) return start(ids);
    if (!queued) {
      queued = { ids: [] };
      queued.promise = new Promise(function (resolve) { queued.resolve = resolve; });
    }
    queued.ids = queued.ids.concat(ids);
    return queued.promise;
  }

  function clearAll() {
    return new Promise(function (resolve) {
      var request = indexedDB.deleteDatabase(DB_NAME);
      request.onsuccess = request.onerror = request.onblocked = function () { resolve(); };
    }).then(announce);
  }

  global.IOPOutbox = {
    add: add, all: all, forUser: forUser, remove: remove, put: put, flush: flush,
    clearAll: clearAll, forgetPages: forgetPages, CHANNEL: CHANNEL,
  };
})(typeof self !== "undefined" ? self : window);
