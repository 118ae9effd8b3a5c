// Alertcast resident page: shows the warnings active for one village, live.
// Plain ES2015, no dependencies, no build step: it must work on a cheap
// phone over a slow link. Protocol: see package websocket's documentation.
(function () {
  "use strict";
  var root = document.documentElement;
  var T = {
    zh: {title: "疏勒县预警信息", town: "乡镇", village: "村（社区）", lang: "语言", save: "保存",
      change: "更改", soundOn: "开启提示音", soundOff: "提示音已开启", live: "实时", off: "正在连接…",
      empty: "目前没有生效的预警", drill: "演练 · 非真实预警", todo: "应对措施", issued: "发布", expires: "有效至",
      pick: "请选择您所在的村（社区）", level: {1: "蓝色预警", 2: "黄色预警", 3: "橙色预警", 4: "红色预警"},
      allclear: "预警已解除", cancel: "预警已撤销", ended: "解除/撤销时间", zone: "北京时间",
      here: "本村", shelter: "避难场所", km: "公里", north: "北", full: "已满",
      occ: function (o, c) { return "避难场所现有 " + o + " 人" + (c ? "，可容纳 " + c + " 人" : ""); },
      cap: function (c) { return "避难场所可容纳 " + c + " 人"; },
      at: function (d) { return pad(d.getUTCMonth() + 1) + "月" + pad(d.getUTCDate()) + "日 " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + "（北京时间）"; }},
    ug: {title: "يېڭىشەھەر ناھىيىسى ئاگاھلاندۇرۇش", town: "يېزا-بازار", village: "كەنت (مەھەللە)", lang: "تىل",
      save: "ساقلاش", change: "ئۆزگەرتىش", soundOn: "ئاۋازنى ئېچىش", soundOff: "ئاۋاز ئوچۇق", live: "ئۇلاندى",
      off: "ئۇلىنىۋاتىدۇ…", empty: "ھازىرچە ئاگاھلاندۇرۇش يوق", drill: "مەشىق · ھەقىقىي ئەمەس",
      todo: "قىلىشقا تېگىشلىك ئىشلار", issued: "تارقىتىلغان", expires: "ئاخىرلىشىدۇ",
      pick: "كەنتىڭىزنى تاللاڭ", level: {1: "كۆك ئاگاھلاندۇرۇش", 2: "سېرىق ئاگاھلاندۇرۇش", 3: "ئاپېلسىن رەڭ ئاگاھلاندۇرۇش", 4: "قىزىل ئاگاھلاندۇرۇش"},
      allclear: "ئاگاھلاندۇرۇش ئەمەلدىن قالدۇرۇلدى", cancel: "ئاگاھلاندۇرۇش قايتۇرۇۋېلىندى", ended: "ئاخىرلاشقان ۋاقىت", zone: "بېيجىڭ ۋاقتى",
      here: "كەنت", shelter: "پاناھلىنىش ئورنى", km: "كىلومېتىر", north: "شىمال", full: "تولدى",
      occ: function (o, c) { return "پاناھلىنىش ئورنىدا ھازىر " + o + " ئادەم بار" + (c ? "، " + c + " ئادەم سىغىدۇ" : ""); },
      cap: function (c) { return "پاناھلىنىش ئورنى " + c + " ئادەم سىغىدۇ"; },
      at: function (d) { return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " (بېيجىڭ ۋاقتى)"; }}
  };
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  var $ = function (id) { return document.getElementById(id); };
  var store = {
    get: function (k) { try { return localStorage.getItem("alertcast." + k); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem("alertcast." + k, v); } catch (e) {} }
  };
  var params = new URLSearchParams(location.search);
  var pathCode = (location.pathname.match(/\/(\d{6}|\d{9}|\d{12})\/?$/) || [])[1];
  var region = pathCode || store.get("region");
  // First language: the link's, the resident's own choice, else the
  // server's (the browser's Accept-Language, or the village's majority).
  var lang = params.get("lang") || store.get("lang") || root.getAttribute("data-lang") || "zh";
  if (lang !== "ug") lang = "zh";
  if (pathCode) store.set("region", pathCode);
  if (params.get("lang")) store.set("lang", lang);
  var t = T[lang];
  var warnings = {};   // alert id → warning
  var lastId = "";     // resume point, only for this page's reconnects (the list is not stored)
  var seen = {};       // "alert/version" already announced (sound) on this device
  try { seen = JSON.parse(store.get("seen") || "{}"); } catch (e) { seen = {}; }
  var regionNames = {};

  root.lang = lang;
  root.dir = lang === "ug" ? "rtl" : "ltr";
  $("title").textContent = t.title;
  document.title = t.title;
  $("change").textContent = t.change;
  $("lTown").textContent = t.town;
  $("lVillage").textContent = t.village;
  $("lLang").textContent = t.lang;
  $("save").textContent = t.save;
  $("empty").textContent = t.empty;

  function status(ok) {
    var s = $("status");
    s.textContent = ok ? t.live : t.off;
    s.className = ok ? "status" : "status off";
  }
  status(false);

  // ---- sound and vibration: browsers allow audio only after a tap ----
  var audio = null;
  function soundButton() { $("sound").textContent = audio ? t.soundOff : t.soundOn; }
  function enableSound() {
    try {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!audio && AC) audio = new AC();
      if (audio && audio.resume) audio.resume();
      store.set("sound", "1");
    } catch (e) {}
    soundButton();
  }
  $("sound").onclick = enableSound;
  // Sound was on before: browsers still need a tap on this page to allow it.
  if (store.get("sound") === "1") {
    document.addEventListener("pointerdown", function once() {
      document.removeEventListener("pointerdown", once);
      enableSound();
    });
  }
  soundButton();
  function alarm(level) {
    if (navigator.vibrate) { try { navigator.vibrate(level >= 3 ? [600, 200, 600, 200, 600] : [400, 200, 400]); } catch (e) {} }
    if (!audio) return;
    // A two-tone siren for orange/red, a chime otherwise.
    var now = audio.currentTime, o = audio.createOscillator(), g = audio.createGain();
    o.type = "square";
    o.connect(g); g.connect(audio.destination);
    g.gain.setValueAtTime(0.0001, now);
    g.gain.exponentialRampToValueAtTime(0.3, now + 0.05);
    var n = level >= 3 ? 6 : 2, step = level >= 3 ? 0.5 : 0.35;
    for (var i = 0; i < n; i++) o.frequency.setValueAtTime(i % 2 ? 660 : 960, now + i * step);
    g.gain.setValueAtTime(0.3, now + n * step - 0.05);
    g.gain.exponentialRampToValueAtTime(0.0001, now + n * step);
    o.start(now); o.stop(now + n * step + 0.05);
  }

  // ---- rendering ----
  function text(w) { return w.texts[lang] || w.texts.zh || w.texts[Object.keys(w.texts)[0]] || {}; }
  // Times are Beijing time (UTC+8, no DST), whatever the phone's zone,
  // and say so: the console and the SMS use the same clock.
  function when(s) {
    var d = new Date(s);
    if (isNaN(d)) return "";
    return t.at(new Date(d.getTime() + 8 * 3600 * 1000));
  }
  function until(w) { return new Date(w.lifted ? w.show_until : w.expires).getTime(); }
  function el(tag, cls, txt) { var e = document.createElement(tag); if (cls) e.className = cls; if (txt) e.textContent = txt; return e; }
  function render(fresh) {
    var list = $("list"), now = Date.now();
    var ws = Object.keys(warnings).map(function (k) { return warnings[k]; })
      .filter(function (w) { return until(w) > now; })
      .sort(function (a, b) { return (a.lifted ? 1 : 0) - (b.lifted ? 1 : 0) || b.level - a.level || new Date(b.sent) - new Date(a.sent); });
    list.textContent = "";
    ws.forEach(function (w) {
      var x = text(w), c = el("article", "card l" + w.level);
      c.setAttribute("data-alert", w.alert_id);
      if (w.lifted) {
        // Over or withdrawn: say so and why (the server's wording, the
        // same as the SMS); never the old instruction.
        c.className += " lifted " + w.kind;
        c.appendChild(el("div", "band", w.kind === "cancel" ? t.cancel : t.allclear));
        var lb = el("div", "body");
        if (w.drill) lb.appendChild(el("span", "drill", t.drill));
        lb.appendChild(el("h2", "headline", x.headline));
        if (x.description) lb.appendChild(el("p", "desc reason", x.description));
        lb.appendChild(el("div", "times", t.ended + " " + when(w.sent)));
        c.appendChild(lb);
        list.appendChild(c);
        return;
      }
      if (fresh && fresh[w.alert_id]) c.className += " new";
      // event_name is Chinese only: shown on the Chinese page.
      var ev = (lang === "zh" && w.event_name) ? w.event_name + " · " : "";
      c.appendChild(el("div", "band", ev + (t.level[w.level] || w.level_name)));
      var b = el("div", "body");
      if (w.drill) b.appendChild(el("span", "drill", t.drill));
      b.appendChild(el("h2", "headline", x.headline));
      guideInto(w, b);
      if (x.instruction) { var p = el("p", "todo"); p.textContent = t.todo + ": " + x.instruction; b.appendChild(p); }
      if (x.description) b.appendChild(el("p", "desc", x.description));
      b.appendChild(el("div", "times", t.issued + " " + when(w.sent) + " · " + t.expires + " " + when(w.expires)));
      c.appendChild(b);
      list.appendChild(c);
    });
    $("empty").hidden = ws.some(function (w) { return !w.lifted; });
    loadGuides(ws);
  }

  // ---- evacuation guidance: this village's shelter or direction ----
  // GET /r/{village}/guidance: what this village is told (the SMS's words)
  // with the two points of a small map drawn here, offline: no tiles.
  var guides = {}, guideKey = "", guideAt = 0, guideBusy = false, guideWs = [];
  function loadGuides(ws) {
    guideWs = ws;
    if (!/^\d{12}$/.test(region || "")) return;
    var live = ws.filter(function (w) { return !w.lifted; });
    var key = live.map(function (w) { return w.alert_id + "/" + w.version; }).join(";");
    if (!live.length) { guides = {}; guideKey = key; return; }
    if (guideBusy || (key === guideKey && Date.now() - guideAt < 60000)) return;
    guideBusy = true;
    var x = new XMLHttpRequest();
    x.open("GET", "/r/" + region + "/guidance");
    x.onloadend = function () {
      guideBusy = false;
      var g = null;
      try { if (x.status === 200) g = JSON.parse(x.responseText); } catch (e) {}
      guideKey = key;
      if (!g) { guideAt = Date.now() - 50000; setTimeout(function () { loadGuides(guideWs); }, 10000); return; }
      guides = {}; guideAt = Date.now();
      g.guidance.forEach(function (e) { guides[e.alert_id] = e; });
      var cards = document.querySelectorAll("article[data-alert]");
      for (var i = 0; i < cards.length; i++) {
        var w = warnings[cards[i].getAttribute("data-alert")], b = cards[i].querySelector(".body");
        if (w && !w.lifted && b) guideInto(w, b);
      }
      loadGuides(guideWs); // the warnings changed meanwhile
    };
    x.send();
  }
  var NS = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, txt) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (txt) e.textContent = txt;
    return e;
  }
  var BEARING = {N: 0, NE: 45, E: 90, SE: 135, S: 180, SW: 225, W: 270, NW: 315};
  // gmap draws the village, the shelter and the straight line between
  // them (or, moving away from a zone, an arrow the way to go), north up.
  function gmap(g) {
    var W = 240, H = 150, P = 28, s = sv("svg", {"class": "gmap", viewBox: "0 0 " + W + " " + H, role: "img"});
    var label = (g.direction && g.direction[lang] ? g.direction[lang] + " " : "") + (g.distance_km ? g.distance_km + " " + t.km : "");
    s.setAttribute("aria-label", label);
    var a, b, k = Math.cos(g.from.lat * Math.PI / 180);
    if (g.shelter) {
      var dx = (g.shelter.at.lon - g.from.lon) * k, dy = g.shelter.at.lat - g.from.lat;
      var sc = Math.min((W - 2 * P) / (Math.abs(dx) || 1e-9), (H - 2 * P) / (Math.abs(dy) || 1e-9));
      if (!isFinite(sc) || sc > 1e7) sc = 0;
      var cx = W / 2 - dx * sc / 2, cy = H / 2 + dy * sc / 2;
      a = [cx, cy]; b = [cx + dx * sc, cy - dy * sc];
    } else {
      var r = (BEARING[g.compass] || 0) * Math.PI / 180, len = Math.min(W, H) / 2 - P / 2;
      a = [W / 2 - Math.sin(r) * len / 2, H / 2 + Math.cos(r) * len / 2];
      b = [a[0] + Math.sin(r) * len, a[1] - Math.cos(r) * len];
    }
    s.appendChild(sv("line", {"class": "route", x1: a[0], y1: a[1], x2: b[0], y2: b[1]}));
    // An arrowhead at the end: the way to go.
    var ang = Math.atan2(b[1] - a[1], b[0] - a[0]), h = 10;
    if (g.shelter) { b = [b[0] - Math.cos(ang) * 7, b[1] - Math.sin(ang) * 7]; }
    s.appendChild(sv("polygon", {"class": "head", points: [b, [b[0] - h * Math.cos(ang - 0.45), b[1] - h * Math.sin(ang - 0.45)],
      [b[0] - h * Math.cos(ang + 0.45), b[1] - h * Math.sin(ang + 0.45)]].map(function (p) { return p.join(","); }).join(" ")}));
    s.appendChild(sv("circle", {"class": "pt village", cx: a[0], cy: a[1], r: 6}));
    s.appendChild(sv("text", {x: a[0], y: a[1] + 18, "text-anchor": "middle"}, t.here));
    if (g.shelter) {
      var e = [b[0] + Math.cos(ang) * 7, b[1] + Math.sin(ang) * 7];
      s.appendChild(sv("circle", {"class": "pt shelter", cx: e[0], cy: e[1], r: 7}));
      s.appendChild(sv("text", {x: e[0], y: e[1] + (e[1] > H - P ? -12 : 20), "text-anchor": "middle"}, t.shelter));
    }
    if (label) s.appendChild(sv("text", {"class": "dist", x: W / 2, y: 14, "text-anchor": "middle"}, label));
    s.appendChild(sv("text", {"class": "north", x: W - 10, y: 14, "text-anchor": "end"}, "↑" + t.north));
    return s;
  }
  function guideInto(w, body) {
    var old = body.querySelector(".guide");
    if (old) body.removeChild(old);
    var g = guides[w.alert_id];
    if (!g || g.version !== w.version) return;
    var d = el("section", "guide");
    d.appendChild(el("p", "gtext", g.text[lang] || g.text.zh));
    if (g.from && (g.shelter || g.compass)) d.appendChild(gmap(g));
    var sh = g.shelter;
    if (sh && sh.occupancy != null) {
      var full = sh.capacity && sh.occupancy >= sh.capacity;
      d.appendChild(el("p", "occ" + (full ? " full" : ""), t.occ(sh.occupancy, sh.capacity) + (full ? " · " + t.full : "")));
    } else if (sh && sh.capacity) d.appendChild(el("p", "occ", t.cap(sh.capacity)));
    var h2 = body.querySelector("h2");
    body.insertBefore(d, h2 ? h2.nextSibling : body.firstChild);
  }
  function announce(w, fresh) {
    var k = w.alert_id + "/" + w.version;
    if (seen[k]) return;
    seen[k] = 1;
    fresh[w.alert_id] = true;
    var keys = Object.keys(seen);
    if (keys.length > 200) keys.slice(0, keys.length - 200).forEach(function (x) { delete seen[x]; });
    store.set("seen", JSON.stringify(seen));
    alarm(w.level);
  }

  // ---- messages ----
  function onMessage(m) {
    var fresh = {};
    if (m.type === "snapshot") {
      warnings = {};
      m.warnings.forEach(function (w) { warnings[w.alert_id] = w; announce(w, fresh); });
      (m.ended || []).forEach(function (w) { warnings[w.alert_id] = w; });
      lastId = m.id || lastId;
    } else if (m.type === "warning") {
      var cur = warnings[m.alert_id];
      if (!cur || cur.version <= m.version) {
        warnings[m.alert_id] = m;
        if (!m.lifted) announce(m, fresh);
      }
      lastId = m.id;
    } else if (m.type === "resumed") {
      lastId = m.id || lastId;
    } else if (m.type === "error") {
      if (window.console) console.warn("alertcast:", m.message);
      return;
    } else return;
    render(fresh);
  }

  // ---- connection: WebSocket, resume with last id, SSE fallback ----
  var delay = 1000, wsFailures = 0, useSSE = params.get("sse") === "1", conn = null;
  function retry() {
    status(false);
    var d = delay + Math.random() * delay;
    delay = Math.min(delay * 2, 30000);
    setTimeout(connect, d);
  }
  function url(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }
  function connect() {
    if (useSSE || !window.WebSocket) return connectSSE();
    var opened = false, ws;
    try { ws = new WebSocket(url(root.getAttribute("data-ws"))); } catch (e) { useSSE = true; return connectSSE(); }
    conn = ws;
    ws.onopen = function () {
      opened = true; wsFailures = 0; delay = 1000; status(true);
      var sub = {type: "subscribe", regions: [region], lang: lang};
      if (lastId) sub.last_id = lastId;
      ws.send(JSON.stringify(sub));
    };
    ws.onmessage = function (ev) { try { onMessage(JSON.parse(ev.data)); } catch (e) {} };
    ws.onclose = function (ev) {
      if (conn !== ws) return;
      if (!opened && ++wsFailures >= 2) useSSE = true; // WebSocket blocked on this network
      if (ev.code === 4002) return status(false);      // refused as abusive: stop
      retry();
    };
  }
  function connectSSE() {
    if (!window.EventSource) return;
    var q = "?region=" + encodeURIComponent(region) + "&lang=" + lang + (lastId ? "&last_id=" + encodeURIComponent(lastId) : "");
    var es = new EventSource(root.getAttribute("data-sse") + q);
    conn = es;
    ["snapshot", "warning", "resumed", "error"].forEach(function (name) {
      es.addEventListener(name, function (ev) { status(true); try { onMessage(JSON.parse(ev.data)); } catch (e) {} });
    });
    es.onopen = function () { status(true); };
    es.onerror = function () { status(false); }; // EventSource reconnects with Last-Event-ID itself
  }

  // ---- choosing the village (once) ----
  function fill(sel, items, value) {
    sel.textContent = "";
    items.forEach(function (r) {
      var o = el("option", "", (lang === "ug" && r.name_ug) ? r.name_ug : r.name);
      o.value = r.code;
      if (r.code === value) o.selected = true;
      sel.appendChild(o);
    });
  }
  function setup(regions) {
    var town = $("town"), village = $("village"), form = $("setup");
    fill(town, regions.townships, region && region.slice(0, 9));
    function villages() {
      var tw = regions.townships.filter(function (x) { return x.code === town.value; })[0];
      fill(village, tw ? [tw].concat(tw.villages) : [], region);
    }
    town.onchange = villages;
    villages();
    form.querySelector("input[value=" + lang + "]").checked = true;
    form.onsubmit = function (e) {
      e.preventDefault();
      var l = form.querySelector("input[name=lang]:checked").value;
      store.set("region", village.value);
      store.set("lang", l);
      location.href = "/r/" + village.value + "?lang=" + l;
    };
  }
  function loadRegions(cb) {
    var x = new XMLHttpRequest();
    x.open("GET", "/r/" + root.getAttribute("data-regions"));
    x.onload = function () { try { cb(JSON.parse(x.responseText)); } catch (e) {} };
    x.send();
  }
  $("change").onclick = function () { $("setup").hidden = !$("setup").hidden; };
  loadRegions(function (regions) {
    regions.townships.forEach(function (tw) {
      regionNames[tw.code] = [tw.name, tw.name_ug];
      tw.villages.forEach(function (v) { regionNames[v.code] = [v.name, v.name_ug]; });
    });
    setup(regions);
    if (region) {
      var n = regionNames[region];
      $("placeName").textContent = n ? ((lang === "ug" && n[1]) ? n[1] : n[0]) : region;
    }
  });
  if (!region) {
    $("status").hidden = true;
    $("setup").hidden = false;
    $("placeName").textContent = t.pick;
    return;
  }
  $("placeName").textContent = region;
  render({});
  setInterval(function () { render({}); }, 30000); // drop expired warnings
  connect();
})();
