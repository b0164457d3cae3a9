// Service worker of the share-center pages (scope /center). Pages: network first, the last
// good copy when offline. Fingerprinted assets: cache first (their names change with them).
// Posts are never cached: an offline check-in is queued by the page (checkin.js).
"use strict";
var CACHE = "sharehub-center-v1";
var ASSETS = __ASSETS__;
self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) {
    return c.addAll(ASSETS.concat(["/center"])).catch(function () {});
  }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    ev.respondWith(caches.match(req).then(function (hit) {
      return hit || fetch(req).then(function (res) {
        if (res.ok) { var copy = res.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
        return res;
      });
    }));
    return;
  }
  if (url.pathname === "/center" || url.pathname.indexOf("/center/") === 0) {
    // one copy per page, kept without its query (a "?ok=..." notice is not worth keeping)
    var key = new Request(url.origin + url.pathname);
    ev.respondWith(fetch(req).then(function (res) {
      if (res.ok && res.type === "basic" && !url.search) {
        var copy = res.clone(); caches.open(CACHE).then(function (c) { c.put(key, copy); });
      }
      return res;
    }).catch(function () {
      return caches.match(key).then(function (hit) {
        return hit || caches.match(new Request(url.origin + "/center"));
      }).then(function (hit) {
        return hit || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
      });
    }));
  }
});
