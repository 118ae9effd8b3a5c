// After-action report of one warning: #/report/{id}. Every figure is the
// API's (GET /api/v1/alerts/{id}/report, the progress model every screen
// shows); the page only lays it out, on screen and for print (report.css).
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { h, put, t, api, S } = AC;
  Object.assign(AC.L.zh, {
    report: "事后报告", reportTitle: "预警事后报告", reportCSV: "下载 CSV", reportPrint: "打印", reportBack: "返回预警",
    reportGenerated: "生成时间", reportTimeline: "时间线", reportChannels: "各渠道送达", reportReach: "各乡镇覆盖", reportFailures: "失败原因",
    reportSpeakers: "未播放的大喇叭", reportActions: "操作记录（审计日志）", reportVersion: "版本", reportTime: "时间 (UTC+8)", reportEvent: "事件",
    reportWho: "人员", reportDetail: "说明", reportChannel: "渠道", reportTownship: "乡镇", reportUnplaced: "无登记地点（网页广播、已删除的居民）",
    reportNone: "无", reportReached: "送达进度", reportFirstSound: "首次播放", reportOmitted: "另有 {n} 台未列出", reportOutcome: "结果",
    reportCount: "数量", reportReason: "原因", reportAction: "操作", reportFrom: "来源地址", reportAfter: "发布后",
    ev_composed: "起草", ev_approved: "审批通过", ev_rejected: "驳回", ev_issued: "发布", ev_updated: "更新", ev_cancelled: "取消",
    ev_all_clear: "解除", ev_expired: "过期", ev_first_sound: "首个大喇叭开始播放", ev_field_report: "现场报告", reportField: "现场报告（灾情报送）", reportPhotos: "照片", ev_reached_50: "完成 50%", ev_reached_95: "完成 95%",
    ev_reached_100: "完成 100%", ev_update_proposed: "提出更新（待审批）", ev_rebroadcast: "重播",
    out_held: "离线待播", out_unconfirmed: "未确认", out_sent: "已下发未播放", out_planned: "未下发", out_failed: "失败", out_expired: "过期未播",
    out_revoked: "已撤销",
  });
  Object.assign(AC.L.en, {
    report: "Report", reportTitle: "After-action report", reportCSV: "Download CSV", reportPrint: "Print", reportBack: "Back to the warning",
    reportGenerated: "Generated", reportTimeline: "Timeline", reportChannels: "Delivery per channel", reportReach: "Reach per township", reportFailures: "Failures by reason",
    reportSpeakers: "Loudspeakers that did not play", reportActions: "Who did what (audit log)", reportVersion: "Version", reportTime: "Time (UTC+8)", reportEvent: "Event",
    reportWho: "Who", reportDetail: "Detail", reportChannel: "Channel", reportTownship: "Township", reportUnplaced: "No registered place (web broadcast, removed residents)",
    reportNone: "none", reportReached: "Done", reportFirstSound: "First sound", reportOmitted: "{n} more not listed", reportOutcome: "Outcome",
    reportCount: "Count", reportReason: "Reason", reportAction: "Action", reportFrom: "From", reportAfter: "after issue",
    ev_composed: "Composed", ev_approved: "Approved", ev_rejected: "Rejected", ev_issued: "Issued", ev_updated: "Updated", ev_cancelled: "Cancelled",
    ev_all_clear: "All clear", ev_expired: "Expired", ev_first_sound: "First loudspeaker playing", ev_field_report: "Field report", reportField: "Field reports", reportPhotos: "Photos", ev_reached_50: "50 % done", ev_reached_95: "95 % done",
    ev_reached_100: "100 % done", ev_update_proposed: "Update proposed (awaiting approval)", ev_rebroadcast: "Rebroadcast",
    out_held: "held (offline)", out_unconfirmed: "unconfirmed", out_sent: "sent, not played", out_planned: "not sent", out_failed: "failed", out_expired: "expired unplayed",
    out_revoked: "revoked",
  });
  // Uyghur: written by the engineers like i18n_ug.js, to be read by a
  // native-speaking duty officer before the county relies on it.
  AC.L.ug = Object.assign(AC.L.ug || {}, {
    report: "خۇلاسە دوكلاتى", reportTitle: "ئاگاھلاندۇرۇشتىن كېيىنكى خۇلاسە دوكلاتى", reportCSV: "CSV چۈشۈرۈش", reportPrint: "بېسىش",
    reportBack: "ئاگاھلاندۇرۇشقا قايتىش", reportGenerated: "تۈزۈلگەن ۋاقتى", reportTimeline: "ۋاقىت تەرتىپى", reportChannels: "ھەر بىر يول بويىچە يەتكۈزۈش",
    reportReach: "يېزا-بازارلار بويىچە قاپلاش", reportFailures: "مەغلۇبىيەت سەۋەبلىرى", reportSpeakers: "قويۇلمىغان كانايلار",
    reportActions: "مەشغۇلات خاتىرىسى (تەپتىش خاتىرىسى)", reportVersion: "نەشر", reportTime: "ۋاقىت (UTC+8)", reportEvent: "ھادىسە",
    reportWho: "كىشى", reportDetail: "چۈشەندۈرۈش", reportChannel: "يول", reportTownship: "يېزا-بازار",
    reportUnplaced: "تىزىملانغان ئورنى يوق (تور بەت تارقىتىش، ئۆچۈرۈلگەن ئاھالە)", reportNone: "يوق", reportReached: "تاماملىنىش",
    reportFirstSound: "تۇنجى قويۇلۇش", reportOmitted: "يەنە {n} كاناي كۆرسىتىلمىدى", reportOutcome: "نەتىجە", reportCount: "سانى",
    reportReason: "سەۋەب", reportAction: "مەشغۇلات", reportFrom: "ئادرېس", reportAfter: "ئېلان قىلىنغاندىن كېيىن",
    ev_composed: "تۈزۈلدى", ev_approved: "تەستىقلاندى", ev_rejected: "رەت قىلىندى", ev_issued: "ئېلان قىلىندى", ev_updated: "يېڭىلاندى",
    ev_cancelled: "بىكار قىلىندى", ev_all_clear: "خەتەر تۈگىدى", ev_expired: "ۋاقتى ئۆتتى", ev_first_sound: "تۇنجى كاناي قويۇشقا باشلىدى", ev_field_report: "نەق مەيدان دوكلاتى", reportField: "نەق مەيدان دوكلاتلىرى", reportPhotos: "سۈرەتلەر",
    ev_reached_50: "50% تاماملاندى", ev_reached_95: "95% تاماملاندى", ev_reached_100: "100% تاماملاندى",
    ev_update_proposed: "يېڭىلاش تەكلىپ قىلىندى (تەستىق كۈتۈۋاتىدۇ)", ev_rebroadcast: "قايتا تارقىتىلدى",
    out_held: "تورسىز، ساقلاندى", out_unconfirmed: "جەزملەنمىدى", out_sent: "يوللاندى، قويۇلمىدى", out_planned: "يوللانمىدى",
    out_failed: "مەغلۇپ بولدى", out_expired: "ۋاقتى ئۆتۈپ قويۇلمىدى", out_revoked: "ئەمەلدىن قالدۇرۇلدى",
  });
  // A label that falls back to the code itself (an audit action the
  // console has no word for still shows).
  const tOr = (prefix, code) => { const k = prefix + code; const v = t(k); return v === k ? code : v; };
  const withSec = (iso) => { const s = AC.fmtTime(iso); return s && iso.length >= 19 ? s + iso.slice(16, 19) : s; };
  const since = (iso, from) => {
    if (!iso || !from || from.startsWith("0001")) return "";
    const s = Math.round((Date.parse(iso) - Date.parse(from)) / 1000);
    return s < 0 ? "" : s < 120 ? `+${s} s` : `+${Math.floor(s / 60)} min ${s % 60} s`;
  };
  const table = (cls, heads, rows) => h("table", { class: "report-table " + (cls || "") },
    h("thead", null, h("tr", null, heads.map((x) => h("th", { text: x })))),
    h("tbody", null, rows));
  const num = (n) => h("td", { class: "num", text: n == null ? "" : Number(n).toLocaleString() });

  AC.routes.report = async (view, id) => {
    const r = await api("GET", "/api/v1/alerts/" + encodeURIComponent(id) + "/report");
    // The title names the warning: it is the PDF's title and the print
    // dialog's file name.
    const title = document.title;
    document.title = t("reportTitle") + " · " + r.id + " · Alertcast";
    S.cleanup.push(() => { document.title = title; });
    const csvHref = "/api/v1/alerts/" + encodeURIComponent(id) + "/report?format=csv";
    const issued = (r.versions.find((v) => v.kind === "alert") || r.versions[0] || {}).issued_at;
    const area = (r.area || []).map((c) => { const x = S.regionByCode.get(c); return x ? x.name : c; }).join("、");

    const head = h("header", { class: "report-head" },
      AC.drillBanner(r.status) || "",
      h("h1", null, AC.levelChip(r.level), " ", t("reportTitle") + " · " + (r.headline || r.id)),
      h("dl", { class: "kv" },
        h("dt", { text: "ID" }), h("dd", { id: "report-id", text: r.id }),
        h("dt", { text: t("event") }), h("dd", { text: AC.eventName(r.event) + " · " + t(r.level) + " · " + t(r.status) }),
        h("dt", { text: t("area") }), h("dd", { text: area }),
        h("dt", { text: t("reportVersion") }), h("dd", null, AC.stateChip(r.state), " v" + r.version),
        h("dt", { text: t("expires") }), h("dd", { text: AC.fmtTime(r.expires) + " (UTC+8)" }),
        h("dt", { text: t("reportGenerated") }), h("dd", { text: withSec(r.generated_at) + " (UTC+8)" })));
    const tools = h("div", { class: "actions report-tools" },
      h("a", { href: csvHref, id: "report-csv", class: "button", download: "alertcast-report-" + r.id + ".csv", text: "⬇ " + t("reportCSV") }),
      h("button", { type: "button", id: "report-print", text: t("reportPrint"), onclick: () => window.print() }),
      h("a", { href: "#/alert/" + encodeURIComponent(r.id), text: t("reportBack") }));

    const timeline = h("section", { id: "report-timeline", class: "panel" }, h("h2", { text: t("reportTimeline") }),
      table("", [t("reportTime"), "", t("reportEvent"), t("reportVersion"), t("reportChannel"), t("reportWho"), t("reportDetail")],
        r.timeline.map((e) => h("tr", { "data-event": e.event },
          h("td", { class: "nowrap", text: withSec(e.at) }), h("td", { class: "note nowrap", text: since(e.at, issued) }),
          h("td", { text: tOr("ev_", e.event) }), h("td", { text: e.version ? "v" + e.version : "" }),
          h("td", { text: e.channel ? t(e.channel) : "" }), h("td", { text: e.actor || "" }), h("td", { text: e.detail === "not sent: recorded in the outbox only" ? t("notSentOutbox") : e.event === "field_report" ? tOr("rk_", e.detail) : e.detail || "" })))));

    const states = ["planned", "queued", "sent", "unconfirmed", "held", "delivered", "failed", "expired", "revoked", "not_sent"];
    const stateHeads = states.map((s) => t(s === "not_sent" ? "notSent" : s === "revoked" ? "cancelled" : s));
    const channels = h("section", { id: "report-channels", class: "panel" }, h("h2", { text: t("reportChannels") }),
      r.versions.length ? r.versions.map((v) => [
        h("h3", { text: `v${v.version} · ${v.kind} · ${withSec(v.issued_at)}` }),
        table("", [t("reportChannel"), ...stateHeads, "%", t("reportReached") + " 50 / 95 / 100 %", t("reportFirstSound")],
          Object.keys(v.channels).sort().map((ch) => {
            const c = v.channels[ch];
            const reached = ["50", "95", "100"].map((p) => (c.reached && c.reached[p] ? since(c.reached[p], v.issued_at) || withSec(c.reached[p]) : "—")).join(" / ");
            return h("tr", { "data-channel": ch, "data-mode": c.mode },
              h("td", { text: t(ch) + (c.mode === "outbox" ? " · " + t("notSentShort") : "") }), ...states.map((s) => num(c[s])),
              num(c.percent), h("td", { class: "nowrap", text: reached }),
              h("td", { class: "nowrap", text: c.first_sound ? withSec(c.first_sound) + " " + since(c.first_sound, v.issued_at) : "" }));
          }))]) : h("p", { class: "note", text: t("reportNone") }));

    const chans = [...new Set(r.reach.flatMap((tw) => Object.keys(tw.channels)))].sort();
    const reachStates = ["planned", "sent", "delivered", "failed", "not_sent"];
    const reach = h("section", { id: "report-reach", class: "panel" },
      h("h2", { text: t("reportReach") + (r.reach_version ? " (v" + r.reach_version + ")" : "") }),
      r.reach.length ? table("reach", [t("reportTownship"), t("reportChannel"), ...reachStates.map((s) => t(s === "not_sent" ? "notSent" : s)), "%"],
        r.reach.flatMap((tw) => chans.filter((ch) => tw.channels[ch]).map((ch, i, all) => {
          const c = tw.channels[ch];
          const name = tw.code ? (S.lang === "ug" && tw.name_ug ? tw.name_ug : tw.name || tw.code) : t("reportUnplaced");
          return h("tr", { "data-township": tw.code, "data-channel": ch },
            i === 0 ? h("td", { class: "township", rowspan: String(all.length), text: name }) : "", h("td", { text: t(ch) }),
            // sent includes what waits on a device or a receipt.
            num(c.planned), num(c.sent + c.unconfirmed + c.held), num(c.delivered), num(c.failed), num(c.not_sent), num(c.percent));
        }))) : h("p", { class: "note", text: t("reportNone") }));

    const failures = h("section", { id: "report-failures", class: "panel" }, h("h2", { text: t("reportFailures") }),
      r.failures.length ? table("", [t("reportChannel"), t("reportReason"), t("reportCount")],
        r.failures.map((f) => h("tr", null, h("td", { text: t(f.channel) }), h("td", { text: f.reason }), num(f.count))))
        : h("p", { class: "note", text: t("reportNone") }));

    const speakers = h("section", { id: "report-speakers", class: "panel" }, h("h2", { text: t("reportSpeakers") + " (" + (r.speakers.length + (r.speakers_omitted || 0)) + ")" }),
      r.speakers.length ? table("", ["ID", t("reportTownship"), t("area"), t("reportOutcome"), t("reportDetail"), t("reportTime")],
        r.speakers.map((s) => {
          const tw = S.regionByCode.get(s.township), vil = S.regionByCode.get(s.village);
          return h("tr", { "data-outcome": s.outcome }, h("td", { text: s.id }), h("td", { text: tw ? tw.name : s.township || "" }),
            h("td", { text: vil ? vil.name : s.village || "" }), h("td", { text: tOr("out_", s.outcome) }), h("td", { text: s.detail || "" }),
            h("td", { class: "nowrap", text: withSec(s.at) }));
        })) : h("p", { class: "note", text: t("reportNone") }),
      r.speakers_omitted ? h("p", { class: "note", text: t("reportOmitted").replace("{n}", r.speakers_omitted) }) : "");

    const actions = h("section", { id: "report-actions", class: "panel" }, h("h2", { text: t("reportActions") }),
      table("", ["#", t("reportTime"), t("reportWho"), t("reportAction"), t("reportFrom"), t("reportDetail")],
        r.actions.map((a) => h("tr", null, num(a.seq), h("td", { class: "nowrap", text: withSec(a.at) }), h("td", { text: a.actor }),
          h("td", { text: a.action }), h("td", { text: a.remote || "" }), h("td", { class: "detail", text: a.detail || "" })))));

    // What the field teams reported (the kind names come from reports.js).
    const fieldReports = r.field_reports || [];
    const field = h("section", { id: "report-field", class: "panel" }, h("h2", { text: t("reportField") + " (" + fieldReports.length + ")" }),
      fieldReports.length ? table("", [t("reportTime"), t("reportWho"), t("reportEvent"), t("area"), t("reportDetail"), t("reportPhotos")],
        fieldReports.map((f) => {
          const vil = S.regionByCode.get(f.village);
          const counts = Object.entries(f.counts || {}).map(([k, n]) => k + " " + n).join(" · ");
          return h("tr", { "data-report": f.id, "data-kind": f.kind }, h("td", { class: "nowrap", text: withSec(f.received_at) }),
            h("td", { text: f.reporter }), h("td", { text: tOr("rk_", f.kind) }), h("td", { text: vil ? vil.name : f.village || "" }),
            h("td", { class: "detail", text: [counts, f.text || ""].filter(Boolean).join(" · ") }), num(f.photos));
        })) : h("p", { class: "note", text: t("reportNone") }));

    put(view, h("article", { id: "report", class: "report" + (r.drill ? " is-drill" : ""), "data-alert": r.id, "data-drill": String(r.drill) },
      head, tools, timeline, channels, reach, failures, speakers, field, actions));
  };
});
