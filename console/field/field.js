// Alertcast field page (灾情报送): a field team sends what is happening —
// casualties, damage, a blocked road, the water level, a shelter's
// occupancy, or that all is well — with photos and the device's position.
// Works without signal: every report goes into an IndexedDB queue first,
// with its own idempotency key, and is sent from there (now, when the
// network returns, or on the next visit); the server stores a key once, so
// a report sent twice is still one report. Plain JS, no library; every
// string from the server or the user is set with textContent.
(() => {
  "use strict";

  const L = {
    zh: {
      title: "灾情报送", other: "ئۇيغۇرچە", name: "用户名", password: "密码", login: "登录", logout: "退出",
      notField: "此页面供现场工作组账号使用（当前账号是 %s）。", badLogin: "用户名或密码错误",
      online: "在线", offline: "无网络", warning: "预警", noWarnings: "当前没有生效的预警", kind: "类型",
      casualties: "人员伤亡", damage: "房屋损毁", road_blocked: "道路阻断", water_level: "水位", shelter_occupancy: "避难所人数", all_well: "平安",
      dead: "死亡", injured: "受伤", missing: "失踪", trapped: "被困", houses_collapsed: "倒塌房屋", houses_damaged: "受损房屋",
      livestock_lost: "牲畜损失", people_displaced: "转移人数", vehicles_stranded: "滞留车辆", level_cm: "水位（厘米）", people: "人数",
      shelter: "避难所编号", text: "情况说明", photo: "拍照 / 照片", location: "位置", useGPS: "使用我的位置",
      locating: "正在定位…", gpsFailed: "无法定位：%s", orVillage: "或选择村", village: "村", none: "—",
      send: "发送", queued: "已保存，联网后自动发送", sent: "已送达指挥中心", queue: "待发送", queueEmpty: "没有待发送的报送",
      waiting: "等待网络", sending: "发送中…", refused: "被拒绝：%s", remove: "删除", mine: "我的报送", noReports: "还没有报送",
      new: "新", acknowledged: "已确认", reply: "指挥中心回复", pickKind: "请选择类型", pickWarning: "请选择预警",
      needLocation: "请使用位置或选择村", tooManyPhotos: "最多4张照片", accuracy: "精度 ±%s 米", assigned: "已指派给 %s",
    },
    ug: {
      title: "ئاپەت مەلۇماتى", other: "中文", name: "ئىشلەتكۈچى نامى", password: "پارول", login: "كىرىش", logout: "چىقىش",
      notField: "بۇ بەت نەق مەيدان گۇرۇپپىسى ھېساباتى ئۈچۈن (بۇ ھېسابات %s).", badLogin: "نام ياكى پارول خاتا",
      online: "توردا", offline: "تور يوق", warning: "ئاگاھلاندۇرۇش", noWarnings: "ھازىر كۈچكە ئىگە ئاگاھلاندۇرۇش يوق", kind: "تۈرى",
      casualties: "ئۆلۈم-يارىلىنىش", damage: "ئۆي ۋەيرانچىلىقى", road_blocked: "يول توسۇلدى", water_level: "سۇ ئورنى", shelter_occupancy: "پاناھلىنىش ئورنىدىكى ئادەم", all_well: "ھەممە ئامان",
      dead: "ئۆلگەن", injured: "يارىلانغان", missing: "دەرىكسىز", trapped: "قامىلىپ قالغان", houses_collapsed: "ئۆرۈلگەن ئۆي", houses_damaged: "بۇزۇلغان ئۆي",
      livestock_lost: "يوقالغان چارۋا", people_displaced: "كۆچۈرۈلگەن ئادەم", vehicles_stranded: "قامالغان ماشىنا", level_cm: "سۇ ئورنى (سانتىمېتىر)", people: "ئادەم سانى",
      shelter: "پاناھلىنىش ئورنى نومۇرى", text: "چۈشەندۈرۈش", photo: "سۈرەتكە تارتىش / سۈرەت", location: "ئورۇن", useGPS: "ئورنۇمنى ئىشلىتىش",
      locating: "ئورۇن بېكىتىلىۋاتىدۇ…", gpsFailed: "ئورۇن بېكىتەلمىدى: %s", orVillage: "ياكى كەنتنى تاللاڭ", village: "كەنت", none: "—",
      send: "يوللاش", queued: "ساقلاندى، تور ئۇلانغاندا ئۆزلۈكىدىن يوللىنىدۇ", sent: "قوماندانلىق مەركىزىگە يەتتى", queue: "يوللىنىشنى ساقلاۋاتىدۇ", queueEmpty: "ساقلاۋاتقان مەلۇمات يوق",
      waiting: "تورنى ساقلاۋاتىدۇ", sending: "يوللىنىۋاتىدۇ…", refused: "رەت قىلىندى: %s", remove: "ئۆچۈرۈش", mine: "مېنىڭ مەلۇماتلىرىم", noReports: "تېخى مەلۇمات يوق",
      new: "يېڭى", acknowledged: "تەستىقلاندى", reply: "قوماندانلىق مەركىزىنىڭ جاۋابى", pickKind: "تۈرىنى تاللاڭ", pickWarning: "ئاگاھلاندۇرۇشنى تاللاڭ",
      needLocation: "ئورنىڭىزنى ئىشلىتىڭ ياكى كەنتنى تاللاڭ", tooManyPhotos: "ئەڭ كۆپ 4 سۈرەت", accuracy: "ئېنىقلىقى ±%s مېتىر", assigned: "%s غا تاپشۇرۇلدى",
    },
  };
  const KINDS = ["casualties", "damage", "road_blocked", "water_level", "shelter_occupancy", "all_well"];
  // The counts each kind carries (dispatch/report.go says the same).
  const COUNTS = {
    casualties: ["dead", "injured", "missing", "trapped"],
    damage: ["houses_collapsed", "houses_damaged", "livestock_lost", "people_displaced"],
    road_blocked: ["vehicles_stranded"], water_level: ["level_cm"], shelter_occupancy: ["people"], all_well: [],
  };
  const MAX_PHOTOS = 4, PHOTO_SIDE = 2048;

  const S = { lang: localStorage.getItem("alertcast.field.lang") === "ug" ? "ug" : "zh", me: null, csrf: "",
    draft: { kind: "", photos: [], pos: null }, flushing: false, online: navigator.onLine };
  const $ = (sel) => document.querySelector(sel);
  const t = (k, ...args) => { let s = (L[S.lang] && L[S.lang][k]) || L.zh[k] || k; for (const a of args) s = s.replace("%s", a); return s; };
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
    return x.slice(0, 8) + "-" + x.slice(8, 12) + "-" + x.slice(12, 16) + "-" + x.slice(16, 20) + "-" + x.slice(20);
  }

  // ---------- the queue (IndexedDB) ----------
  let dbp = null;
  function db() {
    if (!dbp) dbp = new Promise((ok, fail) => {
      const rq = indexedDB.open("alertcast-field", 1);
      rq.onupgradeneeded = () => rq.result.createObjectStore("queue", { keyPath: "key" });
      rq.onsuccess = () => ok(rq.result);
      rq.onerror = () => fail(rq.error);
    });
    return dbp;
  }
  async function store(mode, fn) {
    const d = await db();
    return new Promise((ok, fail) => {
      const tx = d.transaction("queue", mode);
      let out;
      Promise.resolve(fn(tx.objectStore("queue"))).then((v) => { out = v; });
      tx.oncomplete = () => ok(out);
      tx.onerror = () => fail(tx.error);
    });
  }
  const req = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
  const queued = () => store("readonly", (q) => req(q.getAll())).then((all) => all.filter((x) => x.user === (S.me && S.me.name))
    .sort((a, b) => a.created - b.created));
  const putItem = (item) => store("readwrite", (q) => { q.put(item); });
  const dropItem = (key) => store("readwrite", (q) => { q.delete(key); });

  // ---------- network ----------
  async function call(method, path, body, headers) {
    const hd = Object.assign({ Accept: "application/json" }, headers || {});
    if (method !== "GET") hd["X-CSRF-Token"] = S.csrf;
    let payload = body;
    if (body && !(body instanceof FormData) && typeof body !== "string") { payload = JSON.stringify(body); hd["Content-Type"] = "application/json"; }
    let res;
    try { res = await fetch(path, { method, headers: hd, body: payload, credentials: "same-origin", cache: "no-store" }); }
    catch (e) { setNet(false); const err = new Error(t("offline")); err.network = true; throw err; }
    setNet(true);
    let data = null;
    if ((res.headers.get("Content-Type") || "").includes("json")) { try { data = await res.json(); } catch (e) { data = null; } }
    if (!res.ok) {
      const e = (data && data.error) || {};
      const err = new Error(e.message || "HTTP " + res.status);
      err.status = res.status; err.problems = e.problems || [];
      throw err;
    }
    return data;
  }
  function setNet(on) {
    S.online = on;
    const el = $("#net");
    if (el) { el.textContent = on ? t("online") : t("offline"); el.className = "net " + (on ? "on" : "off"); }
  }

  // Sends every queued report of this user, one at a time, oldest first.
  // A network failure stops the round (the next one comes with the
  // network); a refusal (4xx) keeps the report, marked, for the user to see.
  async function flush() {
    if (!S.me) return;
    if (S.flushing) { S.again = true; return; }
    S.flushing = true;
    let sentAny = false;
    try {
      for (const item of await queued()) {
        if (item.refused) continue;
        item.state = "sending"; renderQueue();
        const fd = new FormData();
        fd.append("report", new Blob([JSON.stringify(item.report)], { type: "application/json" }));
        for (const p of item.photos) fd.append("photo", p, "photo.jpg");
        try {
          await call("POST", "/api/v1/reports", fd);
          await dropItem(item.key);
          sentAny = true;
        } catch (e) {
          item.state = "";
          if (e.network || e.status === 401 || e.status === 429 || e.status >= 500 || e.status === 408) {
            if (e.status === 401) { S.me = null; sessionStorage.removeItem("alertcast.field"); render(); }
            break;
          }
          item.refused = e.message + (e.problems.length ? " (" + e.problems.map((p) => p.field).join(", ") + ")" : "");
          await putItem(item);
        }
      }
    } finally {
      S.flushing = false;
      renderQueue();
      if (S.again) { S.again = false; setTimeout(flush, 0); }
      if (sentAny) { note(t("sent"), true); loadMine(); }
    }
  }

  // ---------- reference data (kept for offline use) ----------
  const cache = {
    get: (k) => { try { return JSON.parse(localStorage.getItem("alertcast.field." + k)); } catch (e) { return null; } },
    set: (k, v) => { try { localStorage.setItem("alertcast.field." + k, JSON.stringify(v)); } catch (e) { /* full: keep going */ } },
  };
  async function loadWarnings() {
    try {
      const d = await call("GET", "/api/v1/alerts?state=issued&limit=50");
      cache.set("alerts", (d.alerts || []).map((a) => ({ id: a.id, level: a.level, event: a.event, headline: headline(a), created_at: a.created_at })));
    } catch (e) { /* offline: the cached list */ }
    return cache.get("alerts") || [];
  }
  function headline(a) {
    const tx = a.text || {};
    const pick = tx[S.lang] || tx.zh || tx.ug || Object.values(tx)[0] || {};
    return pick.headline || a.id;
  }
  async function loadVillages() {
    if (!cache.get("villages")) {
      try {
        const d = await call("GET", "/api/v1/regions");
        const out = [];
        for (const tw of d.townships || []) for (const v of tw.villages || []) out.push({ code: v.code, name: tw.name + " · " + v.name });
        cache.set("villages", out);
      } catch (e) { /* offline */ }
    }
    return cache.get("villages") || [];
  }

  // ---------- photos: scaled on the phone (less to send on a weak link) ----------
  async function shrink(file) {
    try {
      const bmp = await createImageBitmap(file, { imageOrientation: "from-image" });
      const k = Math.min(1, PHOTO_SIDE / Math.max(bmp.width, bmp.height));
      const c = document.createElement("canvas");
      c.width = Math.max(1, Math.round(bmp.width * k)); c.height = Math.max(1, Math.round(bmp.height * k));
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      bmp.close && bmp.close();
      return await new Promise((ok) => c.toBlob((b) => ok(b || file), "image/jpeg", 0.85));
    } catch (e) { return file; } // the server decodes and checks it anyway
  }

  // ---------- views ----------
  let noteTimer = 0;
  function note(msg, ok) {
    const el = $("#note");
    if (!el) return;
    el.textContent = msg; el.className = ok ? "okmsg" : "err";
    clearTimeout(noteTimer); noteTimer = setTimeout(() => { el.textContent = ""; }, 8000);
  }

  function render() {
    document.documentElement.lang = S.lang === "ug" ? "ug" : "zh";
    document.documentElement.dir = S.lang === "ug" ? "rtl" : "ltr";
    $("#title").textContent = t("title");
    $("#lang").textContent = t("other");
    setNet(S.online);
    const view = $("#view");
    if (!S.me) { view.replaceChildren(loginView()); return; }
    if (S.me.role !== "viewer") { view.replaceChildren(h("section", null, h("p", { class: "err", text: t("notField", S.me.role) }), logoutButton())); return; }
    view.replaceChildren(formView(), h("section", { id: "queue" }), h("section", { id: "mine" }), h("p", { class: "dim" }, S.me.name + " · ", logoutButton()));
    renderQueue(); renderMine();
  }

  function loginView() {
    const name = h("input", { id: "login-name", autocomplete: "username", required: true });
    const pw = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
    const err = h("p", { class: "err", role: "alert" });
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      try {
        const d = await call("POST", "/api/v1/login", { name: name.value, password: pw.value });
        S.me = { name: d.name, role: d.role }; S.csrf = d.csrf;
        sessionStorage.setItem("alertcast.field", JSON.stringify({ me: S.me, csrf: S.csrf }));
        render(); start();
      } catch (e2) { err.textContent = e2.status === 401 ? t("badLogin") : e2.message; }
    } }, h("label", { for: "login-name", text: t("name") }), name, h("label", { for: "login-password", text: t("password") }), pw,
    h("button", { class: "primary", type: "submit", text: t("login") }), err);
    return h("section", null, form);
  }
  function logoutButton() {
    return h("button", { type: "button", class: "ghost", text: t("logout"), onclick: async () => {
      try { await call("POST", "/api/v1/logout"); } catch (e) { /* offline: forget locally */ }
      S.me = null; sessionStorage.removeItem("alertcast.field"); render();
    } });
  }

  function formView() {
    const d = S.draft;
    const sec = h("section", { id: "compose" });
    const warn = h("select", { id: "warning", onchange: () => { d.alert = warn.value; } });
    const fillWarnings = (list) => {
      warn.replaceChildren(h("option", { value: "", text: list.length ? t("pickWarning") : t("noWarnings") }),
        ...list.map((a) => h("option", { value: a.id, text: a.headline + " (" + a.id + ")" })));
      if (list.some((a) => a.id === d.alert)) warn.value = d.alert;
      else if (list.length === 1) { warn.value = list[0].id; d.alert = list[0].id; }
    };
    fillWarnings(cache.get("alerts") || []);
    loadWarnings().then(fillWarnings);

    const kinds = h("div", { class: "kinds", role: "group" });
    const counts = h("div", { class: "counts", id: "counts" });
    const shelter = h("div", { id: "shelter-box" });
    const drawKind = () => {
      kinds.replaceChildren(...KINDS.map((k) => h("button", { type: "button", "data-kind": k, "aria-pressed": String(d.kind === k), text: t(k),
        onclick: () => { d.kind = k; drawKind(); } })));
      counts.replaceChildren(...(COUNTS[d.kind] || []).map((c) => h("div", null, h("label", { for: "count-" + c, text: t(c) }),
        h("input", { id: "count-" + c, "data-count": c, type: "number", min: 0, max: 1000000, inputmode: "numeric" }))));
      shelter.replaceChildren(...(d.kind === "shelter_occupancy"
        ? [h("label", { for: "shelter-id", text: t("shelter") }), h("input", { id: "shelter-id", autocomplete: "off" })] : []));
    };
    drawKind();

    const text = h("textarea", { id: "text", maxlength: 4000 });
    const thumbs = h("div", { class: "thumbs", id: "thumbs" });
    const drawThumbs = () => thumbs.replaceChildren(...d.photos.map((p) => h("img", { src: p.url, alt: "" })));
    const photo = h("input", { id: "photo", type: "file", accept: "image/*", capture: "environment", onchange: async () => {
      for (const f of photo.files) {
        if (d.photos.length >= MAX_PHOTOS) { note(t("tooManyPhotos")); break; }
        const blob = await shrink(f);
        d.photos.push({ blob, url: URL.createObjectURL(blob) });
      }
      photo.value = ""; drawThumbs();
    } });
    drawThumbs();

    const posText = h("p", { class: "dim", id: "position" });
    const drawPos = () => {
      posText.textContent = d.pos ? d.pos.lat.toFixed(5) + ", " + d.pos.lon.toFixed(5) + " · " + t("accuracy", Math.round(d.pos.acc)) : "";
    };
    drawPos();
    const gps = h("button", { type: "button", id: "use-gps", text: t("useGPS"), onclick: () => {
      if (!navigator.geolocation) { posText.textContent = t("gpsFailed", "—"); return; }
      posText.textContent = t("locating");
      navigator.geolocation.getCurrentPosition((p) => {
        d.pos = { lat: p.coords.latitude, lon: p.coords.longitude, acc: p.coords.accuracy || 0 }; drawPos();
      }, (e) => { posText.textContent = t("gpsFailed", e.message || e.code); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    } });
    const village = h("select", { id: "village", onchange: () => { d.village = village.value; } }, h("option", { value: "", text: t("none") }));
    loadVillages().then((vs) => {
      village.append(...vs.map((v) => h("option", { value: v.code, text: v.name })));
      if (d.village) village.value = d.village;
    });

    const send = h("button", { class: "primary", type: "submit", id: "send", text: t("send") });
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      if (!warn.value) { note(t("pickWarning")); return; }
      if (!d.kind) { note(t("pickKind")); return; }
      if (!d.pos && !village.value) { note(t("needLocation")); return; }
      const c = {};
      for (const inp of counts.querySelectorAll("input[data-count]")) if (inp.value !== "") c[inp.dataset.count] = Number(inp.value);
      const loc = {};
      if (d.pos) { loc.lon = d.pos.lon; loc.lat = d.pos.lat; loc.accuracy_m = d.pos.acc; }
      if (village.value) loc.village = village.value;
      const report = { alert_id: warn.value, kind: d.kind, counts: c, text: text.value, location: loc,
        idempotency_key: uuid(), observed_at: new Date().toISOString() };
      const sid = $("#shelter-id");
      if (sid && sid.value) report.shelter_id = sid.value.trim();
      await putItem({ key: report.idempotency_key, user: S.me.name, created: Date.now(), report, photos: d.photos.map((p) => p.blob) });
      for (const p of d.photos) URL.revokeObjectURL(p.url);
      S.draft = { kind: "", photos: [], pos: d.pos, alert: d.alert, village: d.village };
      render();
      note(t("queued"), true);
      flush();
    } },
    h("label", { for: "warning", text: t("warning") }), warn,
    h("label", { text: t("kind") }), kinds, counts, shelter,
    h("label", { for: "text", text: t("text") }), text,
    h("label", { for: "photo", text: t("photo") }), photo, thumbs,
    h("label", { text: t("location") }), h("div", { class: "row" }, gps), posText,
    h("label", { for: "village", text: t("orVillage") }), village,
    send, h("p", { id: "note", role: "status", "aria-live": "polite" }));
    sec.append(form);
    return sec;
  }

  async function renderQueue() {
    const box = $("#queue");
    if (!box || !S.me) return;
    const items = await queued();
    box.replaceChildren(h("h2", null, t("queue") + " (" + items.length + ")"),
      items.length === 0 ? h("p", { class: "dim", text: t("queueEmpty") }) :
        h("ul", { class: "list", id: "queue-list" }, ...items.map((it) => h("li", { "data-key": it.key },
          h("strong", { text: t(it.report.kind) }), " ", h("span", { class: "dim", text: new Date(it.created).toLocaleTimeString() }), " ",
          h("span", { class: it.refused ? "err" : "dim", text: it.refused ? t("refused", it.refused) : it.state === "sending" ? t("sending") : t("waiting") }),
          it.refused ? h("button", { type: "button", class: "ghost", text: t("remove"), onclick: async () => { await dropItem(it.key); renderQueue(); } }) : null))));
  }

  S.mine = [];
  async function loadMine() {
    try { S.mine = (await call("GET", "/api/v1/reports/mine")).reports || []; cache.set("mine." + S.me.name, S.mine); }
    catch (e) { S.mine = cache.get("mine." + (S.me && S.me.name)) || S.mine; }
    renderMine();
  }
  function renderMine() {
    const box = $("#mine");
    if (!box) return;
    box.replaceChildren(h("h2", { text: t("mine") }), S.mine.length === 0 ? h("p", { class: "dim", text: t("noReports") }) :
      h("ul", { class: "list", id: "mine-list" }, ...S.mine.map((r) => h("li", { "data-id": r.id },
        h("strong", { text: t(r.kind) }), " ", h("span", { class: "chip", text: t(r.state) }), " ",
        h("span", { class: "dim", text: new Date(r.received_at).toLocaleString() }),
        r.text ? h("div", { text: r.text }) : null,
        r.assigned_to ? h("div", { class: "dim", text: t("assigned", r.assigned_to) }) : null,
        ...(r.replies || []).map((p) => h("div", { class: "reply" }, h("span", { class: "dim", text: t("reply") + " · " + p.by + ": " }), h("span", { class: "reply-text", text: p.text })))))));
  }

  // ---------- start ----------
  let timer = 0;
  function start() {
    flush(); loadMine();
    clearInterval(timer);
    // A round every 15 s: the "online" event is not fired on every network
    // change (a captive portal, a tower that comes back), this is.
    timer = setInterval(() => { flush(); if (S.online) loadMine(); }, 15000);
  }
  window.addEventListener("online", () => { setNet(true); flush(); loadMine(); });
  window.addEventListener("offline", () => setNet(false));
  $("#lang").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "ug" : "zh";
    localStorage.setItem("alertcast.field.lang", S.lang);
    render();
  });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => { /* http on a LAN: no offline start */ });
  (async () => {
    try {
      const saved = JSON.parse(sessionStorage.getItem("alertcast.field") || "null");
      if (saved && saved.me) {
        S.me = saved.me; S.csrf = saved.csrf;
        try { const me = await call("GET", "/api/v1/me"); S.me = { name: me.name, role: me.role }; }
        catch (e) { if (!e.network) { S.me = null; sessionStorage.removeItem("alertcast.field"); } }
      }
    } catch (e) { S.me = null; }
    render();
    if (S.me) start();
    document.body.dataset.ready = "1";
  })();
})();
