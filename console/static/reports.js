// Field reports (灾情报送) on the warning page: the list of a warning's
// reports, live (a report sent from /field/ shows here within a second:
// the WebSocket progress feed says which report changed, this page fetches
// it through the API, which checks the officer's role), drawn on the map,
// with acknowledge, assign and reply. Officers only (operator and above).
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  "use strict";
  const { S, t, h, put, api, onLive, can, fmtTime } = AC;

  Object.assign(AC.L.zh, {
    reports: "灾情报送", noReportsYet: "还没有现场报送", ack: "确认", acked: "已确认", assign: "指派", assignTo: "指派给（用户名）",
    replyTo: "回复现场", sendReply: "发送回复", reporter: "报送人", rep_new: "新", rep_acknowledged: "已确认", assignedTo: "已指派给",
    rk_casualties: "人员伤亡", rk_damage: "房屋损毁", rk_road_blocked: "道路阻断", rk_water_level: "水位", rk_shelter_occupancy: "避难所人数", rk_all_well: "平安",
    rc_dead: "死亡", rc_injured: "受伤", rc_missing: "失踪", rc_trapped: "被困", rc_houses_collapsed: "倒塌房屋", rc_houses_damaged: "受损房屋",
    rc_livestock_lost: "牲畜损失", rc_people_displaced: "转移人数", rc_vehicles_stranded: "滞留车辆", rc_level_cm: "水位(厘米)", rc_people: "人数",
    shelterFigure: "避难所", occupancyApplied: "已更新避难所人数", newReport: "新的现场报送",
  });
  Object.assign(AC.L.en, {
    reports: "Field reports", noReportsYet: "No field reports yet", ack: "Acknowledge", acked: "Acknowledged", assign: "Assign", assignTo: "Assign to (user name)",
    replyTo: "Reply to the field", sendReply: "Send reply", reporter: "Reporter", rep_new: "new", rep_acknowledged: "acknowledged", assignedTo: "Assigned to",
    rk_casualties: "Casualties", rk_damage: "Damage", rk_road_blocked: "Road blocked", rk_water_level: "Water level", rk_shelter_occupancy: "Shelter occupancy", rk_all_well: "All well",
    rc_dead: "dead", rc_injured: "injured", rc_missing: "missing", rc_trapped: "trapped", rc_houses_collapsed: "houses collapsed", rc_houses_damaged: "houses damaged",
    rc_livestock_lost: "livestock lost", rc_people_displaced: "people displaced", rc_vehicles_stranded: "vehicles stranded", rc_level_cm: "level (cm)", rc_people: "people",
    shelterFigure: "Shelter", occupancyApplied: "shelter figure updated", newReport: "New field report",
  });
  if (AC.L.ug) Object.assign(AC.L.ug, {
    reports: "ئاپەت مەلۇماتى", noReportsYet: "تېخى نەق مەيدان مەلۇماتى يوق", ack: "تەستىقلاش", acked: "تەستىقلاندى", assign: "تاپشۇرۇش",
    assignTo: "تاپشۇرۇلىدىغان ئىشلەتكۈچى", replyTo: "نەق مەيدانغا جاۋاب", sendReply: "جاۋاب يوللاش", reporter: "يوللىغۇچى",
    rep_new: "يېڭى", rep_acknowledged: "تەستىقلاندى", assignedTo: "تاپشۇرۇلغان",
    rk_casualties: "ئۆلۈم-يارىلىنىش", rk_damage: "ئۆي ۋەيرانچىلىقى", rk_road_blocked: "يول توسۇلدى", rk_water_level: "سۇ ئورنى",
    rk_shelter_occupancy: "پاناھلىنىش ئورنىدىكى ئادەم", rk_all_well: "ھەممە ئامان",
    rc_dead: "ئۆلگەن", rc_injured: "يارىلانغان", rc_missing: "دەرىكسىز", rc_trapped: "قامىلىپ قالغان", rc_houses_collapsed: "ئۆرۈلگەن ئۆي",
    rc_houses_damaged: "بۇزۇلغان ئۆي", rc_livestock_lost: "يوقالغان چارۋا", rc_people_displaced: "كۆچۈرۈلگەن ئادەم",
    rc_vehicles_stranded: "قامالغان ماشىنا", rc_level_cm: "سۇ ئورنى (سانتىمېتىر)", rc_people: "ئادەم سانى",
    shelterFigure: "پاناھلىنىش ئورنى", occupancyApplied: "ئادەم سانى يېڭىلاندى", newReport: "يېڭى نەق مەيدان مەلۇماتى",
  });

  // The warning's reports as last read, by warning id (the map layer draws them).
  const byAlert = new Map();

  // Where a report is on the map: its device position, else the mean of
  // its village's loudspeakers (regions carry no coordinates).
  function pointOf(r) {
    const loc = r.location || {};
    if (typeof loc.lon === "number" && typeof loc.lat === "number") return [loc.lon, loc.lat];
    if (!loc.village) return null;
    let lon = 0, lat = 0, n = 0;
    for (const s of S.speakers || []) if (s.village === loc.village && s.point) { lon += s.point.lon; lat += s.point.lat; n++; }
    return n ? [lon / n, lat / n] : null;
  }
  AC.mapLayers.push((svg, px, opts) => {
    const list = opts && opts.alert ? byAlert.get(opts.alert) : null;
    if (!list) return;
    for (const r of list) {
      const p = pointOf(r);
      if (!p) continue;
      const [x, y] = px(p[0], p[1]);
      const m = h("svg:rect", { class: "report-mark rk-" + r.kind + (r.state === "new" ? " unseen" : ""), x: x - 5, y: y - 5, width: 10, height: 10,
        transform: `rotate(45 ${x} ${y})`, "data-report": r.id });
      m.append(h("svg:title", { text: t("rk_" + r.kind) + " · " + r.reporter + " · " + fmtTime(r.received_at) + (r.text ? " · " + r.text : "") }));
      svg.append(m);
    }
  });

  function countsText(r) {
    return Object.entries(r.counts || {}).map(([k, v]) => t("rc_" + k) + " " + v).join(" · ");
  }

  function reportItem(r, reload) {
    const loc = r.location || {};
    const where = [typeof loc.lat === "number" ? loc.lat.toFixed(5) + ", " + loc.lon.toFixed(5) + (loc.accuracy_m ? " ±" + Math.round(loc.accuracy_m) + " m" : "") : "",
      loc.village || ""].filter(Boolean).join(" · ");
    const assignIn = h("input", { class: "rep-assign-to", placeholder: t("assignTo"), "aria-label": t("assignTo"), size: 12 });
    const replyIn = h("input", { class: "rep-reply-text", placeholder: t("replyTo"), "aria-label": t("replyTo"), maxLength: 4000 });
    const err = h("span", { class: "err", role: "alert" });
    const act = (fn) => async () => { err.textContent = ""; try { await fn(); await reload(); } catch (e) { err.textContent = e.message; } };
    const base = "/api/v1/reports/" + encodeURIComponent(r.id);
    return h("li", { class: "report rep-" + r.state, "data-report": r.id, "data-kind": r.kind },
      h("div", null, h("strong", { class: "rep-kind", text: t("rk_" + r.kind) }), " ",
        h("span", { class: "state rep-state", "data-state": r.state, text: t("rep_" + r.state) }), " ",
        h("span", { class: "rep-counts", text: countsText(r) }),
        r.shelter_id ? h("span", { text: " · " + t("shelterFigure") + " " + r.shelter_id + (r.occupancy_applied ? " (" + t("occupancyApplied") + ")" : "") }) : ""),
      r.text ? h("div", { class: "rep-text", text: r.text }) : "",
      h("div", { class: "muted" }, h("span", { text: t("reporter") + ": " + r.reporter + " · " + fmtTime(r.observed_at) }),
        where ? h("span", { class: "rep-where", text: " · " + where }) : "",
        r.assigned_to ? h("span", { class: "rep-assigned", text: " · " + t("assignedTo") + " " + r.assigned_to }) : ""),
      (r.photos || []).length ? h("div", { class: "rep-photos" }, r.photos.map((p) =>
        h("a", { href: base + "/photos/" + encodeURIComponent(p.id), target: "_blank", rel: "noopener" },
          h("img", { src: base + "/photos/" + encodeURIComponent(p.id) + "?size=thumb", alt: t("rk_" + r.kind), loading: "lazy" })))) : "",
      (r.replies || []).map((p) => h("div", { class: "rep-reply" }, h("span", { class: "muted", text: p.by + " · " + fmtTime(p.at) + ": " }), h("span", { text: p.text }))),
      h("div", { class: "rep-actions" },
        r.state === "new" ? h("button", { type: "button", class: "rep-ack", text: t("ack"), onclick: act(() => api("POST", base + "/acknowledge")) }) : "",
        assignIn, h("button", { type: "button", class: "rep-assign", text: t("assign"), onclick: act(() => api("POST", base + "/assign", { to: assignIn.value.trim() })) }),
        replyIn, h("button", { type: "button", class: "rep-reply-send", text: t("sendReply"), onclick: act(() => api("POST", base + "/reply", { text: replyIn.value })) }),
        err));
  }

  AC.alertHooks.push((view, id, redrawMap) => {
    if (!can("operator")) return;
    const box = h("div", { class: "panel", id: "reports" });
    view.append(box);
    let loading = null, again = false, seen = null;
    async function load() {
      if (loading) { again = true; return loading; }
      loading = (async () => {
        try {
          const d = await api("GET", "/api/v1/alerts/" + encodeURIComponent(id) + "/reports");
          const list = (d && d.reports) || [];
          byAlert.set(id, list);
          const fresh = seen ? list.filter((r) => !seen.has(r.id)).length : 0;
          seen = new Set(list.map((r) => r.id));
          put(box, h("h2", null, t("reports") + " (" + list.length + ")", fresh ? h("span", { class: "chip rep-fresh", role: "status", text: " " + t("newReport") }) : ""),
            list.length ? h("ul", { class: "reports", id: "report-list" }, list.map((r) => reportItem(r, load))) : h("p", { class: "muted", text: t("noReportsYet") }));
          redrawMap();
        } catch (e) { /* the connection indicator says so; the next event or poll retries */ }
      })();
      await loading;
      loading = null;
      if (again) { again = false; await load(); }
    }
    load();
    // Live: the progress feed names the report that changed.
    onLive((ev) => {
      if (ev && ev.type === "progress" && ev.alert_id === id && ev.progress && ev.progress.report) {
        box.dataset.live = String(Number(box.dataset.live || 0) + 1); // how many live events came (tests read it)
        load();
      }
    });
    // Underneath, a slow poll (the socket may be down).
    const timer = setInterval(load, 15000);
    S.cleanup.push(() => clearInterval(timer));
  });
});
