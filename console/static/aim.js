// Aiming a warning and the county map. The picker turns "whole county",
// whole townships, single villages (with a search over Chinese and Uyghur
// names and codes) and polygons drawn on the map into the area the API
// takes: the county code for the whole county, never its 251 villages. The
// audience count follows the aim (debounced; the last answer wins).
//
// The map is SVG drawn from /console/outline.json and
// /console/townships.json (approximate township areas computed by the
// server from village locations): no tiles, no library, works offline.
// Every string from the server is set with textContent.
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { S, t, h, put, $, $$, api } = AC;

  Object.assign(AC.L.zh, {
    aimCounty: "全县", aimSearch: "搜索村/乡镇（中文、维吾尔文或代码）…", aimClear: "清空范围", aimWholeTw: "整个乡镇",
    aimDraw: "在地图上画多边形", aimDrawing: "点击地图添加顶点，双击或点“完成”结束", aimDone: "完成", aimUndo: "撤销顶点", aimCancel: "放弃",
    aimPolyClear: "清除多边形", aimPolygon: "多边形", aimPoints: "个顶点", aimNeed3: "多边形至少需要 3 个不同的顶点",
    aimCrosses: "多边形的边不能相交，请重画", aimUpdating: "正在更新受众…", aimReach: "当前范围可覆盖", aimNoAim: "尚未选择范围",
    aimApprox: "乡镇边界为近似：由村庄位置推算，非勘界数据", aimNoResults: "没有匹配的村或乡镇", aimCovered: "已含在所选乡镇/全县内",
    aimResidents: "短信居民", aimSpeakers: "大喇叭",
    spkOnline: "在线", spkOffline: "离线", spkNever: "从未连接", spkFault: "故障", spkPlaying: "正在播放", spkRevoked: "已吊销", aimArea: "所选范围",
  });
  Object.assign(AC.L.en, {
    aimCounty: "Whole county", aimSearch: "Search villages/townships (Chinese, Uyghur or code)…", aimClear: "Clear area", aimWholeTw: "whole township",
    aimDraw: "Draw a polygon on the map", aimDrawing: "Click the map to add corners; double-click or press Done to finish", aimDone: "Done", aimUndo: "Undo corner", aimCancel: "Discard",
    aimPolyClear: "Clear polygons", aimPolygon: "Polygon", aimPoints: "corners", aimNeed3: "A polygon needs at least 3 distinct corners",
    aimCrosses: "The polygon's edges cross: draw it again", aimUpdating: "Updating audience…", aimReach: "This area reaches", aimNoAim: "No area chosen yet",
    aimApprox: "Township boundaries are approximate: derived from village locations, not surveyed", aimNoResults: "No village or township matches", aimCovered: "included in a chosen township / the whole county",
    aimResidents: "SMS residents", aimSpeakers: "loudspeakers",
    spkOnline: "online", spkOffline: "offline", spkNever: "never connected", spkFault: "fault", spkPlaying: "playing", spkRevoked: "revoked", aimArea: "chosen area",
  });

  const countyCode = () => (S.outline && S.outline.code) || "";
  const regionName = (code) => {
    if (code === countyCode()) return S.outline.name || code;
    const r = S.regionByCode.get(code); return r ? r.name : code;
  };

  // ---------- township map (server-built, cached per page load) ----------
  let twLoading = null;
  function loadTownshipMap() {
    if (!twLoading) {
      twLoading = fetch("/console/townships.json", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null)).catch(() => null)
        .then((m) => { S.townshipMap = m; if (!m) twLoading = null; return m; });
    }
    return twLoading;
  }
  AC.loadTownshipMap = loadTownshipMap;

  // ---------- projection ----------
  // Equirectangular, x scaled by cos(latitude): at a county's size the
  // distortion is far below what the eye sees.
  function projection(o) {
    const W = 640;
    const [x0, y0, x1, y1] = o.bbox;
    const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const sc = W / ((x1 - x0) * kx);
    const H = Math.round((y1 - y0) * sc);
    return {
      W, H,
      px: (lon, lat) => [(lon - x0) * kx * sc, (y1 - lat) * sc],
      inv: (x, y) => [x / (kx * sc) + x0, y1 - y / sc],
    };
  }
  const fmt = (v) => v.toFixed(1);
  function ringsPath(P, rings) {
    let d = "";
    for (const ring of rings) d += "M" + ring.map((p) => { const q = P.px(p[0], p[1]); return fmt(q[0]) + "," + fmt(q[1]); }).join("L") + "Z";
    return d;
  }
  // CAP polygons are "lat,lon lat,lon …" (closed).
  const capToRing = (s) => s.trim().split(/\s+/).map((pair) => { const [la, lo] = pair.split(",").map(Number); return [lo, la]; });
  function inRing(p, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const a = ring[i], b = ring[j];
      if ((a[1] > p[1]) !== (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]) inside = !inside;
    }
    return inside;
  }
  function segmentsCross(a, b, c, d) {
    const o = (p, q, r) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
    return o(a, b, c) * o(a, b, d) < 0 && o(c, d, a) * o(c, d, b) < 0;
  }
  // selfCrossing: does the closed ring pts (not repeated at the end) cross itself?
  function selfCrossing(pts) {
    const n = pts.length;
    for (let i = 0; i < n; i++) for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // adjacent through the closing edge
      if (segmentsCross(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n])) return true;
    }
    return false;
  }

  // ---------- loudspeaker status ----------
  function statusIndex() {
    const by = new Map();
    const st = S.speakerStatus;
    const list = Array.isArray(st) ? st : (st && (st.speakers || st.devices)) || [];
    for (const d of list) if (d && d.id) by.set(d.id, d);
    return by;
  }
  function speakerStatus(s, by) {
    if (s.revoked) return "revoked";
    const d = by.get(s.id);
    if (!d) return "never";
    if (!d.online) return "offline";
    if (d.state === "fault") return "fault";
    if (d.state === "broadcasting") return "playing";
    return "online";
  }
  const STATUS_KEYS = { online: "spkOnline", offline: "spkOffline", never: "spkNever", fault: "spkFault", playing: "spkPlaying", revoked: "spkRevoked" };

  // inAim: is a loudspeaker inside the aim (by code, or by position in a polygon)?
  function inAim(s, aim) {
    if (!aim) return false;
    if (aim.county) return true;
    for (const c of aim.codes) if (s.village.startsWith(c)) return true;
    if (s.point) for (const r of aim.rings) if (inRing([s.point.lon, s.point.lat], r)) return true;
    return false;
  }
  // aimOfArea turns an API area into what the map highlights.
  function aimOfArea(area) {
    if (!area) return null;
    const cc = countyCode();
    const codes = (area.codes || []).filter((c) => c !== cc);
    return { county: (area.codes || []).includes(cc), codes, rings: (area.polygons || []).map(capToRing) };
  }

  // ---------- the map ----------
  // makeMap draws the county: township areas (#map-townships), the aimed
  // area (#map-aim), loudspeakers coloured by status (or, with opts.states,
  // by delivery state), and township labels placed so they do not collide.
  // opts: {aim() → {county, codes, rings}, states: Map id → delivery state,
  // onToggle(village), id}. Returns {el, refresh(), svg, P}.
  function makeMap(opts) {
    opts = opts || {};
    const o = S.outline;
    const svg = h("svg:svg", { id: opts.id || "map", class: "map", role: "img", "aria-label": t("map") + " " + ((o && o.name) || "") });
    if (!o) return { el: svg, refresh() {}, svg };
    const P = projection(o);
    svg.setAttribute("viewBox", `-10 -10 ${P.W + 20} ${P.H + 20}`);
    let outlineD = "";
    for (const poly of o.polygons) outlineD += ringsPath(P, poly);
    const gTw = h("svg:g", { id: "map-townships" });
    const gAim = h("svg:g", { id: "map-aim" });
    const gSpk = h("svg:g", { id: "map-speakers" });
    const gLbl = h("svg:g", { id: "map-labels" });
    const gDraw = h("svg:g", { id: "map-draw" });
    svg.append(h("svg:path", { class: "county-fill", d: outlineD }), gTw, gAim, h("svg:path", { class: "county", d: outlineD }), gSpk, gLbl, gDraw);

    // Loudspeakers.
    const by = statusIndex();
    const dots = [];
    for (const s of S.speakers) {
      if (!s.point) continue;
      const [x, y] = P.px(s.point.lon, s.point.lat);
      const st = speakerStatus(s, by);
      const del = opts.states && opts.states.get(s.id);
      // With delivery states (a warning's page) the fill is the delivery
      // state and an offline loudspeaker gets a red ring; otherwise the fill is its status.
      let cls = "spk" + (opts.states ? "" : " st-" + st) + (st === "offline" ? " off" : "");
      if (del) cls += " s-" + del;
      const c = h("svg:circle", { class: cls, cx: fmt(x), cy: fmt(y), r: 4.5, "data-id": s.id, "data-status": st, tabindex: opts.onToggle ? 0 : null });
      c.append(h("svg:title", { text: s.id + " · " + regionName(s.village) + (s.zone ? " · " + s.zone : "") + " · " + t(STATUS_KEYS[st]) + (del ? " · " + t(del) : "") }));
      if (opts.onToggle) {
        c.addEventListener("click", (e) => { if (drawing) return; e.stopPropagation(); opts.onToggle(s.village); });
        c.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); opts.onToggle(s.village); } });
      }
      dots.push({ s, c, x, y });
      gSpk.append(c);
    }

    function drawTownships(m) {
      gTw.replaceChildren();
      gLbl.replaceChildren();
      if (!m) return;
      gTw.dataset.approximate = m.approximate ? "1" : "0";
      (m.townships || []).forEach((tw, i) => {
        const rings = [];
        for (const v of tw.villages || []) rings.push(...v.rings);
        gTw.append(h("svg:path", { class: "tw tw-" + (i % 4), "data-code": tw.code, d: ringsPath(P, rings), "fill-rule": "evenodd" }));
      });
      let bd = "";
      for (const s of m.boundaries || []) {
        const a = P.px(s[0][0], s[0][1]), b = P.px(s[1][0], s[1][1]);
        bd += "M" + fmt(a[0]) + "," + fmt(a[1]) + "L" + fmt(b[0]) + "," + fmt(b[1]);
      }
      gTw.append(h("svg:path", { class: "tw-border", d: bd }));
      placeLabels(m);
      gTw.dataset.ready = "1";
    }

    // Labels: biggest townships first; each tries a few spots around its
    // anchor and takes the first that overlaps no placed label and covers
    // the fewest loudspeakers. A halo keeps it readable over the dots.
    function placeLabels(m) {
      const placed = [];
      const tws = (m.townships || []).map((tw) => ({ tw, n: (tw.villages || []).length })).sort((a, b) => b.n - a.n);
      for (const { tw } of tws) {
        let name = S.lang === "ug" && tw.name_ug ? tw.name_ug : tw.name.replace(/(乡|镇)$/, "");
        if (S.lang === "en" && !/[a-z]/i.test(name)) name = tw.name.replace(/(乡|镇)$/, "");
        const [ax, ay] = P.px(tw.label[0], tw.label[1]);
        const w = [...name].reduce((n, ch) => n + (ch.charCodeAt(0) > 0x2e80 ? 12 : 7), 0) + 4, hgt = 14;
        let best = null;
        for (const [dx, dy] of [[0, 0], [0, -12], [0, 12], [-16, 0], [16, 0], [0, -24], [0, 24], [-20, -14], [20, 14], [-20, 14], [20, -14]]) {
          const box = { x: ax + dx - w / 2, y: ay + dy - hgt / 2, w, h: hgt };
          const hitsLabel = placed.some((b) => box.x < b.x + b.w && b.x < box.x + box.w && box.y < b.y + b.h && b.y < box.y + box.h);
          const covered = dots.reduce((n, d) => n + (d.x > box.x - 3 && d.x < box.x + box.w + 3 && d.y > box.y - 3 && d.y < box.y + box.h + 3 ? 1 : 0), 0);
          const score = (hitsLabel ? 1000 : 0) + covered * 10 + Math.abs(dx) + Math.abs(dy);
          if (!best || score < best.score) best = { box, score };
        }
        placed.push(best.box);
        const label = h("svg:text", { class: "tw-label", x: fmt(best.box.x + w / 2), y: fmt(best.box.y + hgt / 2 + 4), "text-anchor": "middle", "data-code": tw.code, text: name });
        if (S.lang === "ug" && tw.name_ug) label.setAttribute("direction", "rtl");
        gLbl.append(label);
      }
    }
    if (S.townshipMap) drawTownships(S.townshipMap);
    else loadTownshipMap().then((m) => { drawTownships(m); refresh(); });

    // The aimed area and the drawing in progress.
    let drawing = null; // [[lon, lat], …] while drawing
    function refresh() {
      const aim = opts.aim ? opts.aim() : null;
      gAim.replaceChildren();
      if (aim) {
        let d = "";
        if (aim.county) d = outlineD;
        else if (S.townshipMap) {
          const cells = new Map();
          for (const tw of S.townshipMap.townships || []) for (const v of tw.villages || []) cells.set(v.code, v.rings);
          for (const [code, rings] of cells) if (aim.codes.some((c) => code.startsWith(c))) d += ringsPath(P, rings);
        }
        if (d) gAim.append(h("svg:path", { class: "aim-area", d, "fill-rule": "evenodd" }));
        aim.rings.forEach((r, i) => gAim.append(h("svg:path", { class: "aim-poly", "data-polygon": i, d: ringsPath(P, [r]) })));
      }
      let any = false;
      for (const d of dots) { const on = inAim(d.s, aim); d.c.classList.toggle("in", on); any = any || on; }
      svg.classList.toggle("has-aim", any);
      gDraw.replaceChildren();
      if (drawing && drawing.length) {
        const pts = drawing.map((p) => P.px(p[0], p[1]).map(fmt).join(",")).join(" ");
        gDraw.append(h("svg:polyline", { class: "draw-line", points: pts }));
        for (const p of drawing) { const [x, y] = P.px(p[0], p[1]); gDraw.append(h("svg:circle", { class: "draw-pt", cx: fmt(x), cy: fmt(y), r: 3.5 })); }
      }
      svg.classList.toggle("drawing", !!drawing);
    }
    // Drawing: clicks add corners (map coordinates from the click), a
    // double click or Done finishes, Escape discards.
    const draw = {
      start() { drawing = []; refresh(); },
      active: () => !!drawing,
      undo() { if (drawing) { drawing.pop(); refresh(); } },
      cancel() { drawing = null; refresh(); },
      // finish returns the CAP polygon, or throws a message key.
      finish() {
        const pts = [];
        for (const p of drawing || []) {
          const q = pts[pts.length - 1];
          if (!q || Math.abs(q[0] - p[0]) > 1e-5 || Math.abs(q[1] - p[1]) > 1e-5) pts.push(p);
        }
        if (pts.length > 1 && Math.abs(pts[0][0] - pts[pts.length - 1][0]) < 1e-5 && Math.abs(pts[0][1] - pts[pts.length - 1][1]) < 1e-5) pts.pop();
        if (pts.length < 3) throw new Error("aimNeed3");
        if (selfCrossing(pts)) throw new Error("aimCrosses");
        drawing = null;
        refresh();
        return pts.concat([pts[0]]).map((p) => p[1].toFixed(5) + "," + p[0].toFixed(5)).join(" ");
      },
    };
    const at = (e) => {
      const pt = svg.createSVGPoint(); pt.x = e.clientX; pt.y = e.clientY;
      const q = pt.matrixTransform(svg.getScreenCTM().inverse());
      return P.inv(q.x, q.y);
    };
    svg.addEventListener("click", (e) => { if (!drawing) return; e.preventDefault(); drawing.push(at(e)); refresh(); });
    svg.addEventListener("dblclick", (e) => { if (drawing && opts.onDrawEnd) { e.preventDefault(); opts.onDrawEnd(); } });
    refresh();
    return { el: svg, refresh, draw, svg, P };
  }
  AC.makeMap = makeMap;
  AC.aimOfArea = aimOfArea;

  // mapLegend: the loudspeaker status colours, the aimed area, and the
  // township boundaries' nature.
  function mapLegend(withAim) {
    return h("div", { class: "legend" },
      withAim ? h("span", null, h("i", { class: "lgd-aim" }), t("aimArea")) : "",
      ["online", "playing", "offline", "never", "fault", "revoked"].map((s) => h("span", null, h("i", { class: "lgd-st-" + s }), t(STATUS_KEYS[s]))),
      h("span", { class: "note", id: "map-approx", text: "⌇ " + t("aimApprox") }));
  }
  AC.mapLegend = mapLegend;

  // ---------- the aim picker ----------
  // aimPicker({base: area of the version being updated, audience() →
  // {groups, languages}, onChange()}) returns {left, right, area(),
  // changed(), clearErrors}. left: county, search, townships and villages,
  // chips; right: the map, drawing tools, legend and the live count.
  AC.aimPicker = (opts) => {
    const cc = countyCode();
    const base = opts.base || {};
    const aim = {
      county: (base.codes || []).includes(cc),
      codes: new Set((base.codes || []).filter((c) => c !== cc)),
      polygons: (base.polygons || []).slice(),
      circles: (base.circles || []).slice(), exclude: (base.exclude || []).slice(), // kept as they came: not edited here
    };
    let ready = false; // sync() only once every part exists
    const covered = (code) => aim.county || [...aim.codes].some((c) => c !== code && code.startsWith(c));
    const changedAim = () => { sync(); opts.onChange(); };
    function toggle(code, on) {
      if (code === cc) { aim.county = on; changedAim(); return; }
      if (on === undefined) on = !aim.codes.has(code);
      if (on) {
        if (covered(code)) return;
        for (const c of [...aim.codes]) if (c.startsWith(code)) aim.codes.delete(c); // a township replaces its villages
        aim.codes.add(code);
      } else aim.codes.delete(code);
      changedAim();
    }
    // A loudspeaker clicked on the map toggles its village; inside a chosen
    // township it takes that village out (the township's other villages stay).
    function toggleVillage(v) {
      if (aim.county) return;
      const tw = [...aim.codes].find((c) => c.length === 9 && v.startsWith(c));
      if (tw) {
        aim.codes.delete(tw);
        for (const x of (S.regionByCode.get(tw) || {}).villages || []) if (x.code !== v) aim.codes.add(x.code);
        changedAim();
        return;
      }
      toggle(v);
    }

    const countyBox = h("input", { type: "checkbox", id: "aim-county", value: cc, checked: aim.county });
    countyBox.addEventListener("change", () => toggle(cc, countyBox.checked));
    const search = h("input", { type: "search", id: "aim-search", placeholder: t("aimSearch"), "aria-label": t("aimSearch"), autocomplete: "off" });
    const clearBtn = h("button", { type: "button", class: "ghost", id: "aim-clear", text: t("aimClear"), onclick: () => {
      aim.county = false; aim.codes.clear(); aim.polygons = []; countyBox.checked = false; changedAim();
    } });
    const results = h("div", { id: "aim-results", class: "aim-results", hidden: true, role: "group", "aria-label": t("search") });
    const tree = h("div", { class: "area-tree", id: "area-tree" });
    const townships = S.townships.filter((tw) => !cc || tw.code.startsWith(cc));
    for (const tw of townships) {
      const cb = h("input", { type: "checkbox", value: tw.code, "data-code": tw.code, id: "aim-tw-" + tw.code, "aria-label": tw.name + " " + t("aimWholeTw") });
      const villages = h("div", { class: "villages" });
      const n = h("span", { class: "note aim-n" });
      const d = h("details", { "data-township": tw.code },
        h("summary", null, h("label", { class: "inline" }, cb, tw.name,
          tw.name_ug ? h("span", { class: "ug", dir: "rtl", lang: "ug", text: tw.name_ug }) : null,
          h("span", { class: "note", text: " " + tw.code + " · " + t("aimWholeTw") })), " ", n), villages);
      // Villages are built when their township opens: the first render stays small.
      d.fill = () => {
        if (villages.firstChild) return;
        put(villages, (tw.villages || []).map((v) => h("label", { class: "inline" },
          h("input", { type: "checkbox", value: v.code, "data-code": v.code, id: "area-" + v.code }), v.name,
          v.name_ug ? h("span", { class: "ug", dir: "rtl", lang: "ug", text: v.name_ug }) : null)));
        if (ready) sync();
      };
      d.addEventListener("toggle", () => { if (d.open) d.fill(); });
      for (const v of tw.villages || []) if (aim.codes.has(v.code)) d.fill();
      tree.append(d);
    }
    const onBox = (e) => {
      const cb = e.target;
      if (!cb.dataset || !cb.dataset.code) return;
      e.stopPropagation(); // the form's own change handler must not see a half-made aim
      AC.clearFieldErrors && AC.clearFieldErrors(tree);
      toggle(cb.dataset.code, cb.checked);
    };
    tree.addEventListener("change", onBox);
    results.addEventListener("change", onBox);

    // Search: Chinese or Uyghur names (any part), codes (any part).
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      results.hidden = !q; tree.hidden = !!q;
      if (!q) { results.replaceChildren(); return; }
      const hit = (r) => r.name.toLowerCase().includes(q) || (r.name_ug || "").toLowerCase().includes(q) || r.code.includes(q);
      const rows = [];
      for (const tw of townships) {
        if (hit(tw)) rows.push([tw, true]);
        for (const v of tw.villages || []) if (hit(v)) rows.push([v, false]);
        if (rows.length >= 60) break;
      }
      put(results, rows.length ? rows.slice(0, 60).map(([r, isTw]) => h("label", { class: "inline aim-hit" },
        h("input", { type: "checkbox", value: r.code, "data-code": r.code, id: "aim-res-" + r.code }),
        h("span", { text: r.name }), r.name_ug ? h("span", { class: "ug", dir: "rtl", lang: "ug", text: r.name_ug }) : null,
        h("span", { class: "note", text: " " + (isTw ? t("aimWholeTw") : regionName(r.code.slice(0, 9))) + " · " + r.code })))
        : h("p", { class: "note", id: "aim-no-results", text: t("aimNoResults") }));
      sync();
    });
    const chips = h("div", { class: "chips", id: "area-chips" });

    // Right column: map, drawing tools, legend, live count.
    const mapBox = h("div", { id: "compose-map" });
    const drawMsg = h("div", { class: "note", id: "aim-draw-msg", role: "status" });
    const drawBtn = h("button", { type: "button", id: "aim-draw", text: "✎ " + t("aimDraw") });
    const undoBtn = h("button", { type: "button", id: "aim-draw-undo", hidden: true, text: t("aimUndo") });
    const doneBtn = h("button", { type: "button", class: "primary", id: "aim-draw-done", hidden: true, text: t("aimDone") });
    const cancelBtn = h("button", { type: "button", class: "ghost", id: "aim-draw-cancel", hidden: true, text: t("aimCancel") });
    const polyClear = h("button", { type: "button", class: "ghost", id: "aim-poly-clear", hidden: true, text: t("aimPolyClear"), onclick: () => { aim.polygons = []; changedAim(); } });
    const count = h("div", { id: "aim-count", class: "aim-count", role: "status", "aria-live": "polite", "data-state": "idle" });
    const view = { county: false, codes: [], rings: [] };
    const map = makeMap({ id: "map", aim: () => view, onToggle: toggleVillage, onDrawEnd: () => finishDraw() });
    mapBox.append(map.el);
    const drawUI = (on) => { drawBtn.hidden = on; undoBtn.hidden = doneBtn.hidden = cancelBtn.hidden = !on; drawMsg.textContent = on ? t("aimDrawing") : ""; };
    function finishDraw() {
      if (!map.draw || !map.draw.active()) return;
      try {
        aim.polygons.push(map.draw.finish());
        drawUI(false);
        changedAim();
      } catch (e) { drawMsg.textContent = "⚠ " + t(e.message); }
    }
    drawBtn.addEventListener("click", () => { if (map.draw) { map.draw.start(); drawUI(true); } });
    undoBtn.addEventListener("click", () => map.draw.undo());
    doneBtn.addEventListener("click", finishDraw);
    cancelBtn.addEventListener("click", () => { map.draw.cancel(); drawUI(false); });
    const onKey = (e) => { if (e.key === "Escape" && map.draw && map.draw.active()) { map.draw.cancel(); drawUI(false); } };
    document.addEventListener("keydown", onKey);
    S.cleanup.push(() => document.removeEventListener("keydown", onKey));

    function area() {
      const a = { codes: aim.county ? [cc] : [...aim.codes].sort() };
      if (aim.polygons.length) a.polygons = aim.polygons.slice();
      if (aim.circles.length) a.circles = aim.circles.slice();
      if (aim.exclude.length) a.exclude = aim.exclude.slice();
      return a;
    }
    function sync() {
      countyBox.checked = aim.county;
      for (const cb of $$("input[data-code]", tree).concat($$("input[data-code]", results))) {
        const c = cb.dataset.code;
        const cov = covered(c);
        cb.checked = cov || aim.codes.has(c);
        cb.disabled = cov;
        cb.title = cov ? t("aimCovered") : "";
      }
      for (const d of $$("details[data-township]", tree)) {
        const tw = d.dataset.township;
        const n = [...aim.codes].filter((c) => c.length === 12 && c.startsWith(tw)).length;
        $(".aim-n", d).textContent = aim.county || aim.codes.has(tw) ? "✓" : n ? n + "/" + ((S.regionByCode.get(tw) || {}).villages || []).length : "";
      }
      const kids = [];
      if (aim.county) kids.push(h("span", { class: "sel", text: t("aimCounty") + " · " + regionName(cc) + " " + cc }));
      else for (const c of [...aim.codes].sort()) kids.push(h("span", { class: "sel", text: regionName(c) + " " + c }));
      aim.polygons.forEach((p, i) => kids.push(h("span", { class: "sel poly", "data-polygon": i },
        t("aimPolygon") + " " + (i + 1) + " · " + (p.trim().split(/\s+/).length - 1) + " " + t("aimPoints") + " ",
        h("button", { type: "button", class: "ghost x", "aria-label": t("clear"), text: "✕", onclick: () => { aim.polygons.splice(i, 1); changedAim(); } }))));
      if (!kids.length) kids.push(h("span", { class: "note", text: t("none") }));
      put(chips, kids);
      polyClear.hidden = !aim.polygons.length;
      view.county = aim.county; view.codes = [...aim.codes]; view.rings = aim.polygons.map(capToRing);
      map.refresh();
    }

    // Live count: debounced; a newer request supersedes an older one even
    // if the older answers last.
    let seq = 0, timer = 0, lastKey = "", shown = "";
    function changed() {
      const a = area();
      const empty = !a.codes.length && !a.polygons && !a.circles;
      const aud = opts.audience ? opts.audience() : {};
      const key = JSON.stringify({ area: a, audience: aud });
      if (key === lastKey) return;
      lastKey = key;
      clearTimeout(timer);
      const my = ++seq;
      if (empty) {
        count.dataset.state = "idle"; delete count.dataset.aim; shown = "";
        put(count, h("p", { class: "note", text: t("aimNoAim") }));
        return;
      }
      count.dataset.state = "updating";
      count.setAttribute("aria-busy", "true");
      if (!shown) put(count, h("p", { class: "note", text: t("aimUpdating") }));
      timer = setTimeout(async () => {
        try {
          const r = await api("POST", "/api/v1/audience/count", { area: a, audience: aud });
          if (my !== seq) return;
          renderCount(r, key);
        } catch (e) {
          if (my !== seq) return;
          count.dataset.state = "error"; count.removeAttribute("aria-busy"); shown = "";
          put(count, h("p", { class: "formerr", text: e.problems && e.problems.length
            ? e.problems.map((p) => window.ALERT_FIELD_ERRORS.describe(S.lang, p)).join("; ") : e.message }));
        }
      }, 250);
    }
    function renderCount(r, key) {
      shown = key;
      count.dataset.state = "ready"; count.dataset.aim = key; count.removeAttribute("aria-busy");
      const ch = r.channels || {};
      const tws = Object.entries(r.townships || {}).sort((a, b) => b[1] - a[1]);
      put(count, h("div", { class: "note", text: t("aimReach") }),
        h("div", { class: "stat", "data-channel": "sms" }, h("b", { text: (ch.sms || 0).toLocaleString() }), t("aimResidents")),
        h("div", { class: "stat", "data-channel": "speaker" }, h("b", { text: (ch.speaker || 0).toLocaleString() }), t("aimSpeakers")),
        tws.length ? h("div", { class: "note", id: "aim-count-townships", text: tws.slice(0, 6).map(([c, n]) => regionName(c) + " " + n.toLocaleString()).join(" · ") + (tws.length > 6 ? " · …" : "") }) : "",
        r.unplaced ? h("div", { class: "note", text: t("unplaced") + ": " + r.unplaced.toLocaleString() }) : "");
    }

    const left = [h("div", { class: "aim-top" }, h("label", { class: "inline aim-county" }, countyBox, h("b", { text: t("aimCounty") }),
      h("span", { class: "note", text: " " + regionName(cc) + " " + cc })), search, clearBtn), results, tree, chips];
    const right = [mapBox, h("div", { class: "actions aim-tools" }, drawBtn, undoBtn, doneBtn, cancelBtn, polyClear), drawMsg, mapLegend(true), count];
    ready = true;
    sync();
    return { left, right, area, changed, map };
  };
});
