// Alertcast duty officer console. Plain JavaScript, no library, no build
// step: it must run from the embedded files on a network without internet.
// Every DOM node holding server or user data is built with textContent
// (never innerHTML), so no warning text can inject markup.
"use strict";
(function () {
  // ---------- state ----------
  const S = {
    me: null, csrf: "", gen: 0, // gen counts log-ins: the session itself lives only in an HttpOnly cookie
    lang: localStorage.getItem("alertcast.lang") || "zh",
    events: [], groups: [], townships: [], regionByCode: new Map(), speakers: [], speakerStatus: null,
    outline: null, cleanup: [], conn: "", ws: null, wsAlerts: new Set(), wsListeners: new Set(),
  };
  const LEVELS = ["blue", "yellow", "orange", "red"];
  const CHANNELS = ["speaker", "sms", "websocket", "voice"];
  const ROLE_RANK = { viewer: 1, operator: 2, approver: 3, admin: 4 };

  // ---------- i18n ----------
  const L = {
    zh: {
      compose: "发布预警", approvals: "待审批", history: "预警记录", audit: "审计日志", admin: "管理",
      login: "登录", logout: "退出", name: "用户名", password: "密码", token: "令牌", useToken: "改用令牌登录", usePassword: "改用密码登录",
      event: "灾种", level: "级别", status: "性质", actual: "正式", exercise: "演练", test: "测试",
      area: "范围", map: "地图", groups: "人群", languages: "语言", channels: "渠道", text: "预警内容",
      headline: "标题", description: "内容", instruction: "防御指引", onset: "生效时间", expires: "失效时间", rebroadcast: "重播计划",
      bjt: "北京时间 (UTC+8)", template: "套用模板", templateNote: "模板内容待县应急管理局/气象局审核，发布前请核对。",
      preview: "预览受众", submit: "发布", submitting: "发布中…", previewFirst: "请先预览", stale: "内容已修改，请重新预览",
      speaker: "大喇叭", sms: "短信", websocket: "网页/屏幕", voice: "语音会议",
      blue: "蓝色", yellow: "黄色", orange: "橙色", red: "红色",
      drill: "演练 DRILL — 非真实预警", testBanner: "测试 TEST — 仅系统测试",
      needsApproval: "需第二名值班员审批后发布", direct: "无需审批，提交后立即发布",
      township: "乡镇", count: "人数/设备", smsParts: "短信条数", warnings: "提示", unplaced: "无坐标",
      pending: "待审批", issued: "已发布", rejected: "已驳回", cancelled: "已取消", allclear: "已解除", expired: "已过期",
      approve: "批准发布", reject: "驳回", reason: "理由", cancel: "取消预警", allclearBtn: "解除预警", update: "更新预警", confirm: "确认",
      progress: "发布进度", planned: "计划", sent: "已发送", delivered: "已送达", failed: "失败", failures: "失败明细",
      queued: "排队中", unconfirmed: "未确认送达", held: "离线待播（恢复后播放）", notSent: "未发送", notSentShort: "未发送", notSentOutbox: "未发送（仅记录到发件箱）",
      noSMSGateway: "：未配置短信网关", notConfigured: "：通道未配置",
      versions: "版本", search: "搜索", more: "更多", selected: "已选", none: "无", all: "全部",
      users: "用户", speakers: "大喇叭设备", enroll: "注册凭据", revoke: "吊销", create: "创建", role: "角色", scope: "辖区",
      shownOnce: "只显示这一次，请立即抄录。", import: "导入", residents: "居民名册", verify: "校验哈希链",
      live: "实时", polling: "轮询", lost: "连接中断", lostBanner: "与服务器的连接中断，正在重试…已填写的内容不会丢失。",
      awaiting: "等待第二名值班员审批", ownAlert: "本人发布的预警不能由本人审批（双人规则）",
      whatYouApprove: "您批准的内容", noPending: "没有待审批的预警", play: "播放节目", createdBy: "发布人", approvedBy: "审批人",
      planning: "正在生成发送计划…", retryNote: "临时失败由队列自动重试；永久失败请核对名册（号码、设备）后重新发布更新。",
      idemNote: "重复点击不会重复发布（幂等键）", areaFilter: "筛选村名…", clear: "清空",
      speakLive: "向预警范围大喇叭喊话", callField: "呼叫外勤人员",
    },
    en: {
      compose: "Compose", approvals: "Approvals", history: "History", audit: "Audit log", admin: "Admin",
      login: "Log in", logout: "Log out", name: "User name", password: "Password", token: "Token", useToken: "Use a token instead", usePassword: "Use a password instead",
      event: "Event", level: "Level", status: "Status", actual: "Actual", exercise: "Drill", test: "Test",
      area: "Area", map: "Map", groups: "Groups", languages: "Languages", channels: "Channels", text: "Text",
      headline: "Headline", description: "Description", instruction: "Instruction", onset: "Onset", expires: "Expires", rebroadcast: "Rebroadcast",
      bjt: "Beijing time (UTC+8)", template: "Fill from template", templateNote: "Templates are drafts to be reviewed by the county emergency / meteorological bureau. Check before sending.",
      preview: "Preview audience", submit: "Issue", submitting: "Issuing…", previewFirst: "Preview first", stale: "Changed since preview: preview again",
      speaker: "Loudspeakers", sms: "SMS", websocket: "Web/screens", voice: "Voice rooms",
      blue: "Blue", yellow: "Yellow", orange: "Orange", red: "Red",
      drill: "演练 DRILL — exercise, not a real warning", testBanner: "测试 TEST — technical test only",
      needsApproval: "Needs a second officer's approval", direct: "No approval needed: issued on submit",
      township: "Township", count: "People/devices", smsParts: "SMS parts", warnings: "Warnings", unplaced: "Without coordinates",
      pending: "Pending", issued: "Issued", rejected: "Rejected", cancelled: "Cancelled", allclear: "All clear", expired: "Expired",
      approve: "Approve", reject: "Reject", reason: "Reason", cancel: "Cancel warning", allclearBtn: "All clear", update: "Update", confirm: "Confirm",
      progress: "Progress", planned: "planned", sent: "sent", delivered: "delivered", failed: "failed", failures: "Failures",
      queued: "queued", unconfirmed: "unconfirmed", held: "held (offline; plays when back)", notSent: "not sent", notSentShort: "NOT SENT", notSentOutbox: "not sent: recorded in the outbox only",
      noSMSGateway: ": no SMS gateway configured", notConfigured: ": channel not configured",
      versions: "Versions", search: "Search", more: "More", selected: "Selected", none: "none", all: "all",
      users: "Users", speakers: "Loudspeakers", enroll: "Enrol credential", revoke: "Revoke", create: "Create", role: "Role", scope: "Scope",
      shownOnce: "Shown once only: copy it now.", import: "Import", residents: "Residents", verify: "Verify hash chain",
      live: "live", polling: "polling", lost: "connection lost", lostBanner: "Connection to the server lost, retrying… Nothing you typed is lost.",
      awaiting: "Waiting for a second officer to approve", ownAlert: "You wrote this warning: another officer must approve it (two-person rule)",
      whatYouApprove: "What you approve", noPending: "No warnings wait for approval", play: "Play programme", createdBy: "Issued by", approvedBy: "Approved by",
      planning: "Planning deliveries…", retryNote: "Transient failures are retried by the queue; for permanent ones fix the registry (number, device) and issue an update.",
      idemNote: "Double clicks never issue twice (idempotency key)", areaFilter: "Filter villages…", clear: "Clear",
      speakLive: "Speak live to the area's loudspeakers", callField: "Call field team",
    },
  };
  const t = (k) => (L[S.lang] && L[S.lang][k]) || L.en[k] || k;
  const LANGS = [["zh", "中文"], ["ug", "ئۇيغۇرچە"], ["en", "English"]];

  // ---------- DOM helpers ----------
  function h(tag, attrs, ...kids) {
    const el = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.setAttribute("class", v);
      else if (k === "text") el.textContent = v;
      else if (k in el && !tag.startsWith("svg:") && k !== "list" && k !== "form") el[k] = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  // put replaces el's children with kids (nested arrays flattened, empty skipped).
  function put(el, ...kids) {
    el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false)
      .map((k) => (k instanceof Node ? k : String(k))));
  }
  // sameOrigin plays /audio/… from the server the console came from: the
  // configured public URL may name a host this browser cannot reach.
  const sameOrigin = (u) => { try { const x = new URL(u, location.href); return x.pathname + x.search; } catch (e) { return u; } };
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
    return x.slice(0, 8) + "-" + x.slice(8, 12) + "-" + x.slice(12, 16) + "-" + x.slice(16, 20) + "-" + x.slice(20);
  }
  // Times are shown and entered in Beijing time, the official time of the county.
  const BJ = 8 * 3600 * 1000;
  function fmtTime(iso) {
    if (!iso || iso.startsWith("0001")) return "";
    const ms = Date.parse(iso);
    return isNaN(ms) ? iso : new Date(ms + BJ).toISOString().slice(0, 16).replace("T", " ");
  }
  const toLocalInput = (ms) => new Date(ms + BJ).toISOString().slice(0, 16);
  const fromLocalInput = (v) => (v ? v + ":00+08:00" : "");
  // In Uyghur a region is named in Uyghur where the region data knows it
  // (targeting/data/README.md lists the gaps), else in Chinese.
  const regionName = (code) => {
    const r = S.regionByCode.get(code);
    return r ? (S.lang === "ug" && r.name_ug) || r.name : code;
  };
  const can = (role) => S.me && ROLE_RANK[S.me.role] >= ROLE_RANK[role];
  function levelChip(lv) { return h("span", { class: "chip lv-" + lv, text: t(lv) + (lv ? "" : "") }); }
  function stateChip(st) { return h("span", { class: "state state-" + st, "data-state": st, text: t(st) }); }
  function eventName(code) {
    const e = S.events.find((x) => x.code === code);
    const own = (L[S.lang] || {})["event:" + code]; // the API names events in zh and en only
    return own || (e ? (S.lang === "zh" ? e.zh : e.en) : code);
  }
  function drillBanner(status) {
    if (status === "exercise") return h("div", { class: "drill", role: "note", text: t("drill") });
    if (status === "test") return h("div", { class: "drill", role: "note", text: t("testBanner") });
    return null;
  }

  // ---------- connection + API ----------
  function setConn(state) {
    S.conn = state;
    const el = $("#conn");
    el.className = "conn " + state;
    el.textContent = state ? t(state) : "";
    el.dataset.state = state;
    const lost = $("#lost");
    lost.hidden = state !== "lost";
    lost.textContent = t("lostBanner");
  }
  function linkState() { setConn(S.ws && S.ws.readyState === 1 ? "live" : "polling"); }

  async function api(method, path, body, extra) {
    const headers = Object.assign({ Accept: "application/json" }, extra || {});
    if (method !== "GET") headers["X-CSRF-Token"] = S.csrf;
    let payload;
    if (body !== undefined && body !== null) {
      if (typeof body === "string" || body instanceof Blob) payload = body;
      else { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
    }
    const gen = S.gen;
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      setConn("lost");
      const err = new Error(t("lost")); err.network = true; throw err;
    }
    if (S.conn === "lost" || !S.conn) linkState();
    let data = null;
    const ct = res.headers.get("Content-Type") || "";
    if (ct.includes("json")) { try { data = await res.json(); } catch (e) { data = null; } }
    // A 401 ends the session, unless it answers a request of an older one
    // (a poll still in flight across a log-out and a new log-in).
    if (res.status === 401 && path !== "/api/v1/login" && gen === S.gen && S.me) { logoutLocal(); }
    if (res.status === 401) throw apiError(res.status, data);
    if (!res.ok) throw apiError(res.status, data);
    return data;
  }
  function apiError(status, data) {
    const e = (data && data.error) || {};
    const err = new Error(e.message || "HTTP " + status);
    err.status = status; err.code = e.code; err.problems = e.problems || [];
    return err;
  }
  // poll runs fn now and every ms until the view changes; network failures
  // keep it going (the page resumes when the server is back).
  function poll(fn, ms) {
    // One chain of ticks only: a live event during a fetch coalesces into
    // one more fetch shortly after, so bursts of events cannot multiply
    // the polling rate.
    let stop = false, timer = 0, running = false, again = false;
    const tick = async () => {
      if (stop) return;
      if (running) { again = true; return; }
      running = true; clearTimeout(timer);
      try { await fn(); } catch (e) { if (!e.network) console.warn(e); }
      running = false;
      if (stop) return;
      timer = setTimeout(tick, again ? 200 : ms);
      again = false;
    };
    tick();
    const cancel = () => { stop = true; clearTimeout(timer); };
    S.cleanup.push(cancel);
    return { cancel, now: tick };
  }

  // ---------- live link (WebSocket channel, console progress) ----------
  // Polling always runs underneath; the socket only makes updates instant.
  // The socket authenticates with a one-use ticket (valid 30 s) minted by
  // the cookie session: no long-lived credential in a URL or in storage.
  let wsRetry = 1000, wsMinting = false;
  async function connectWS() {
    if (!S.me || S.ws || wsMinting) return;
    wsMinting = true;
    let ticket;
    try { ticket = (await api("POST", "/api/v1/tickets")).ticket; }
    catch (e) {
      if (S.me) setTimeout(connectWS, wsRetry);
      wsRetry = Math.min(wsRetry * 2, 30000);
      return;
    } finally { wsMinting = false; }
    if (!S.me || S.ws) return;
    const q = new URLSearchParams({ ticket, progress: "1", all: "1" });
    let ws;
    try { ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?" + q); }
    catch (e) { return; }
    S.ws = ws;
    ws.onopen = () => { wsRetry = 1000; linkState(); };
    ws.onmessage = (m) => {
      let ev; try { ev = JSON.parse(m.data); } catch (e) { return; }
      for (const fn of S.wsListeners) fn(ev);
    };
    ws.onclose = () => {
      S.ws = null;
      if (S.conn !== "lost") linkState();
      if (S.me) setTimeout(connectWS, wsRetry);
      wsRetry = Math.min(wsRetry * 2, 30000);
    };
  }
  function onLive(fn) { S.wsListeners.add(fn); S.cleanup.push(() => S.wsListeners.delete(fn)); }

  // ---------- session ----------
  function saveSession() {
    // Only who is logged in and the CSRF token: the session is an HttpOnly cookie.
    sessionStorage.setItem("alertcast.session", JSON.stringify({ me: S.me, csrf: S.csrf }));
  }
  function logoutLocal() {
    S.me = null; S.csrf = ""; S.gen++;
    sessionStorage.removeItem("alertcast.session");
    if (S.ws) { const w = S.ws; S.ws = null; w.onclose = null; w.close(); }
    renderChrome();
    if (location.hash !== "#/login") location.hash = "#/login";
  }
  async function restore() {
    const raw = sessionStorage.getItem("alertcast.session");
    if (!raw) return false;
    try {
      const s = JSON.parse(raw);
      S.csrf = s.csrf; S.gen++;
      const me = await api("GET", "/api/v1/me");
      S.me = { name: me.name, role: me.role };
      return true;
    } catch (e) { return false; }
  }

  // ---------- reference data ----------
  async function loadRefs() {
    const [ev, gr, rg, ol] = await Promise.all([
      api("GET", "/api/v1/events"), api("GET", "/api/v1/groups"), api("GET", "/api/v1/regions"),
      fetch("/console/outline.json").then((r) => r.json()),
    ]);
    S.events = ev || []; S.groups = gr || []; S.townships = (rg && rg.townships) || []; S.outline = ol;
    S.regionByCode.clear();
    for (const c of (rg && rg.counties) || []) S.regionByCode.set(c.code, c);
    for (const tw of S.townships) {
      S.regionByCode.set(tw.code, tw);
      for (const v of tw.villages || []) S.regionByCode.set(v.code, v);
    }
  }
  async function loadSpeakers() {
    try {
      const r = await api("GET", "/api/v1/speakers");
      S.speakers = (r && r.speakers) || []; S.speakerStatus = r && r.status;
    } catch (e) { S.speakers = []; }
  }
  const groupCode = (g) => (typeof g === "string" ? g : g.code || g.name || g.id);
  const groupLabel = (g) => (typeof g === "string" ? g : (L[S.lang] || {})["group:" + groupCode(g)] ||
    (S.lang === "zh" ? g.zh || g.name || g.code : g.en || g.name || g.code));

  // ---------- chrome (header, nav) ----------
  // NAV lists the pages in the header: [route name, minimum role].
  // (audit.js and fleet.js add their own entries.)
  const NAV = [["compose", "operator"], ["approvals", "approver"], ["history", "viewer"], ["admin", "admin"]];
  function renderChrome() {
    const nav = $("#nav");
    nav.replaceChildren();
    if (S.me) {
      for (const [k, role] of NAV) if (can(role)) nav.append(h("a", { href: "#/" + k, id: "nav-" + k, text: t(k) }));
    }
    const me = $("#me");
    me.replaceChildren();
    if (S.me) me.append(h("span", { text: S.me.name + " · " + S.me.role + " " }),
      h("button", { type: "button", class: "ghost", id: "logout", text: t("logout"), onclick: async () => {
        try { await api("POST", "/api/v1/logout"); } catch (e) { /* the cookie expires anyway */ }
        logoutLocal();
      } }));
    // zh, then ug (when i18n_ug.js installed it), then en; each named in itself.
    const sel = $("#lang-select");
    const langs = LANGS.filter(([l]) => L[l]);
    if (sel.options.length !== langs.length) put(sel, langs.map(([l, n]) => h("option", { value: l, lang: l, text: n })));
    sel.value = S.lang;
    document.documentElement.lang = S.lang;
    document.documentElement.dir = S.lang === "ug" ? "rtl" : "ltr";
    markNav();
  }
  function markNav() {
    const cur = (location.hash.split("/")[1] || "").split("?")[0];
    for (const a of $$("#nav a")) a.classList.toggle("on", a.id === "nav-" + cur || (cur === "alert" && a.id === "nav-history"));
  }

  // ---------- router ----------
  const routes = {};
  const alertHooks = [], mapLayers = []; // filled by page files (AC below)
  async function route() {
    for (const c of S.cleanup.splice(0)) c();
    const [, name = "", arg = ""] = location.hash.split("/");
    const view = $("#view");
    if (!S.me && name !== "login") { location.hash = "#/login"; return; }
    markNav();
    const fn = routes[name.split("?")[0]] || routes[S.me ? (can("operator") ? "compose" : "history") : "login"];
    // Each visit renders into its own box: a page still loading when the
    // officer moves on (a slow compose form, then the admin page) finishes
    // into a box no longer shown, instead of over the page asked for last.
    const box = h("div", { class: "route", "data-route": name.split("?")[0] || "home" }, h("p", { class: "loading", text: "…" }));
    put(view, box);
    try { await fn(box, decodeURIComponent(arg), new URLSearchParams(location.hash.split("?")[1] || "")); }
    catch (e) { put(box, h("div", { class: "formerr", role: "alert", text: e.message })); }
  }

  // ---------- login ----------
  routes.login = (view) => {
    let byToken = false;
    const err = h("div", { class: "formerr", role: "alert", id: "login-error" });
    const nameIn = h("input", { type: "text", id: "login-name", name: "name", autocomplete: "username" });
    const pwIn = h("input", { type: "password", id: "login-password", name: "password", autocomplete: "current-password" });
    const tokIn = h("input", { type: "password", id: "login-token", name: "token", autocomplete: "off" });
    const pwBox = h("div", null, h("label", { for: "login-name", text: t("name") }), nameIn, h("label", { for: "login-password", text: t("password") }), pwIn);
    const tokBox = h("div", { hidden: true }, h("label", { for: "login-token", text: t("token") }), tokIn);
    const toggle = h("button", { type: "button", class: "ghost", id: "login-toggle", text: t("useToken"), onclick: () => {
      byToken = !byToken; pwBox.hidden = byToken; tokBox.hidden = !byToken;
      toggle.textContent = byToken ? t("usePassword") : t("useToken");
    } });
    const form = h("form", { class: "panel login", id: "login-form", onsubmit: async (e) => {
      e.preventDefault(); err.textContent = "";
      const body = byToken ? { token: tokIn.value.trim() } : { name: nameIn.value.trim(), password: pwIn.value };
      try {
        const r = await api("POST", "/api/v1/login", body);
        S.me = { name: r.name, role: r.role }; S.csrf = r.csrf; S.gen++;
        saveSession(); renderChrome(); connectWS();
        await loadRefs();
        // Go on to the officer's start page unless they already moved on.
        if (location.hash === "#/login" || !location.hash) location.hash = can("operator") ? "#/compose" : "#/history";
        else route();
      } catch (x) { err.textContent = x.status === 401 ? "用户名、密码或令牌错误 / Wrong name, password or token" : x.message; }
    } }, h("h1", { text: "Alertcast " + t("login") }), pwBox, tokBox, err,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary big", id: "login-submit", text: t("login") }), toggle));
    put(view, form);
    nameIn.focus();
  };

  // ---------- map ----------
  // The map (county, approximate townships, loudspeakers, the aimed area)
  // and the area picker live in aim.js: AC.makeMap, AC.aimPicker.
  // offlineSet reads whatever the loudspeaker hub reports; the shape is the
  // hub's, so only an explicit offline/online flag per id is trusted.
  function offlineSet() {
    const out = new Set();
    const st = S.speakerStatus;
    const visit = (id, v) => {
      if (v && typeof v === "object" && (v.online === false || v.state === "offline")) out.add(v.id || id);
    };
    if (Array.isArray(st)) st.forEach((v) => visit(v && v.id, v));
    else if (st && typeof st === "object") {
      const inner = st.speakers || st.devices || st;
      if (Array.isArray(inner)) inner.forEach((v) => visit(v && v.id, v));
      else for (const [k, v] of Object.entries(inner)) visit(k, v);
    }
    return out;
  }

  // ---------- field errors ----------
  // showProblems puts every API problem next to the input it names:
  // "text.zh.headline" → [data-field="text.zh.headline"]; "area.codes[3]" →
  // "area.codes" → "area"; anything unplaced goes to the form's error box.
  let errSeq = 0;
  function showProblems(root, err) {
    clearProblems(root);
    const box = $(".formerr", root);
    const problems = (err && err.problems) || [];
    let first = null;
    for (const p of problems) {
      let f = p.field || "";
      let target = null;
      while (f && !target) {
        target = root.querySelector(`[data-field="${CSS.escape(f)}"]`);
        if (target) break;
        if (/\[\d+\]$/.test(f)) f = f.replace(/\[\d+\]$/, "");
        else if (f.includes(".")) f = f.slice(0, f.lastIndexOf("."));
        else f = "";
      }
      const msg = window.ALERT_FIELD_ERRORS.describe(S.lang, p);
      if (target) {
        const e = target.querySelector(":scope > .err") || target.appendChild(h("div", { class: "err", role: "alert" }));
        e.append(h("div", { text: msg }));
        if (!e.id) e.id = "err-" + (++errSeq);
        const described = target.matches("input,select,textarea") ? target : $("input,select,textarea", target);
        if (described && described.closest("[data-field]") === target) described.setAttribute("aria-describedby", e.id);
        for (const inp of $$("input,select,textarea", target).slice(0, 1)) inp.setAttribute("aria-invalid", "true");
        if (target.matches("input,select,textarea")) target.setAttribute("aria-invalid", "true");
        first = first || target;
      } else if (box) box.append(h("div", { text: msg }));
    }
    if (box && (!problems.length || err.code !== "validation")) box.prepend(h("div", { text: window.ALERT_FIELD_ERRORS.summary(S.lang, err) }));
    if (first) { const inp = first.matches("input,select,textarea") ? first : $("input,select,textarea", first); (inp || first).focus(); }
    else if (box) box.scrollIntoView({ block: "center" });
  }
  // clearFieldErrors empties the errors of the field el is in and of every
  // field around it ("text.zh" around "text.zh.headline"): fixing a field
  // takes its message away.
  function clearFieldErrors(el) {
    for (let f = el && el.closest && el.closest("[data-field]"); f; f = f.parentElement && f.parentElement.closest("[data-field]")) {
      const er = f.querySelector(":scope > .err"); if (er) er.replaceChildren();
      f.removeAttribute("aria-invalid");
      for (const x of f.querySelectorAll("[aria-invalid]")) x.removeAttribute("aria-invalid");
    }
  }
  function clearProblems(root) {
    for (const e of $$(".err", root)) e.replaceChildren();
    for (const e of $$("[aria-invalid]", root)) e.removeAttribute("aria-invalid");
    const box = $(".formerr", root); if (box) box.replaceChildren();
  }
  const field = (name, ...kids) => h("div", { class: "field", "data-field": name }, kids, h("div", { class: "err", role: "alert" }));

  // ---------- compose ----------
  routes.compose = async (view, _arg, q) => {
    if (!S.events.length) await loadRefs();
    if (!S.speakersFresh) await loadSpeakers();
    S.speakersFresh = false;
    const updating = q.get("update");
    let base = null;
    if (updating) base = await api("GET", "/api/v1/alerts/" + encodeURIComponent(updating));
    const idem = uuid(); // one per compose form: a double click or a retry never issues twice
    let previewedBody = "";

    const eventSel = h("select", { id: "f-event", name: "event" }, h("option", { value: "", text: "—" }),
      S.events.map((e) => h("option", { value: e.code, text: e.zh + " · " + e.en })));
    const levelBox = h("div", { class: "levels", role: "radiogroup", "aria-label": t("level") },
      LEVELS.map((lv, i) => h("label", null, h("input", { type: "radio", name: "level", value: lv, id: "f-level-" + lv }),
        h("span", { class: "lv-" + lv, text: t(lv) + " " + ["IV", "III", "II", "I"][i] + "级" }))));
    const statusBox = h("div", null, ["actual", "exercise", "test"].map((s) =>
      h("label", { class: "inline" }, h("input", { type: "radio", name: "status", value: s, id: "f-status-" + s, checked: s === "actual" }), t(s))));
    const drillSlot = h("div", { id: "drill-slot" });

    // Area: whole county, townships, villages, polygons (aim.js).
    const picker = AC.aimPicker({ base: base && base.area, onChange: () => changed(),
      audience: () => { const a = {}; const g = $$("input[name=groups]:checked", form).map((x) => x.value), l = $$("input[name=languages]:checked", form).map((x) => x.value);
        if (g.length) a.groups = g; if (l.length) a.languages = l; return a; } });

    const groupsBox = h("div", null, S.groups.map((g) => h("label", { class: "inline" },
      h("input", { type: "checkbox", name: "groups", value: groupCode(g), id: "f-group-" + groupCode(g) }), groupLabel(g))));
    const langBox = h("div", null, [["zh", "中文"], ["ug", "ئۇيغۇرچە"]].map(([l, n]) =>
      h("label", { class: "inline" }, h("input", { type: "checkbox", name: "languages", value: l, id: "f-lang-" + l }), n)));
    const chanBox = h("div", null, CHANNELS.map((c) => h("label", { class: "inline" },
      h("input", { type: "checkbox", name: "channels", value: c, id: "f-ch-" + c, checked: true }), t(c))));

    const textBlock = (l, title, rtl) => h("fieldset", { class: "panel", "data-field": "text." + l },
      h("legend", { text: title }),
      field("text." + l + ".headline", h("label", { for: `f-${l}-headline`, text: t("headline") }),
        h("input", { type: "text", id: `f-${l}-headline`, maxLength: 80, dir: rtl ? "rtl" : "ltr", lang: l })),
      field("text." + l + ".description", h("label", { for: `f-${l}-description`, text: t("description") }),
        h("textarea", { id: `f-${l}-description`, maxLength: 1000, dir: rtl ? "rtl" : "ltr", lang: l })),
      field("text." + l + ".instruction", h("label", { for: `f-${l}-instruction`, text: t("instruction") }),
        h("textarea", { id: `f-${l}-instruction`, maxLength: 400, dir: rtl ? "rtl" : "ltr", lang: l })),
      h("div", { class: "err", role: "alert" }));

    const onset = h("input", { type: "datetime-local", id: "f-onset" });
    const expires = h("input", { type: "datetime-local", id: "f-expires", value: toLocalInput(Date.now() + 12 * 3600e3) });
    const rebroadcast = h("input", { type: "text", id: "f-rebroadcast", placeholder: "every 30m · 0 */2 * * *" });
    // The protective action: evacuate gives each village its own shelter (or a way away from a polygon).
    const action = h("select", { id: "f-action" }, [["", "—"], ["evacuate", t("evacuate")], ["shelter_in_place", t("shelterInPlace")]].map(([v, n]) => h("option", { value: v, text: n })));
    const awayFrom = h("input", { type: "text", id: "f-away-from", placeholder: "lat,lon lat,lon … (" + t("awayFrom") + ")" });
    const tmplNote = h("div", { class: "template-note", id: "template-note", hidden: true, text: "⚠ " + t("templateNote") });
    const previewBox = h("div", { id: "preview", class: "panel", hidden: true, "aria-live": "polite" });
    const previewBtn = h("button", { type: "button", class: "big", id: "btn-preview", text: t("preview") });
    const submitBtn = h("button", { type: "submit", class: "primary big", id: "btn-submit", disabled: true, text: t("previewFirst") });
    const form = h("form", { id: "compose-form", novalidate: true, autocomplete: "off" },
      h("h1", { text: updating ? t("update") + " " + updating : t("compose") }),
      drillSlot,
      h("div", { class: "panel" },
        h("div", { class: "grid2" },
          field("event", h("label", { for: "f-event", text: t("event") }), eventSel,
            h("div", { class: "actions" }, h("button", { type: "button", id: "btn-template", text: t("template"), onclick: fillTemplate }))),
          field("status", h("label", { text: t("status") }), statusBox)),
        field("level", h("label", { text: t("level") }), levelBox)),
      h("div", { class: "panel" }, h("h2", { text: t("area") }),
        h("div", { class: "grid2" },
          field("area", picker.left, field("area.exclude")),
          h("div", null, picker.right))),
      h("div", { class: "panel grid3" },
        field("audience.groups", h("label", { text: t("groups") + " (" + t("all") + " = " + t("none") + ")" }), groupsBox),
        field("audience.languages", h("label", { text: t("languages") }), langBox),
        field("channels", h("label", { text: t("channels") }), chanBox)),
      tmplNote,
      h("div", { class: "grid2" }, textBlock("zh", "中文 · Mandarin", false), textBlock("ug", "ئۇيغۇرچە · Uyghur", true)),
      h("div", { class: "panel grid3" },
        field("onset", h("label", { for: "f-onset", text: t("onset") + " · " + t("bjt") }), onset),
        field("expires", h("label", { for: "f-expires", text: t("expires") + " · " + t("bjt") }), expires),
        field("rebroadcast", h("label", { for: "f-rebroadcast", text: t("rebroadcast") }), rebroadcast),
        field("action", h("label", { for: "f-action", text: t("action") }), action, awayFrom)),
      h("div", { class: "formerr", role: "alert", id: "compose-error" }),
      h("div", { class: "actions" }, previewBtn, submitBtn, h("span", { class: "note", text: t("idemNote") })),
      previewBox);
    put(view, form);

    function body() {
      const text = {};
      for (const l of ["zh", "ug"]) {
        const v = (k) => $(`#f-${l}-${k}`, form).value;
        if (v("headline") || v("description") || v("instruction")) text[l] = { headline: v("headline"), description: v("description"), instruction: v("instruction") };
      }
      const checked = (n) => $$(`input[name=${n}]:checked`, form).map((x) => x.value);
      const b = {
        event: eventSel.value, level: (checked("level")[0] || ""), status: checked("status")[0] || "actual",
        area: picker.area(), audience: {}, channels: checked("channels"), text: text,
        expires: fromLocalInput(expires.value),
      };
      if (checked("groups").length) b.audience.groups = checked("groups");
      if (checked("languages").length) b.audience.languages = checked("languages");
      if (onset.value) b.onset = fromLocalInput(onset.value);
      if (rebroadcast.value.trim()) b.rebroadcast = rebroadcast.value.trim();
      if (action.value) { b.action = { type: action.value }; if (awayFrom.value.trim()) b.action.away_from = awayFrom.value.trim(); }
      return b;
    }
    function changed() {
      picker.changed();
      const st = ($("input[name=status]:checked", form) || {}).value;
      put(drillSlot, drillBanner(st) || "");
      const fresh = previewedBody && previewedBody === JSON.stringify(body());
      submitBtn.disabled = !fresh;
      submitBtn.textContent = fresh ? (updating ? t("update") : t("submit")) : (previewedBody ? t("stale") : t("previewFirst"));
    }
    form.addEventListener("input", (e) => {
      clearFieldErrors(e.target);
      changed();
    });
    form.addEventListener("change", (e) => { clearFieldErrors(e.target); changed(); });
    function fillTemplate() {
      const lv = ($("input[name=level]:checked", form) || {}).value;
      if (!eventSel.value || !lv) {
        showProblems(form, { code: "validation", message: "", problems: [
          ...(!eventSel.value ? [{ field: "event", rule: "choose an event before filling a template" }] : []),
          ...(!lv ? [{ field: "level", rule: "choose a level before filling a template" }] : [])] });
        return;
      }
      const ev = S.events.find((e) => e.code === eventSel.value);
      const txt = window.ALERT_TEMPLATES.fill(eventSel.value, ev && ev.zh, lv);
      for (const l of ["zh", "ug"]) for (const k of ["headline", "description", "instruction"]) $(`#f-${l}-${k}`, form).value = txt[l][k];
      tmplNote.hidden = false;
      changed();
    }
    async function doPreview() {
      clearProblems(form);
      previewBtn.disabled = true;
      const b = body();
      try {
        const p = await api("POST", "/api/v1/audience/preview", b);
        previewedBody = JSON.stringify(b);
        renderPreview(previewBox, p, b);
        previewBox.hidden = false;
        previewBox.scrollIntoView({ block: "start" });
      } catch (e) {
        previewedBody = ""; previewBox.hidden = true;
        showProblems(form, e);
      } finally { previewBtn.disabled = false; changed(); }
    }
    previewBtn.addEventListener("click", doPreview);
    let inFlight = false;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (inFlight) return; // the idempotency key covers what this cannot (two tabs, a retry after a timeout)
      const b = body();
      if (previewedBody !== JSON.stringify(b)) { changed(); return; }
      inFlight = true; submitBtn.disabled = true; submitBtn.textContent = t("submitting");
      clearProblems(form);
      try {
        const r = updating
          ? await api("POST", "/api/v1/alerts/" + encodeURIComponent(updating) + "/update", b)
          : await api("POST", "/api/v1/alerts", b, { "Idempotency-Key": idem, "X-Alertcast-Client": "console" });
        location.hash = "#/alert/" + encodeURIComponent(r.id);
      } catch (x) {
        showProblems(form, x);
        inFlight = false; changed();
      }
    });

    if (base) {
      eventSel.value = base.event;
      $(`#f-level-${base.level}`, form).checked = true;
      $(`#f-status-${base.status}`, form).checked = true;
      for (const g of base.audience.groups || []) { const x = $(`#f-group-${g}`, form); if (x) x.checked = true; }
      for (const l of base.audience.languages || []) { const x = $(`#f-lang-${l}`, form); if (x) x.checked = true; }
      for (const c of CHANNELS) $(`#f-ch-${c}`, form).checked = (base.channels || []).includes(c);
      for (const [l, tx] of Object.entries(base.text || {})) for (const k of ["headline", "description", "instruction"]) { const x = $(`#f-${l}-${k}`, form); if (x) x.value = tx[k] || ""; }
      if (base.onset) onset.value = toLocalInput(Date.parse(base.onset));
      expires.value = toLocalInput(Date.parse(base.expires));
      rebroadcast.value = base.rebroadcast || "";
      action.value = base.action ? base.action.type : "";
      awayFrom.value = base.action && base.action.away_from ? base.action.away_from : "";
    }
    changed();
    eventSel.focus();
  };

  function renderPreview(box, p, b) {
    const rows = (obj, label) => Object.entries(obj || {}).sort((a, c) => c[1] - a[1]).map(([k, v]) =>
      h("tr", null, h("td", { text: label ? label(k) : k }), h("td", { class: "num", text: v.toLocaleString() })));
    const audio = p.audio && p.audio.url ? p.audio.url : "";
    put(box, 
      h("h2", { text: t("preview") }),
      drillBanner(b.status) || "",
      h("p", { id: "preview-approval", class: p.needs_approval ? "" : "ok", text: p.needs_approval ? "⚖ " + t("needsApproval") : "✓ " + t("direct") }),
      h("div", { id: "preview-channels" }, Object.entries(p.channels || {}).map(([ch, n]) =>
        h("div", { class: "stat", "data-channel": ch }, h("b", { text: n.toLocaleString() }), t(ch)))),
      (p.warnings || []).length ? h("div", { class: "formerr", id: "preview-warnings" }, p.warnings.map((w) => h("div", { text: "⚠ " + w }))) : "",
      (p.shelters || []).length ? h("table", { id: "preview-shelters" },
        h("thead", null, h("tr", null, [t("shelter"), t("sentThere"), t("capacity")].map((x) => h("th", { text: x })))),
        h("tbody", null, p.shelters.map((s) => h("tr", { class: s.overflow ? "err" : "", "data-shelter": s.id },
          h("td", { text: s.name }), h("td", { class: "num", text: (s.residents + (s.occupancy || 0)).toLocaleString() }),
          h("td", { class: "num", text: s.capacity.toLocaleString() + (s.overflow ? " ⚠" : "") }))))) : "",
      AC.guidanceBox ? AC.guidanceBox(p.guidance, true) : "",
      h("div", { class: "grid3" },
        h("div", null, h("h3", { text: t("township") }),
          h("table", { id: "preview-townships" }, h("tbody", null, rows(p.townships, (c) => regionName(c))))),
        h("div", null, h("h3", { text: t("languages") }), h("table", null, h("tbody", null, rows(p.languages))),
          p.unplaced ? h("p", { class: "note", text: t("unplaced") + ": " + p.unplaced }) : ""),
        h("div", null, h("h3", { text: t("smsParts") }),
          p.sms_parts ? h("table", { id: "preview-sms" }, h("tbody", null, rows(p.sms_parts, (l) => (l === "zh" ? "中文" : l === "ug" ? "ئۇيغۇرچە" : l))))
            : h("p", { class: "note", text: (b.channels || []).includes("sms") ? "SMS gateway not configured: part count unavailable" : "—" }),
          audio ? h("div", null, h("button", { type: "button", id: "btn-play", text: "▶ " + t("play"), onclick: () => new Audio(sameOrigin(audio)).play() })) : "")));
  }

  // ---------- alert detail ----------
  routes.alert = async (view, id) => {
    await loadSpeakers();
    const head = h("div", { id: "alert-head" });
    const bars = h("div", { class: "panel", id: "progress" });
    const mapBox = h("div", { id: "alert-map" });
    const fails = h("div", { id: "failures" });
    const actions = h("div", { class: "panel", id: "alert-actions" });
    const versions = h("div", { class: "panel", id: "versions" });
    const reportLink = h("p", null, h("a", { href: "#/report/" + encodeURIComponent(id), id: "alert-report", text: "📄 " + t("report") }));
    put(view, head, reportLink, h("div", { class: "grid2" }, h("div", null, bars, actions), h("div", { class: "panel" }, h("h2", { text: t("map") }), mapBox,
      h("div", { class: "legend" }, ["delivered", "sent", "planned", "failed"].map((s) => h("span", null, h("i", { class: "lgd-" + s }), t(s)))))), fails, versions);
    let last = null, lastSpk = 0, lastFail = 0, actionsFor = "";
    const spkStates = new Map();
    // The map of the warning, with the layers of other files (reports.js).
    const alertMap = () => {
      const m = AC.makeMap({ states: spkStates, aim: () => AC.aimOfArea((last && last.area) || {}) });
      if (m.P) for (const layer of mapLayers) layer(m.svg, m.P.px, { alert: id });
      return m.el;
    };
    async function refresh() {
      const a = await api("GET", "/api/v1/alerts/" + encodeURIComponent(id));
      last = a;
      renderHead(head, a);
      renderBars(bars, a);
      const key = a.state + "/" + a.version + "/" + (a.pending ? a.pending.updated_at : "");
      if (key !== actionsFor) { actionsFor = key; renderActions(actions, a, () => p.now()); renderVersions(versions, a); }
      const now = Date.now();
      if ((a.channels || []).includes("speaker") && S.speakers.length && now - lastSpk > 3000) {
        lastSpk = now;
        const r = await api("GET", `/api/v1/alerts/${encodeURIComponent(id)}/deliveries?channel=speaker&limit=1000`);
        spkStates.clear();
        for (const d of (r && r.deliveries) || []) spkStates.set(d.recipient, d.state);
        put(mapBox, alertMap());
      } else if (!mapBox.firstChild) put(mapBox, alertMap());
      const failed = Object.values(a.progress || {}).reduce((n, c) => n + c.failed, 0);
      if (failed && now - lastFail > 3000) { lastFail = now; await renderFailures(fails, a); }
    }
    const p = poll(refresh, 1000);
    onLive((ev) => { if (ev && ev.type === "progress" && (!ev.alert_id || ev.alert_id === id)) p.now(); });
    // Panels of other files on this page (reports.js): the view, the id, and a way to redraw the map.
    for (const hook of alertHooks) hook(view, id, () => { if (last) put(mapBox, alertMap()); });
  };

  function renderHead(box, a) {
    const zh = (a.text && a.text.zh) || {}, ug = (a.text && a.text.ug) || {};
    put(box, drillBanner(a.status) || "",
      h("div", { class: "banner lv-" + a.level },
        h("div", null, h("h1", { id: "alert-headline", text: zh.headline || ug.headline || a.id }),
          ug.headline ? h("div", { dir: "rtl", lang: "ug", text: ug.headline }) : ""),
        h("div", { class: "meta" }, h("div", { text: eventName(a.event) + " · " + t(a.level) + " · " + t(a.status) }),
          h("div", { "data-version": String(a.version) }, stateChip(a.state), " v" + a.version + " " + a.kind + " · " + a.id))),
      a.state === "pending" ? h("p", { class: "panel", id: "awaiting", text: "⏳ " + t("awaiting") }) : "",
      // An update waiting for a second officer; the version above stays on air.
      a.pending ? h("div", { class: "panel", id: "pending-update" }, h("p", { text: `⏳ ${t("awaiting")}: v${a.pending.version} · ${(a.pending.changes || []).join(", ")} · ${t("createdBy")}: ${(a.pending.authors || []).join(", ")}` }),
        diffTable(a, a.pending)) : "",
      a.reason ? h("p", { class: "note", text: t("reason") + ": " + a.reason }) : "",
      // The rendered programme, once the API reports where it is.
      a.audio && a.audio.url ? h("p", null, h("button", { type: "button", id: "btn-play", text: "▶ " + t("play"),
        onclick: () => new Audio(sameOrigin(a.audio.url)).play() })) : "",
      // Live voice from this warning: /voice/ in its own tab, signed in
      // with this session (a one-use ticket), aimed at the warning's area.
      a.state === "issued" && can("operator") ? h("p", { class: "actions", id: "voice-links" },
        h("button", { type: "button", id: "btn-speak-live", text: "🎙 " + t("speakLive"), onclick: () => openVoice(a.id, "live") }),
        h("button", { type: "button", id: "btn-call-field", text: "📞 " + t("callField"), onclick: () => openVoice(a.id, "call") })) : "",
      h("dl", { class: "kv panel" },
        h("dt", { text: t("area") }), h("dd", { text: (a.area.codes || []).map(regionName).join("、") }),
        h("dt", { text: t("channels") }), h("dd", { text: (a.channels || []).map(t).join(" · ") }),
        h("dt", { text: t("expires") }), h("dd", { text: fmtTime(a.expires) + " (UTC+8)" }),
        h("dt", { text: t("createdBy") }), h("dd", { text: a.created_by + " · " + fmtTime(a.created_at) }),
        a.approved_by ? [h("dt", { text: t("approvedBy") }), h("dd", { text: a.approved_by })] : ""));
  }

  // openVoice opens the voice page for warning id in one named tab. Not
  // "noopener": the new tab inherits this tab's sessionStorage (the CSRF
  // token it mints the voice ticket with); the session cookie is HttpOnly.
  function openVoice(id, mode) {
    window.open("/voice/?" + new URLSearchParams({ alert: id, mode }), "alertcast-voice");
  }

  // Progress is the API's: every figure below is a field of a.progress or
  // a.overall (dispatch.Progress / dispatch.Overall). Nothing is computed
  // here, so the console agrees with alertctl status and the API.
  function renderBars(box, a) {
    const prog = a.progress || {};
    const ov = a.overall || {};
    const plans = a.plans || {};
    const outbox = ov.outbox || [];
    const rows = [];
    for (const ch of a.channels || []) {
      const c = prog[ch] || {};
      const plan = plans[ch];
      const isOutbox = c.mode === "outbox";
      const w = (n) => (c.planned ? (n * 100) / c.planned : 0) + "%";
      const bar = h("div", { class: "bar", role: "progressbar", "aria-label": t(ch), "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": c.percent || 0 });
      for (const [cls, n] of [["delivered", c.delivered], ["sent", c.sent], ["held", c.held], ["unconfirmed", c.unconfirmed], ["failed", c.failed], ["ended", c.expired + c.revoked], ["notsent", c.not_sent]]) {
        const seg = h("div", { class: "seg-" + cls, title: cls + " " + n }); seg.style.width = w(n || 0); bar.append(seg);
      }
      const more = [["held", c.held], ["unconfirmed", c.unconfirmed], ["expired", c.expired], ["cancelled", c.revoked], ["notSent", c.not_sent]]
        .filter(([, n]) => n).map(([k, n]) => ` · ${n} ${t(k)}`).join("");
      rows.push(h("div", { class: "chrow" + (isOutbox ? " outbox" : ""), "data-channel": ch, "data-mode": c.mode || "" },
        h("b", { text: t(ch) }), bar,
        h("span", { class: "pct", text: isOutbox ? t("notSentShort") : c.percent == null ? "…" : c.percent + "%" }),
        h("div", { class: "counts", text: isOutbox ? `${t("notSentOutbox")} · ${c.not_sent || 0} / ${c.planned || 0} · 0 ${t("delivered")}` :
          plan && !c.planned ? "0 " + t("planned") + (plan.detail ? " · " + plan.detail : "") :
          !plan && !c.planned ? (ov.phase === "not_dispatched" ? t("awaiting") : t("planning")) :
          `${c.planned} ${t("planned")} · ${c.queued} ${t("queued")} · ${c.sent} ${t("sent")} · ${c.delivered} ${t("delivered")} · ${c.failed} ${t("failed")}` + more })));
    }
    const pctText = ov.percent == null ? (ov.phase === "planning" ? t("planning") : "…") : ov.percent + "%";
    put(box, h("h2", null, t("progress") + " ",
      h("span", { class: "overall" + (outbox.length ? " outbox" : ""), id: "overall", "data-phase": ov.phase || "", "data-pct": ov.percent == null ? "" : String(ov.percent), text: pctText }),
      ov.planned ? h("span", { class: "note", id: "overall-delivered", text: ` ${ov.delivered} / ${ov.planned} ${t("delivered")}` }) : ""),
      outbox.length ? h("p", { class: "outbox-notice", id: "outbox-notice", role: "status",
        text: "⚠ " + t("notSentOutbox") + " — " + outbox.map((ch) => t(ch) + (ch === "sms" ? t("noSMSGateway") : t("notConfigured"))).join("；") }) : "",
      rows);
  }

  async function renderFailures(box, a) {
    const list = [];
    for (const ch of a.channels || []) {
      if (!a.progress[ch] || !a.progress[ch].failed) continue;
      const r = await api("GET", `/api/v1/alerts/${encodeURIComponent(a.id)}/deliveries?channel=${ch}&state=failed&limit=100`);
      for (const d of (r && r.deliveries) || []) list.push(d);
    }
    put(box, h("div", { class: "panel" }, h("h2", { text: t("failures") + " (" + list.length + ")" }),
      h("p", { class: "note", text: t("retryNote") }),
      h("table", null, h("thead", null, h("tr", null, ["channel", "recipient", "address", "attempts", "error", "time"].map((x) => h("th", { text: x })))),
        h("tbody", null, list.map((d) => h("tr", null, h("td", { text: t(d.channel) }), h("td", { text: d.recipient }), h("td", { text: d.address || "" }),
          h("td", { class: "num", text: d.attempts }), h("td", { text: d.last_error || d.detail || "" }), h("td", { text: fmtTime(d.updated_at) })))))));
  }

  function renderActions(box, a, refresh) {
    put(box, h("h2", { text: t("confirm") }));
    const reason = h("input", { type: "text", id: "action-reason", placeholder: t("reason") });
    const err = h("div", { class: "formerr", role: "alert", id: "action-error" });
    const wrap = field("reason", h("label", { for: "action-reason", text: t("reason") }), reason);
    const act = (verb, cls, label, needReason) => h("button", { type: "button", class: cls, id: "btn-" + verb, text: label, onclick: async (e) => {
      clearProblems(box);
      const btn = e.currentTarget;
      let why = reason.value.trim();
      if (CONFIRMED.includes(verb)) {
        // Approve, cancel and all-clear go on air: the officer sees level,
        // area and audience first, and gives a reason where one is needed.
        const v = verb === "approve" ? a.pending || a : a;
        const must = needReason || (verb === "approve" && (await reasonLevels()).includes(v.level));
        const r = await confirmAction(verb, a, v, why, must);
        if (r === null) { btn.focus(); return; }
        why = r; reason.value = r;
      } else if (needReason && !why) { showProblems(box, { code: "validation", problems: [{ field: "reason", rule: "required" }] }); return; }
      btn.disabled = true;
      // An approval is bound to the guidance the approver was shown (a
      // proposal replaced meanwhile is refused, not approved unseen).
      const seen = verb === "approve" ? a.seenGuidance || (a.pending || a).guidance_digest : undefined;
      try { await api("POST", `/api/v1/alerts/${encodeURIComponent(a.id)}/${verb}`, seen ? { reason: why, guidance_digest: seen } : { reason: why }); refresh(); }
      catch (x) { showProblems(box, x); btn.disabled = false; }
    } });
    const btns = [];
    const authors = (a.pending ? a.pending.authors : a.authors) || [a.created_by];
    if ((a.state === "pending" || a.pending) && can("approver") && !authors.includes(S.me.name)) {
      btns.push(act("approve", "good big", t("approve"), false), act("reject", "danger", t("reject"), true));
    }
    if ((a.state === "issued" || a.state === "pending") && can("operator")) {
      if (a.state === "issued") btns.push(h("button", { type: "button", id: "btn-update", text: t("update"), onclick: () => { location.hash = "#/compose?update=" + encodeURIComponent(a.id); } }));
      btns.push(act("cancel", "danger big", t("cancel"), true));
      if (a.state === "issued") btns.push(act("allclear", "good", t("allclearBtn"), true));
    }
    if (!btns.length) { put(box, h("p", { class: "note" }, stateChip(a.state))); return; }
    // Whoever may approve sees each village's sentence as frozen with the
    // version to approve (approval card and warning page alike).
    if (btns.some((b) => b.id === "btn-approve") && (a.pending || a).action && AC.guidanceBox) {
      const gbox = h("div", { id: "approval-guidance", class: "note", text: "…" });
      box.append(gbox);
      api("GET", "/api/v1/alerts/" + encodeURIComponent(a.id) + "/guidance").then((r) => {
        if (r && r.guidance) a.seenGuidance = r.guidance.digest;
        gbox.className = ""; put(gbox, AC.guidanceBox(r && r.guidance));
      }).catch((e) => { gbox.textContent = "⚠ " + e.message; });
    }
    box.append(wrap, err, h("div", { class: "actions" }, btns));
    // Say before the click that approving this level needs a reason.
    if (btns.some((b) => b.id === "btn-approve")) reasonLevels().then((lv) => {
      if (lv.includes((a.pending || a).level)) { $("label", wrap).textContent = t("reason") + t("reasonNeeded"); reason.setAttribute("aria-required", "true"); }
    });
  }

  // ---------- confirmation ----------
  Object.assign(L.zh, {
    confirmApprove: "确认批准发布", confirmCancel: "确认取消预警", confirmAllclear: "确认解除预警", back: "返回",
    audience: "受众", counting: "正在统计受众…", changes: "本版改动", authors: "撰写人",
    reasonNeeded: "（必填）",
  });
  Object.assign(L.en, {
    confirmApprove: "Approve and issue?", confirmCancel: "Cancel this warning?", confirmAllclear: "Give the all clear?", back: "Back",
    audience: "Audience", counting: "Counting the audience…", changes: "Changes in this version", authors: "Written by",
    reasonNeeded: " (required)",
  });
  const CONFIRMED = ["approve", "cancel", "allclear"];
  const CHANGE_NAMES = {
    zh: { new: "新预警", raise: "升级", widen: "扩大范围或人群", drill_to_actual: "演练转为正式", channels: "增加渠道", event: "更改灾种",
      text: "修改内容", extend: "延长有效期", lower: "降级", narrow: "缩小范围", shorten: "缩短有效期", channels_removed: "减少渠道", other: "其他改动", end: "结束" },
    en: { new: "new warning", raise: "level raised", widen: "area or audience widened", drill_to_actual: "drill made actual", channels: "channels added",
      event: "event changed", text: "text changed", extend: "expiry extended", lower: "level lowered", narrow: "area narrowed", shorten: "expiry shortened",
      channels_removed: "channels removed", other: "other changes", end: "ended" },
  };
  const changeName = (c) => (L[S.lang] || {})["change:" + c] || (CHANGE_NAMES[S.lang] || CHANGE_NAMES.en)[c] || c;
  // reasonLevels are the levels whose approval needs a reason (policy.reason_required_levels),
  // as the server reports them; red if it cannot say.
  async function reasonLevels() {
    if (!S.reasonLevels) {
      try {
        const me = await api("GET", "/api/v1/me");
        S.reasonLevels = me.reason_required_levels === undefined ? ["red"] : me.reason_required_levels || [];
      } catch (e) { return ["red"]; }
    }
    return S.reasonLevels;
  }
  // audienceOf is whom version v reaches, per channel: the planned
  // deliveries of a warning on air, else a fresh resolution.
  async function audienceOf(a, v) {
    const planned = Object.entries(a.progress || {}).filter(([, c]) => c.planned);
    if (v === a && a.state !== "pending" && planned.length) return Object.fromEntries(planned.map(([ch, c]) => [ch, c.planned]));
    const input = { event: v.event, level: v.level, status: v.status, area: v.area, audience: v.audience, channels: v.channels, text: v.text,
      expires: v.expires, onset: v.onset && !v.onset.startsWith("0001") ? v.onset : undefined, rebroadcast: v.rebroadcast || undefined,
      action: v.action ? { type: v.action.type, away_from: v.action.away_from || undefined } : undefined };
    const p = await api("POST", "/api/v1/audience/preview", input);
    return p.channels || {};
  }
  // confirmAction shows a modal dialog for verb on warning a (version v)
  // and resolves to the reason given, or null when the officer backs out
  // (Back, Escape). A required reason is asked for before it resolves.
  function confirmAction(verb, a, v, reasonText, mustReason) {
    return new Promise((resolve) => {
      let result = null;
      const title = { approve: "confirmApprove", cancel: "confirmCancel", allclear: "confirmAllclear" }[verb];
      const reason = h("input", { type: "text", id: "confirm-reason", value: reasonText || "", required: mustReason, "aria-required": mustReason ? "true" : null });
      const count = h("dd", { id: "confirm-count", "aria-live": "polite", text: t("counting") });
      const area = (v.area.codes || []).map(regionName).join("、") +
        ((v.area.polygons || []).length + (v.area.circles || []).length ? ` + ${(v.area.polygons || []).length + (v.area.circles || []).length} ⬠` : "");
      const back = h("button", { type: "button", id: "confirm-back", text: t("back") });
      const ok = h("button", { type: "submit", id: "confirm-ok", class: (verb === "cancel" ? "danger" : "good") + " big",
        text: verb === "approve" ? t("approve") : verb === "cancel" ? t("cancel") : t("allclearBtn") });
      const form = h("form", { novalidate: true },
        h("h2", { id: "confirm-title", text: t(title) }),
        drillBanner(v.status) || "",
        h("div", { class: "banner lv-" + v.level, id: "confirm-level", "data-level": v.level },
          h("b", { text: t(v.level) + " " + ({ blue: "IV", yellow: "III", orange: "II", red: "I" }[v.level] || "") + (S.lang === "zh" ? "级预警" : "") }),
          h("span", { text: eventName(v.event) + " · " + ((v.text.zh || v.text.ug || {}).headline || a.id) })),
        h("dl", { class: "kv" },
          h("dt", { text: t("area") }), h("dd", { id: "confirm-area", text: area || "—" }),
          h("dt", { text: t("audience") }), count,
          verb === "approve" ? [
            h("dt", { text: t("changes") }), h("dd", { id: "confirm-changes", text: (v.changes || []).map(changeName).join("、") || "—" }),
            h("dt", { text: t("authors") }), h("dd", { id: "confirm-authors", text: (v.authors || [v.created_by]).join(", ") })] : ""),
        field("reason", h("label", { for: "confirm-reason", text: t("reason") + (mustReason ? t("reasonNeeded") : "") }), reason),
        h("div", { class: "formerr", role: "alert" }),
        h("div", { class: "actions" }, back, ok));
      const dlg = h("dialog", { id: "confirm", class: "confirm", "aria-labelledby": "confirm-title", "data-verb": verb }, form);
      reason.addEventListener("input", () => clearFieldErrors(reason));
      back.addEventListener("click", () => dlg.close());
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (mustReason && !reason.value.trim()) {
          showProblems(form, { code: "validation", problems: [{ field: "reason",
            rule: verb === "approve" ? `required to approve a ${v.level} warning` : "required" }] });
          return;
        }
        result = reason.value.trim();
        dlg.close();
      });
      // Escape closes a modal <dialog> by itself ("cancel", then "close").
      dlg.addEventListener("close", () => { dlg.remove(); resolve(result); });
      document.body.append(dlg);
      S.cleanup.push(() => { if (dlg.open) dlg.close(); }); // a route change backs out
      dlg.showModal();
      (mustReason && !reason.value.trim() ? reason : back).focus();
      audienceOf(a, v).then((byCh) => {
        const parts = Object.entries(byCh).map(([ch, n]) => t(ch) + " " + n.toLocaleString());
        count.dataset.total = String(Object.values(byCh).reduce((x, y) => x + y, 0));
        count.textContent = parts.join(" · ") || "0";
      }).catch((e) => { count.textContent = "⚠ " + e.message; });
    });
  }

  // ---------- versions and diff ----------
  const DIFF_FIELDS = [
    ["event", (a) => eventName(a.event)], ["level", (a) => t(a.level)], ["status", (a) => t(a.status)],
    ["area", (a) => (a.area.codes || []).map((c) => regionName(c) + " " + c).join("、")],
    ["groups", (a) => (a.audience.groups || []).join(", ") || t("all")], ["languages", (a) => (a.audience.languages || []).join(", ") || "zh, ug"],
    ["channels", (a) => (a.channels || []).map(t).join(", ")],
    ...["zh", "ug"].flatMap((l) => ["headline", "description", "instruction"].map((k) => [l + " " + k, (a) => ((a.text || {})[l] || {})[k] || ""])),
    ["onset", (a) => fmtTime(a.onset)], ["expires", (a) => fmtTime(a.expires)], ["rebroadcast", (a) => a.rebroadcast || ""], ["action", (a) => (a.action ? t(a.action.type === "evacuate" ? "evacuate" : "shelterInPlace") + (a.action.away_from ? " · " + a.action.away_from : "") : "")],
  ];
  function diffTable(prev, cur) {
    return h("table", { class: "diff" }, h("tbody", null, DIFF_FIELDS.map(([name, fn]) => {
      const nv = fn(cur), ov = prev ? fn(prev) : null;
      const changed = prev && ov !== nv;
      const rtl = name.startsWith("ug ");
      const [l, k] = name.split(" ");
      const label = k ? (l === "zh" ? "中文 " : "ئۇيغۇرچە ") + t(k) : t(name);
      return h("tr", { class: changed ? "changed" : "", "data-name": name }, h("td", { text: label }),
        h("td", { dir: rtl ? "rtl" : null }, changed ? [h("div", { class: "diff-del", text: ov || "∅" }), h("div", { class: "diff-add", text: nv || "∅" })] : nv));
    })));
  }
  function renderVersions(box, a) {
    const vs = (a.versions || []).slice().sort((x, y) => x.version - y.version);
    put(box, h("h2", { text: t("versions") + " (" + vs.length + ")" }),
      vs.slice().reverse().map((v) => {
        const prev = vs.find((x) => x.version === v.version - 1);
        return h("details", { open: v.version === a.version }, h("summary", { text: `v${v.version} · ${v.kind} · ${t(v.state)} · ${fmtTime(v.issued_at || v.created_at)}` +
          (v.approved_by ? ` · ${t("approvedBy")} ${v.approved_by}` : "") }),
          diffTable(prev, v));
      }));
  }

  // ---------- approvals ----------
  routes.approvals = async (view) => {
    if (!S.events.length) await loadRefs();
    const list = h("div", { id: "approval-list" });
    put(view, h("h1", { text: t("approvals") }), list);
    const seen = new Map();
    const ap = poll(async () => {
      const r = await api("GET", "/api/v1/alerts?state=pending&limit=100");
      const u = await api("GET", "/api/v1/alerts?state=issued&limit=500");
      const alerts = ((r && r.alerts) || []).concat(((u && u.alerts) || []).filter((a) => a.pending));
      const ids = new Set(alerts.map((a) => a.id));
      for (const [id, el] of seen) if (!ids.has(id)) { el.remove(); seen.delete(id); }
      for (const a of alerts) if (!seen.has(a.id)) { const el = await approvalCard(a); seen.set(a.id, el); list.append(el); }
      if (!alerts.length) put(list, h("p", { class: "note", id: "no-pending", text: t("noPending") }));
      else { const np = $("#no-pending", list); if (np) np.remove(); }
    }, 2000);
    onLive((ev) => { if (ev && ev.type === "progress") ap.now(); });
  };
  async function approvalCard(a0) {
    const a = await api("GET", "/api/v1/alerts/" + encodeURIComponent(a0.id));
    const vs = (a.versions || []).slice().sort((x, y) => x.version - y.version);
    // An issued warning's pending update is approved against the version on air.
    const prev = a.pending ? a : vs.find((x) => x.version === a.version - 1);
    const next = a.pending || a;
    const card = h("section", { class: "panel card lv-border-" + next.level, "data-alert": a.id });
    const prevBox = h("div", { class: "note", text: "…" });
    const box = h("div");
    card.append(drillBanner(a.status) || "",
      h("h2", null, levelChip(a.level), " ", (a.text.zh || a.text.ug || {}).headline || a.id, " ", h("a", { href: "#/alert/" + encodeURIComponent(a.id), text: a.id })),
      h("p", { class: "note", text: `${t("createdBy")}: ${a.created_by} · ${fmtTime(a.created_at)} · v${a.version}` }),
      h("h3", { text: t("whatYouApprove") + (prev ? " (v" + prev.version + " → v" + next.version + ")" : "") }), diffTable(prev, next), prevBox, box);
    renderActions(box, a, () => {});
    if ((next.authors || [next.created_by]).includes(S.me.name)) box.prepend(h("p", { class: "formerr", text: t("ownAlert") }));

    // Re-resolve the audience so the approver sees whom it reaches.
    const input = { event: next.event, level: next.level, status: next.status, area: next.area, audience: next.audience, channels: next.channels, text: next.text,
      expires: next.expires, onset: next.onset && !next.onset.startsWith("0001") ? next.onset : undefined, rebroadcast: next.rebroadcast || undefined,
      action: next.action ? { type: next.action.type, away_from: next.action.away_from || undefined } : undefined };
    api("POST", "/api/v1/audience/preview", input).then((p) => {
      prevBox.textContent = Object.entries(p.channels || {}).map(([c, n]) => t(c) + " " + n.toLocaleString()).join(" · ") +
        (p.warnings && p.warnings.length ? " · ⚠ " + p.warnings.join("; ") : "");
    }).catch((e) => { prevBox.textContent = e.message; });
    return card;
  }

  // ---------- history ----------
  routes.history = async (view) => {
    if (!S.events.length) await loadRefs();
    const search = h("input", { type: "search", id: "history-search", placeholder: t("search") + " (ID, 标题, headline, user…)" });
    const stateSel = h("select", { id: "history-state" }, h("option", { value: "", text: t("all") }),
      ["pending", "issued", "rejected", "cancelled", "allclear", "expired"].map((s) => h("option", { value: s, text: t(s) })));
    const tbody = h("tbody");
    const more = h("button", { type: "button", text: t("more") });
    put(view, h("h1", { text: t("history") }),
      h("div", { class: "panel grid2" }, search, stateSel),
      h("table", { id: "history" }, h("thead", null, h("tr", null, ["", "ID", t("event"), t("headline"), t("status"), "", "v", t("createdBy"), t("expires")].map((x) => h("th", { text: x })))), tbody),
      h("div", { class: "actions" }, more));
    let all = [], before = "";
    function show() {
      const q = search.value.trim().toLowerCase();
      put(tbody, ...all.filter((a) => !q || JSON.stringify([a.id, a.event, eventName(a.event), a.text, a.created_by, a.approved_by, a.area.codes.map(regionName)]).toLowerCase().includes(q))
        .map((a) => h("tr", { class: "click" + (a.status !== "actual" ? " drillrow" : ""), tabindex: 0, "data-alert": a.id,
          onclick: () => { location.hash = "#/alert/" + encodeURIComponent(a.id); },
          onkeydown: (e) => { if (e.key === "Enter") location.hash = "#/alert/" + encodeURIComponent(a.id); } },
          h("td", null, levelChip(a.level)), h("td", { text: a.id }), h("td", { text: eventName(a.event) }),
          h("td", { text: ((a.text || {}).zh || (a.text || {}).ug || {}).headline || "" }),
          h("td", { text: a.status === "actual" ? t("actual") : "演练/" + t(a.status) }), h("td", null, stateChip(a.state)),
          h("td", { text: a.version }), h("td", { text: a.created_by }), h("td", { text: fmtTime(a.expires) }))));
    }
    async function load(reset) {
      if (reset) { all = []; before = ""; }
      const q = new URLSearchParams({ limit: "100" });
      if (stateSel.value) q.set("state", stateSel.value);
      if (before) q.set("before", before);
      const r = await api("GET", "/api/v1/alerts?" + q);
      const got = (r && r.alerts) || [];
      all = all.concat(got);
      if (got.length) before = got[got.length - 1].id;
      more.hidden = got.length < 100;
      show();
    }
    search.addEventListener("input", show);
    stateSel.addEventListener("change", () => load(true));
    more.addEventListener("click", () => load(false));
    await load(true);
    search.focus();
  };

  // ---------- admin ----------
  routes.admin = async (view) => {
    if (!S.townships.length) await loadRefs();
    const users = h("tbody");
    const uname = h("input", { type: "text", id: "u-name", autocomplete: "off" });
    const urole = h("select", { id: "u-role" }, ["viewer", "operator", "approver", "admin"].map((r) => h("option", { value: r, text: r })));
    const upw = h("input", { type: "password", id: "u-password", autocomplete: "new-password", placeholder: "≥ 10 (optional)" });
    // Where the account may act: * (the whole tree), a prefecture (6531) or region codes; empty: the admin's own.
    const uscope = h("input", { type: "text", id: "u-scope", autocomplete: "off", placeholder: "653122 · 6531 · *" });
    const created = h("div", { id: "u-created" });
    const uform = h("form", { class: "panel", id: "user-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault(); clearProblems(uform); created.replaceChildren();
      try {
        const r = await api("POST", "/api/v1/users", { name: uname.value.trim(), role: urole.value, password: upw.value || undefined, scope: uscope.value.trim() || undefined });
        created.append(h("p", { text: r.name + " (" + r.role + ", " + r.scope_label + ") — token: " }), h("div", { class: "secret", text: r.token }), h("p", { class: "note", text: t("shownOnce") }));
        uname.value = ""; upw.value = ""; uscope.value = ""; loadUsers();
      } catch (x) { showProblems(uform, x); }
    } }, h("h2", { text: t("create") + " · " + t("users") }),
      h("div", { class: "grid3" }, field("name", h("label", { for: "u-name", text: t("name") }), uname),
        field("role", h("label", { for: "u-role", text: t("role") }), urole), field("password", h("label", { for: "u-password", text: t("password") }), upw),
        field("scope", h("label", { for: "u-scope", text: t("scope") }), uscope)),
      h("div", { class: "formerr", role: "alert" }), h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("create") })), created);
    const importBox = (what, path) => {
      const file = h("input", { type: "file", accept: ".csv,text/csv", id: "import-" + what });
      const out = h("div", { class: "note" });
      return h("div", { class: "panel" }, h("h3", { text: t("import") + " · " + t(what) + " (CSV)" }), file,
        h("div", { class: "actions" }, h("button", { type: "button", text: t("import"), onclick: async () => {
          if (!file.files[0]) return;
          out.textContent = "…";
          try {
            const r = await api("POST", path, await file.files[0].text(), { "Content-Type": "text/csv" });
            out.textContent = JSON.stringify(r);
          } catch (x) { out.textContent = x.message + (x.problems.length ? " — " + x.problems.map((p) => window.ALERT_FIELD_ERRORS.describe(S.lang, p)).join("; ") : ""); }
        } })), out);
    };
    put(view, h("h1", { text: t("admin") }),
      h("div", { class: "grid2" },
        h("div", null, h("div", { class: "panel" }, h("h2", { text: t("users") }),
          h("table", null, h("thead", null, h("tr", null, [t("name"), t("role"), t("scope"), "created"].map((x) => h("th", { text: x })))), users)), uform),
        h("div", null, h("div", { class: "panel" }, h("h2", { text: t("speakers") }),
          h("a", { href: "#/fleet", id: "admin-fleet", text: t("fleetAdminLink") })),
          importBox("residents", "/api/v1/residents/import"), importBox("speakers", "/api/v1/speakers/import"))));
    async function loadUsers() {
      const r = await api("GET", "/api/v1/users");
      put(users, ...((r && r.users) || []).map((u) => h("tr", null, h("td", { text: u.name }), h("td", { text: u.role + (u.disabled ? " (disabled)" : "") }), h("td", { class: "user-scope", text: u.scope_label }), h("td", { text: fmtTime(u.created_at) }))));
    }
    await loadUsers();
  };

  // ---------- pages in other files ----------
  // Each console page beyond the core lives in its own file, loaded before
  // this one, which pushes an installer onto window.AlertcastPages. The
  // installer gets this object: it adds routes, nav entries (NAV: [name,
  // minimum role], in order) and strings (L.zh, L.en, L.ug), and uses the same
  // helpers as the core pages. Installers run before the first route.
  const AC = { S, L, t, h, put, $, $$, api, poll, onLive, can, routes, NAV, levelChip, stateChip, eventName,
    drillBanner, fmtTime, uuid, sameOrigin, renderChrome, route, loadSpeakers, groupLabel, LEVELS, CHANNELS, clearFieldErrors, alertHooks, mapLayers };
  for (const install of window.AlertcastPages || []) install(AC);

  // ---------- start ----------
  if (!L[S.lang]) S.lang = "zh"; // a language whose strings did not load
  $("#lang-select").addEventListener("change", (e) => {
    S.lang = L[e.target.value] ? e.target.value : "zh";
    localStorage.setItem("alertcast.lang", S.lang);
    renderChrome(); route();
  });
  window.addEventListener("hashchange", route);
  // SMS gateways that cannot send (a refused bind names its SMPP status and
  // what to check): a banner on every page while an officer is logged in,
  // from the same /readyz the operators' monitoring reads.
  async function gatewayBanner() {
    const box = $("#gateways");
    if (!box) return;
    let down = [];
    if (S.me) {
      try {
        const r = await fetch("/readyz", { cache: "no-store" });
        const body = await r.json();
        down = (body.sms_gateways || []).filter((g) => !g.healthy);
      } catch (e) { /* the connection indicator already says so */ }
    }
    box.replaceChildren(...down.map((g) => h("div", {
      text: (S.lang === "zh" ? "短信网关 " + g.name + " 无法发送：" : "SMS gateway " + g.name + " cannot send: ") + (g.error || (S.lang === "zh" ? "无连接" : "not bound")) })));
    box.hidden = down.length === 0;
  }
  setInterval(gatewayBanner, 10000);
  // When the network comes back, do not wait for the next poll.
  window.addEventListener("online", () => { if (S.conn === "lost") route(); });
  (async () => {
    // Session, reference data and loudspeakers load in parallel: the first
    // render waits for the slowest of them, not for their sum.
    const refs = loadRefs().catch(() => { /* public data: the views retry */ });
    const spk = sessionStorage.getItem("alertcast.session") ? loadSpeakers() : null;
    if (await restore()) { renderChrome(); connectWS(); linkState(); gatewayBanner(); await refs; await spk; S.speakersFresh = true; }
    else renderChrome();
    await route();
    S.speakersFresh = false;
    $("#view").dataset.ready = "1";
    performance.mark("alertcast-ready"); // first render, measured by the end-to-end test
  })();
})();
