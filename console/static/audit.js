// The audit page (#/audit): the append-only log newest first, filtered by
// person, action, warning and time, in pages, with localized headers, a CSV
// export of everything the filter matches, and the hash chain's status.
// Every server string is set with textContent.
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { t, h, put, api, can, fmtTime } = AC;
  Object.assign(AC.L.zh, {
    auditSeq: "序号", auditTime: "时间（北京时间）", auditActor: "操作人", auditAction: "操作", auditAlert: "预警", auditFrom: "来源地址", auditDetail: "详情",
    auditSince: "起始时间（北京时间）", auditUntil: "截止时间（北京时间）", auditAnyAction: "全部操作", auditCSV: "导出 CSV（全部筛选结果）",
    auditChain: "哈希链", auditChainOK: "完整：{n} 条记录已校验", auditChainBad: "已损坏", auditChecking: "正在校验…", auditEmpty: "没有符合条件的记录",
    auditFilter: "筛选", auditRecheck: "重新校验",
  });
  Object.assign(AC.L.en, {
    auditSeq: "#", auditTime: "Time (UTC+8)", auditActor: "Person", auditAction: "Action", auditAlert: "Warning", auditFrom: "From", auditDetail: "Detail",
    auditSince: "From (UTC+8)", auditUntil: "Until (UTC+8)", auditAnyAction: "Any action", auditCSV: "Export CSV (every filtered row)",
    auditChain: "Hash chain", auditChainOK: "intact: {n} entries verified", auditChainBad: "BROKEN", auditChecking: "verifying…", auditEmpty: "No entries match",
    auditFilter: "Filter", auditRecheck: "Verify again",
  });
  // Actions an officer filters by, with their names; others show as stored.
  const ACTIONS = {
    "alert.": ["预警（全部）", "warnings (all)"], "alert.create": ["发布/起草预警", "warning created"], "alert.approve": ["批准", "approved"],
    "alert.reject": ["驳回", "rejected"], "alert.update": ["更新", "updated"], "alert.cancel": ["取消", "cancelled"],
    "alert.allclear": ["解除", "all clear"], "alert.expire": ["过期", "expired"], "login": ["登录", "login"], "login.failed": ["登录失败", "failed login"],
    "user.": ["账号（全部）", "accounts (all)"], "speaker.": ["大喇叭（全部）", "loudspeakers (all)"], "speaker.enroll": ["大喇叭注册", "loudspeaker enrolled"],
    "speaker.revoke": ["大喇叭吊销", "loudspeaker revoked"], "audit.export": ["导出审计日志", "audit exported"],
  };
  // Uyghur names (drafts, reviewed with the rest of i18n_ug.js).
  const ACTIONS_UG = {
    "alert.": "ئاگاھلاندۇرۇش (ھەممىسى)", "alert.create": "ئاگاھلاندۇرۇش يېزىلدى", "alert.approve": "تەستىقلاندى", "alert.reject": "رەت قىلىندى",
    "alert.update": "يېڭىلاندى", "alert.cancel": "بىكار قىلىندى", "alert.allclear": "خەتەر تۈگىدى", "alert.expire": "ۋاقتى ئۆتتى",
    "login": "كىرىش", "login.failed": "كىرىش مەغلۇپ بولدى", "user.": "ھېساباتلار (ھەممىسى)", "speaker.": "كانايلار (ھەممىسى)",
    "speaker.enroll": "كاناي تىزىملاندى", "speaker.revoke": "كاناي ئەمەلدىن قالدۇرۇلدى", "audit.export": "تەپتىش خاتىرىسى چىقىرىلدى",
  };
  const actionName = (a) => (AC.S.lang === "ug" && ACTIONS_UG[a]) || (ACTIONS[a] ? ACTIONS[a][AC.S.lang === "zh" ? 0 : 1] : a);
  const PAGE = 100;
  // datetime-local inputs hold Beijing time; the API takes RFC 3339.
  const bj = (v) => (v ? v + ":00+08:00" : "");

  // Core pages keep their place: audit comes after history.
  const at = AC.NAV.findIndex(([n]) => n === "history");
  AC.NAV.splice(at < 0 ? AC.NAV.length : at + 1, 0, ["audit", "viewer"]);

  AC.routes.audit = async (view, _arg, query) => {
    const actor = h("input", { type: "text", id: "audit-actor", autocomplete: "off", value: query.get("actor") || "" });
    const action = h("select", { id: "audit-action" }, h("option", { value: "", text: t("auditAnyAction") }),
      Object.keys(ACTIONS).map((a) => h("option", { value: a, text: actionName(a) + (a.endsWith(".") ? "" : " · " + a) })));
    action.value = query.get("action") || "";
    const alertIn = h("input", { type: "search", id: "audit-alert", autocomplete: "off", value: query.get("alert") || "" });
    const since = h("input", { type: "datetime-local", id: "audit-since" });
    const until = h("input", { type: "datetime-local", id: "audit-until" });
    const lbl = (id, k, el) => h("div", null, h("label", { for: id, text: t(k) }), el);
    const chain = h("span", { id: "audit-chain", role: "status", "aria-live": "polite" });
    const csv = h("a", { id: "audit-csv", text: t("auditCSV"), download: "" });
    const err = h("div", { class: "formerr", role: "alert", id: "audit-error" });
    const tbody = h("tbody");
    const more = h("button", { type: "button", id: "audit-more", text: t("more") });
    put(view, h("h1", { text: t("audit") }),
      h("div", { class: "panel actions", id: "audit-chain-box" }, h("strong", { text: t("auditChain") + ": " }), chain,
        h("button", { type: "button", class: "ghost", id: "btn-verify", text: t("auditRecheck"), onclick: () => verify() })),
      h("form", { class: "panel", id: "audit-filter", onsubmit: (e) => { e.preventDefault(); load(true); } },
        h("div", { class: "grid3" }, lbl("audit-actor", "auditActor", actor), lbl("audit-action", "auditAction", action), lbl("audit-alert", "auditAlert", alertIn),
          lbl("audit-since", "auditSince", since), lbl("audit-until", "auditUntil", until)),
        h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("auditFilter") }), csv)),
      err,
      h("table", { id: "audit-table" }, h("thead", null, h("tr", null,
        ["auditSeq", "auditTime", "auditActor", "auditAction", "auditAlert", "auditFrom", "auditDetail"].map((k) => h("th", { text: t(k) })))), tbody),
      h("div", { class: "actions" }, more));

    // The chain is walked on the server: the admin's verify answers with
    // the first broken entry; other roles get the count and the error.
    async function verify() {
      chain.textContent = t("auditChecking"); chain.className = "note";
      try {
        let ok, n, why;
        if (can("admin")) {
          const r = await api("GET", "/api/v1/audit/verify");
          ok = r.ok; n = r.rows; why = r.message || (r.error ? "#" + r.error.seq + ": " + r.error.reason : "");
        } else {
          const r = await api("GET", "/api/v1/audit?limit=1&verify=1");
          ok = !r.verify_error; n = r.verified; why = r.verify_error || "";
        }
        chain.textContent = ok ? "✓ " + t("auditChainOK").replace("{n}", String(n)) : "✗ " + t("auditChainBad") + (why ? " — " + why : "");
        chain.className = ok ? "ok" : "err";
        chain.dataset.ok = ok ? "1" : "0";
      } catch (x) { chain.textContent = x.message; chain.className = "err"; }
    }
    let cursor = "", loading = 0;
    const params = (extra) => {
      const p = new URLSearchParams();
      if (actor.value.trim()) p.set("actor", actor.value.trim());
      if (action.value) p.set("action", action.value);
      if (alertIn.value.trim()) p.set("alert", alertIn.value.trim());
      if (since.value) p.set("since", bj(since.value));
      if (until.value) p.set("until", bj(until.value));
      for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
      return p;
    };
    async function load(reset) {
      const mine = ++loading;
      if (reset) cursor = "";
      const p = params({ limit: String(PAGE) });
      if (cursor) p.set("cursor", cursor);
      csv.href = "/api/v1/audit?" + params({ format: "csv", lang: AC.S.lang === "zh" ? "zh" : "en" });
      let r;
      try { r = await api("GET", "/api/v1/audit?" + p); }
      catch (x) { if (mine === loading) err.textContent = x.message; return; }
      if (mine !== loading) return;
      err.textContent = "";
      const rows = (r.entries || []).map((e) => h("tr", { "data-seq": e.seq, "data-action": e.action },
        h("td", { class: "num", text: String(e.seq) }), h("td", { text: fmtTime(e.at) }), h("td", { text: e.actor }),
        h("td", { title: e.action, text: actionName(e.action) }),
        h("td", null, e.alert_id ? h("a", { href: "#/alert/" + encodeURIComponent(e.alert_id), text: e.alert_id }) : ""),
        h("td", { text: e.remote || "" }), h("td", { class: "note", text: e.detail || "" })));
      if (reset) put(tbody, rows.length ? rows : h("tr", null, h("td", { colSpan: 7, class: "note", text: t("auditEmpty") })));
      else tbody.append(...rows);
      cursor = r.next_cursor || "";
      more.hidden = !cursor;
    }
    more.addEventListener("click", () => load(false));
    action.addEventListener("change", () => load(true));
    verify();
    await load(true);
  };
});
