// The loudspeaker fleet page (#/fleet): every registered loudspeaker in
// keyset pages, filtered by status, township and search, with its last
// heartbeat and firmware, the counts per township, a CSV export, and for
// admins revoke and re-enrol from the row. Operators and above see it read
// only. Every server string is set with textContent.
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { S, t, h, put, api, can, fmtTime } = AC;
  Object.assign(AC.L.zh, {
    fleet: "大喇叭设备", fleetAll: "全部状态", fleetAllTowns: "全部乡镇", fleetSearch: "设备编号或村名…",
    fleetOnline: "在线", fleetOffline: "离线", fleetNever: "从未连接", fleetFaulty: "故障", fleetHeld: "有待播指令", fleetRevoked: "已吊销", fleetUnknown: "状态未知",
    fleetID: "设备编号", fleetVillage: "村", fleetLastHB: "最后心跳（北京时间）", fleetFirmware: "固件/代理版本", fleetRegistered: "已注册", fleetTotal: "合计",
    fleetCounts: "各乡镇设备在线情况", fleetCSV: "导出 CSV（全部筛选结果）", fleetNext: "下一页", fleetPrev: "上一页", fleetPage: "第 {n} 页",
    fleetEmpty: "没有符合条件的设备", fleetNoHub: "本节点未启用大喇叭通道：在线状态未知。", fleetReenroll: "重新注册", fleetRevokeSure: "确认吊销？",
    fleetReadOnly: "只读：注册和吊销需要管理员。", fleetCountsAt: "统计时间（北京时间）：", fleetAdminLink: "大喇叭设备：分页、筛选、注册与吊销见设备页",
  });
  Object.assign(AC.L.en, {
    fleet: "Loudspeakers", fleetAll: "Any status", fleetAllTowns: "All townships", fleetSearch: "Device id or village name…",
    fleetOnline: "online", fleetOffline: "offline", fleetNever: "never connected", fleetFaulty: "faulty", fleetHeld: "command held", fleetRevoked: "revoked", fleetUnknown: "unknown",
    fleetID: "Device", fleetVillage: "Village", fleetLastHB: "Last heartbeat (UTC+8)", fleetFirmware: "Firmware/agent", fleetRegistered: "Registered", fleetTotal: "Total",
    fleetCounts: "Loudspeakers online per township", fleetCSV: "Export CSV (every filtered row)", fleetNext: "Next page", fleetPrev: "Previous page", fleetPage: "Page {n}",
    fleetEmpty: "No loudspeaker matches", fleetNoHub: "The loudspeaker hub is not enabled on this node: online status is unknown.", fleetReenroll: "Re-enrol", fleetRevokeSure: "Really revoke?",
    fleetReadOnly: "Read only: enrolling and revoking need an admin.", fleetCountsAt: "Counted at (UTC+8):", fleetAdminLink: "Loudspeakers: paging, filters, enrolment and revocation are on the fleet page",
  });
  const STATUS = ["online", "offline", "never", "faulty", "held", "revoked"];
  const statusLabel = (s) => t("fleet" + s.charAt(0).toUpperCase() + s.slice(1));
  const PAGE = 100;

  // Before the admin entry: it is what an admin looks for among the pages.
  const at = AC.NAV.findIndex(([n]) => n === "admin");
  AC.NAV.splice(at < 0 ? AC.NAV.length : at, 0, ["fleet", "operator"]);

  AC.routes.fleet = async (view, _arg, query) => {
    const f = { status: query.get("status") || "", region: query.get("region") || "", q: query.get("q") || "" };
    let towns = S.townships;
    if (!towns.length) towns = ((await api("GET", "/api/v1/regions")) || {}).townships || [];
    const statusSel = h("select", { id: "fleet-status", "aria-label": t("status") }, h("option", { value: "", text: t("fleetAll") }),
      STATUS.map((s) => h("option", { value: s, text: statusLabel(s) })));
    const regionSel = h("select", { id: "fleet-region", "aria-label": t("township") }, h("option", { value: "", text: t("fleetAllTowns") }),
      towns.map((tw) => h("option", { value: tw.code, text: tw.name })));
    if (f.region && !towns.some((tw) => tw.code === f.region)) regionSel.append(h("option", { value: f.region, text: f.region }));
    const search = h("input", { type: "search", id: "fleet-q", placeholder: t("fleetSearch"), "aria-label": t("search"), maxLength: 64 });
    statusSel.value = f.status; regionSel.value = f.region; search.value = f.q;
    const csv = h("a", { id: "fleet-csv", text: t("fleetCSV"), download: "" });
    const note = h("p", { class: "note", id: "fleet-note" });
    const err = h("div", { class: "formerr", role: "alert", id: "fleet-error" });
    const secret = h("div", { id: "enrolled" });
    const countsBody = h("tbody");
    const countsAt = h("p", { class: "note", id: "fleet-counts-at" });
    const tbody = h("tbody");
    const prev = h("button", { type: "button", id: "fleet-prev", text: t("fleetPrev") });
    const next = h("button", { type: "button", id: "fleet-next", text: t("fleetNext") });
    const pageNo = h("span", { class: "note", id: "fleet-page" });
    const cols = [t("fleetID"), t("fleetVillage"), t("township"), t("status"), t("fleetLastHB"), t("fleetFirmware"), t("fleetHeld")];
    if (can("admin")) cols.push("");
    put(view, h("h1", { text: t("fleet") }),
      h("div", { class: "panel" }, h("h2", { text: t("fleetCounts") }),
        h("table", { id: "fleet-counts" }, h("thead", null, h("tr", null,
          [t("township"), t("fleetRegistered"), t("fleetOnline"), t("fleetOffline"), t("fleetNever"), t("fleetFaulty"), t("fleetHeld"), t("fleetRevoked")]
            .map((x) => h("th", { text: x })))), countsBody), countsAt),
      h("div", { class: "panel grid3" }, search, regionSel, statusSel),
      h("div", { class: "actions" }, csv, can("admin") ? null : h("span", { class: "note", text: t("fleetReadOnly") })),
      note, err, secret,
      h("table", { id: "fleet-table" }, h("thead", null, h("tr", null, cols.map((x) => h("th", { text: x })))), tbody),
      h("div", { class: "actions" }, prev, pageNo, next));

    // cursors[i] is the cursor of page i+1 ("" for the first).
    let cursors = [""], page = 0, loading = 0;
    const params = (extra) => {
      const p = new URLSearchParams();
      for (const k of ["status", "region", "q"]) if (f[k]) p.set(k, f[k]);
      for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
      return p;
    };
    function cell(n, status, region) {
      // A count is a link to the list it counts.
      const p = new URLSearchParams();
      if (status) p.set("status", status);
      if (region) p.set("region", region);
      return h("td", { class: "num" }, n ? h("a", { href: "#/fleet?" + p, text: String(n) }) : "0");
    }
    function showCounts(c) {
      if (!c) return;
      const row = (x, code, label) => h("tr", { "data-township": code || "" }, h("td", { text: label }), cell(x.registered, "", code),
        cell(x.online, "online", code), cell(x.offline, "offline", code), cell(x.never, "never", code),
        cell(x.faulty, "faulty", code), cell(x.held, "held", code), cell(x.revoked, "revoked", code));
      put(countsBody, (c.townships || []).map((x) => row(x, x.code, x.name || x.code)), row(c.total, "", t("fleetTotal")));
      countsAt.textContent = t("fleetCountsAt") + " " + fmtTime(c.at);
    }
    function statusCell(it) {
      const label = statusLabel(it.status) + (it.faulty ? " · " + t("fleetFaulty") : "");
      return h("td", { class: "fleet-st st-" + it.status, "data-status": it.status, text: (it.status === "online" ? "● " : "○ ") + label });
    }
    function actions(it) {
      if (!can("admin")) return null;
      let armed = 0;
      const revoke = h("button", { type: "button", class: "danger", text: t("revoke"), "data-revoke": it.id, disabled: it.revoked });
      revoke.addEventListener("click", async () => {
        // Two clicks: a revoked loudspeaker stays silent until re-enrolled.
        if (!armed) {
          revoke.textContent = t("fleetRevokeSure");
          armed = setTimeout(() => { armed = 0; revoke.textContent = t("revoke"); }, 5000);
          return;
        }
        clearTimeout(armed); armed = 0;
        try { await api("POST", `/api/v1/speakers/${encodeURIComponent(it.id)}/revoke`); await load(); }
        catch (x) { put(secret, h("p", { class: "formerr", text: x.message })); }
      });
      const enroll = h("button", { type: "button", text: it.enrolled || it.revoked ? t("fleetReenroll") : t("enroll"), "data-enroll": it.id, "data-village": it.village,
        onclick: async () => {
          try {
            const r = await api("POST", `/api/v1/speakers/${encodeURIComponent(it.id)}/enroll`);
            put(secret, h("p", { text: r.device_id + ":" }), h("div", { class: "secret", text: r.credential }), h("p", { class: "note", text: t("shownOnce") }));
            await load();
          } catch (x) { put(secret, h("p", { class: "formerr", text: x.message })); }
        } });
      return h("td", null, enroll, " ", revoke);
    }
    async function load() {
      const mine = ++loading;
      const p = params({ limit: String(PAGE) });
      if (cursors[page]) p.set("cursor", cursors[page]);
      let r;
      try { r = await api("GET", "/api/v1/speakers?" + p); }
      catch (x) { if (mine === loading) err.textContent = x.message; return; }
      if (mine !== loading) return; // a newer filter's answer wins
      err.textContent = "";
      if (r.counts) showCounts(r.counts);
      const items = r.items || [];
      put(tbody, items.length ? items.map((it) => h("tr", { "data-id": it.id, "data-status": it.status },
        h("td", { text: it.id }), h("td", { text: it.village_name || it.village }), h("td", { text: it.township_name || it.township }),
        statusCell(it), h("td", { text: fmtTime(it.last_heartbeat) }), h("td", { text: it.firmware || "" }),
        h("td", { text: it.held ? "✓" : "" }), actions(it)))
        : h("tr", null, h("td", { colSpan: cols.length, class: "note", text: t("fleetEmpty") })));
      cursors[page + 1] = r.next_cursor || "";
      next.disabled = !r.next_cursor;
      prev.disabled = page === 0;
      pageNo.textContent = t("fleetPage").replace("{n}", String(page + 1));
      note.textContent = r.live ? "" : t("fleetNoHub");
    }
    function refilter() {
      f.status = statusSel.value; f.region = regionSel.value; f.q = search.value.trim();
      cursors = [""]; page = 0;
      const p = params();
      // The address names the filter (a link can be sent), without a new
      // history entry per keystroke.
      history.replaceState(null, "", "#/fleet" + (String(p) ? "?" + p : ""));
      csv.href = "/api/v1/speakers?" + params({ format: "csv" });
      return load();
    }
    let typing = 0;
    search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refilter, 300); });
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(typing); refilter(); } });
    statusSel.addEventListener("change", refilter);
    regionSel.addEventListener("change", refilter);
    next.addEventListener("click", () => { if (cursors[page + 1]) { page++; load(); } });
    prev.addEventListener("click", () => { if (page > 0) { page--; load(); } });
    S.cleanup.push(() => clearTimeout(typing));
    csv.href = "/api/v1/speakers?" + params({ format: "csv" });
    await load();
  };
});
