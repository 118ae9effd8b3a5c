// Approvals find the approver. For approvers and admins: a badge on the
// "approvals" nav link with the number of warnings (and proposed updates)
// waiting for them, on every page, kept live by the console's WebSocket
// feed with a slow poll underneath; a short tone (WebAudio, no file) and a
// browser notification when a new one arrives; and on the approver's home
// page (compose) the waiting list first. A warning the approver wrote is
// not counted: the two-person rule means someone else must approve it.
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { h, t, api, S } = AC;
  Object.assign(AC.L.zh, {
    waitingForYou: "等待您审批", notifyEnable: "开启审批提醒（声音和桌面通知）", notifyOn: "审批提醒已开启",
    notifyBlocked: "浏览器已禁止通知：请在地址栏的网站设置中允许", newApproval: "新的待审批预警", goApprove: "去审批",
    proposedUpdate: "更新待审批",
  });
  Object.assign(AC.L.en, {
    waitingForYou: "Waiting for your approval", notifyEnable: "Turn on approval alerts (sound and desktop notice)", notifyOn: "Approval alerts on",
    notifyBlocked: "The browser blocks notifications: allow them in the site settings", newApproval: "New warning to approve", goApprove: "Review",
    proposedUpdate: "update waiting",
  });

  const POLL_MS = 15000; // under the live feed; the feed makes it instant
  let waiting = []; // [{id, level, headline, by, at, update}]
  let known = null; // ids seen so far (null: not loaded yet, nothing is "new")
  let timer = 0, running = false, again = false, forGen = -1, lastFetch = 0;

  // One waiting item per warning: a pending warning, or an issued one
  // with a proposed update. Authors may not approve their own.
  function approvable(a, mine) {
    const next = a.pending || a;
    return !(next.authors || [next.created_by]).includes(mine);
  }
  async function fetchWaiting() {
    const [p, u] = await Promise.all([api("GET", "/api/v1/alerts?state=pending&limit=100"), api("GET", "/api/v1/alerts?state=issued&limit=500")]);
    const list = ((p && p.alerts) || []).concat(((u && u.alerts) || []).filter((a) => a.pending));
    const me = S.me && S.me.name;
    return list.filter((a) => approvable(a, me)).map((a) => {
      const next = a.pending || a;
      return { id: a.id, level: next.level, headline: ((next.text && (next.text.zh || next.text.ug)) || {}).headline || a.id,
        by: (next.authors || [next.created_by]).join(", "), at: next.updated_at || a.created_at, update: !!a.pending };
    });
  }

  async function refresh() {
    if (!S.me || !AC.can("approver")) return;
    if (running) { again = true; return; }
    running = true; clearTimeout(timer);
    const gen = S.gen;
    try {
      const list = await fetchWaiting();
      if (gen !== S.gen) return; // a log-out or another log-in meanwhile
      lastFetch = Date.now();
      const fresh = known ? list.filter((w) => !known.has(w.id)) : [];
      known = new Set(list.map((w) => w.id));
      waiting = list;
      showBadge();
      showHome();
      if (fresh.length) announce(fresh);
    } catch (e) { /* the connection indicator says so; the next tick retries */ }
    finally {
      running = false;
      if (S.me && gen === S.gen) timer = setTimeout(refresh, again ? 300 : POLL_MS);
      again = false;
    }
  }

  function showBadge() {
    const link = document.getElementById("nav-approvals");
    if (!link) return;
    let b = document.getElementById("approvals-badge");
    if (!b || b.parentNode !== link) {
      if (b) b.remove();
      b = h("span", { class: "count", id: "approvals-badge", role: "status", "aria-live": "polite" });
      link.append(b);
    }
    const n = waiting.length;
    b.textContent = String(n);
    b.dataset.count = String(n);
    b.title = t("waitingForYou") + ": " + n;
    b.hidden = n === 0;
  }

  // ---------- sound and notice ----------
  let audio = null;
  function unlockAudio() {
    // Browsers start audio only after a user gesture: the first click
    // anywhere makes the context that later tones use.
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) { try { audio = new Ctx(); } catch (e) { return; } }
    if (audio.state === "suspended") audio.resume().catch(() => {});
  }
  function tone() {
    unlockAudio();
    if (!audio) return;
    // Two short rising beeps, about 0.4 s: noticed, not alarming.
    const now = audio.currentTime;
    for (const [i, f] of [[0, 880], [1, 1320]]) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = "sine"; o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, now + i * 0.22);
      g.gain.exponentialRampToValueAtTime(0.25, now + i * 0.22 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.22 + 0.18);
      o.connect(g); g.connect(audio.destination);
      o.start(now + i * 0.22); o.stop(now + i * 0.22 + 0.2);
    }
  }
  function announce(fresh) {
    tone();
    const N = window.Notification;
    if (!N || N.permission !== "granted") return;
    for (const w of fresh.slice(0, 3)) {
      try {
        const n = new N(t("newApproval") + " · " + t(w.level), { body: w.headline + " — " + w.by, tag: "alertcast-approval-" + w.id, requireInteraction: true });
        n.onclick = () => { window.focus(); location.hash = "#/approvals"; n.close(); };
      } catch (e) { /* some browsers allow notices only from a service worker */ }
    }
  }
  function notifyControl() {
    const N = window.Notification;
    const box = h("p", { class: "note", id: "approvals-notify-box" });
    const set = () => {
      if (!N) { box.replaceChildren(); return; }
      if (N.permission === "granted") box.replaceChildren(h("span", { id: "approvals-notify-on", text: "🔔 " + t("notifyOn") }));
      else if (N.permission === "denied") box.replaceChildren(h("span", { text: t("notifyBlocked") }));
      else box.replaceChildren(h("button", { type: "button", id: "approvals-notify", class: "ghost", text: "🔔 " + t("notifyEnable"),
        onclick: async () => { unlockAudio(); try { await N.requestPermission(); } catch (e) { /* old callback form */ } set(); } }));
    };
    set();
    return box;
  }

  // ---------- the approver's home: the waiting list first ----------
  let homeBox = null;
  function showHome() {
    if (!homeBox || !homeBox.isConnected) return;
    homeBox.hidden = waiting.length === 0;
    homeBox.replaceChildren(h("h2", null, t("waitingForYou") + " ", h("span", { class: "count", text: String(waiting.length) })),
      h("ul", { class: "waiting-list" }, waiting.map((w) => h("li", { "data-alert": w.id },
        AC.levelChip(w.level), " ", h("a", { href: "#/alert/" + encodeURIComponent(w.id), text: w.headline }),
        h("span", { class: "note", text: " · " + (w.update ? t("proposedUpdate") + " · " : "") + t("createdBy") + ": " + w.by + " · " + AC.fmtTime(w.at) + " " }),
        h("a", { href: "#/approvals", class: "go", text: t("goApprove") + " →" })))),
      notifyControl());
  }
  const compose = AC.routes.compose;
  if (compose) {
    AC.routes.compose = async (view, arg, q) => {
      await compose(view, arg, q);
      if (!AC.can("approver") || (q && q.get("update"))) return;
      homeBox = h("section", { class: "panel approvals-home", id: "approvals-home", hidden: true });
      view.prepend(homeBox);
      showHome();
      if (Date.now() - lastFetch > 2000) refresh();
    };
  }
  const approvals = AC.routes.approvals;
  if (approvals) {
    AC.routes.approvals = async (view, arg, q) => {
      await approvals(view, arg, q);
      const h1 = view.querySelector("h1");
      if (h1) h1.after(notifyControl());
    };
  }

  // ---------- start, stop ----------
  // The nav is redrawn on log-in, log-out and language change: each time
  // the badge goes back on it, and polling starts or stops with the user.
  function onChrome() {
    if (S.me && AC.can("approver")) {
      if (forGen !== S.gen) { forGen = S.gen; known = null; waiting = []; clearTimeout(timer); running = false; refresh(); }
      showBadge();
    } else if (forGen !== -1) {
      forGen = -1; known = null; waiting = []; clearTimeout(timer);
    }
  }
  const nav = document.getElementById("nav");
  if (nav) new MutationObserver(onChrome).observe(nav, { childList: true });
  // Every console change of a warning comes over the live feed: a new
  // pending warning, an approval elsewhere, a proposed update.
  // Delivery ticks (with counts) change nothing here: only lifecycle
  // changes ({state, version}) are fetched for, a burst of them once.
  let soon = 0;
  S.wsListeners.add((ev) => {
    if (!ev || ev.type !== "progress" || !S.me || !AC.can("approver")) return;
    const p = ev.progress || {};
    if (p.overall || p.progress) return;
    clearTimeout(soon);
    soon = setTimeout(refresh, 250);
  });
  document.addEventListener("pointerdown", unlockAudio, { once: true, capture: true });
});
