// The field page's service worker: keeps the page's own files so that it
// opens without signal. Reports never pass through here — the page queues
// them in IndexedDB and sends each once the network returns (field.js).
"use strict";
const CACHE = "alertcast-field-v1";
const SHELL = ["/field/", "/field/field.js", "/field/field.css", "/field/manifest.webmanifest"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
// Network first (an upgraded server never runs a stale page), the cache
// when there is no network. Only the page's files: never the API.
self.addEventListener("fetch", (e) => {
  const u = new URL(e.request.url);
  if (e.request.method !== "GET" || u.origin !== self.location.origin || !SHELL.includes(u.pathname)) return;
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(e.request, copy)); }
    return res;
  }).catch(() => caches.match(e.request, { ignoreSearch: true })));
});
