// Shelters (应急避难场所): the list with the villages each serves and its
// reported occupancy, editing one (operator), importing a CSV (admin).
// Every server string is set with textContent (h's text attribute).
"use strict";
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  const { h, put, api, t, can } = AC;
  Object.assign(AC.L.zh, {
    shelters: "避难场所", shName: "名称", shNameUg: "维吾尔文名称", shKind: "类型", shCapacity: "容量", shOccupancy: "已入住",
    shAccessible: "无障碍", shContact: "联系方式", shVillages: "指定服务村（代码，用;分隔）", shServed: "服务村数", shEdit: "编辑",
    shNew: "新增避难场所", shSave: "保存", shImport: "导入CSV", shSynthetic: "合成数据", shNone: "尚无避难场所：请导入CSV。",
    shImported: "已导入", shLat: "纬度", shLon: "经度", shId: "编号", shSaved: "已保存",
    action: "行动", evacuate: "疏散撤离", shelterInPlace: "就地避险", awayFrom: "撤离远离的区域，可不填", shelter: "避难场所",
    sentThere: "前往人数", capacity: "容量",
    k_indoor: "室内", k_outdoor: "室外", k_school: "学校", k_mosque_courtyard: "清真寺院落", k_stadium: "体育场", k_park: "公园", k_other: "其他",
  });
  Object.assign(AC.L.en, {
    shelters: "Shelters", shName: "Name", shNameUg: "Name (Uyghur)", shKind: "Kind", shCapacity: "Capacity", shOccupancy: "Occupancy",
    shAccessible: "Accessible", shContact: "Contact", shVillages: "Villages served explicitly (codes, ';'-separated)", shServed: "Villages",
    shEdit: "Edit", shNew: "New shelter", shSave: "Save", shImport: "Import CSV", shSynthetic: "synthetic", shNone: "No shelters yet: import a CSV.",
    shImported: "Imported", shLat: "Latitude", shLon: "Longitude", shId: "Id", shSaved: "Saved",
    action: "Action", evacuate: "Evacuate", shelterInPlace: "Shelter in place", awayFrom: "zone to move away from, optional", shelter: "Shelter",
    sentThere: "Sent there", capacity: "Capacity",
    k_indoor: "indoor", k_outdoor: "outdoor", k_school: "school", k_mosque_courtyard: "mosque courtyard", k_stadium: "stadium", k_park: "park", k_other: "other",
  });
  // Uyghur: drafts in the terms of i18n_ug.js (كاناي, يېزا-بازار, …), to be
  // reviewed by a native-speaking officer like the rest.
  if (AC.L.ug) Object.assign(AC.L.ug, {
    shelters: "پاناھلىنىش ئورۇنلىرى", shName: "نامى", shNameUg: "ئۇيغۇرچە نامى", shKind: "تۈرى", shCapacity: "سىغىمى", shOccupancy: "ئورۇنلاشقانلار",
    shAccessible: "توسالغۇسىز", shContact: "ئالاقىلىشىش", shVillages: "بەلگىلەنگەن كەنتلەر (نومۇرى، ; بىلەن ئايرىلىدۇ)", shServed: "كەنت سانى",
    shEdit: "تەھرىرلەش", shNew: "يېڭى پاناھلىنىش ئورنى", shSave: "ساقلاش", shImport: "CSV ئەكىرىش", shSynthetic: "سىنتېتىك سانلىق مەلۇمات",
    shNone: "تېخى پاناھلىنىش ئورنى يوق: CSV ئەكىرىڭ.", shImported: "ئەكىرىلدى", shLat: "كەڭلىك", shLon: "ئۇزۇنلۇق", shId: "نومۇرى", shSaved: "ساقلاندى",
    action: "ھەرىكەت", evacuate: "كۆچۈرۈش", shelterInPlace: "ئورنىدا پاناھلىنىش", awayFrom: "يىراقلىشىدىغان دائىرە، ئىختىيارىي", shelter: "پاناھلىنىش ئورنى",
    sentThere: "بارىدىغانلار", capacity: "سىغىمى",
    k_indoor: "ئۆي ئىچى", k_outdoor: "ئوچۇق مەيدان", k_school: "مەكتەپ", k_mosque_courtyard: "مەسچىت ھويلىسى", k_stadium: "تەنتەربىيە مەيدانى", k_park: "باغچا", k_other: "باشقا",
  });
  AC.NAV.push(["shelters", "viewer"]);

  // Per-village guidance of a version (GET /alerts/{id}/guidance, or the
  // preview's): each village's sentence in zh and ug, grouped by shelter
  // (or direction), collapsed, with counts. Frozen when submitted: what the
  // approver reads here is what phones and loudspeakers will say.
  Object.assign(AC.L.zh, { guidance: "各村疏散指引", guidanceFrozen: "提交时已固定：之后修改避难场所不会改变本版所说的内容。",
    guidancePreview: "若现在提交，将固定为以下内容。", villagesN: "个村", residentsN: "人", noPlace: "未指定避难场所" });
  Object.assign(AC.L.en, { guidance: "Guidance per village", guidanceFrozen: "Frozen when submitted: later shelter edits do not change what this version says.",
    guidancePreview: "Submitted now, this is what would be frozen.", villagesN: "villages", residentsN: "residents", noPlace: "no shelter assigned" });
  if (AC.L.ug) Object.assign(AC.L.ug, { guidance: "كەنتلەرنىڭ كۆچۈش يوليورۇقى", guidanceFrozen: "يوللانغاندا مۇقىملاشتۇرۇلدى: كېيىن پاناھلىنىش ئورنىنى ئۆزگەرتىش بۇ نەشرنىڭ مەزمۇنىنى ئۆزگەرتمەيدۇ.",
    guidancePreview: "ھازىر يوللانسا، تۆۋەندىكىدەك مۇقىملىشىدۇ.", villagesN: "كەنت", residentsN: "ئاھالە", noPlace: "پاناھلىنىش ئورنى بەلگىلەنمىگەن" });
  AC.guidanceBox = (gv, preview) => {
    if (!gv) return "";
    const label = (g) => g.shelter ? g.shelter.name + (g.shelter.name_ug ? " · " + g.shelter.name_ug : "") :
      g.compass ? "→ " + g.compass : t("noPlace");
    return h("div", { class: "guidance", id: preview ? "preview-guidance" : "guidance", "data-digest": gv.digest },
      h("h3", { text: `${t("guidance")} (${gv.villages} ${t("villagesN")} · ${gv.residents.toLocaleString()} ${t("residentsN")})` }),
      h("p", { class: "note", text: t(preview ? "guidancePreview" : "guidanceFrozen") + " #" + gv.digest.slice(0, 12) }),
      gv.groups.map((g) => h("details", { "data-group": g.key },
        h("summary", { text: `${label(g)} — ${g.villages.length} ${t("villagesN")} · ${g.residents.toLocaleString()} ${t("residentsN")}` +
          (g.shelter ? ` / ${t("capacity")} ${g.shelter.capacity.toLocaleString()}` : "") }),
        h("table", null, h("tbody", null, g.villages.map((v) => h("tr", { "data-village": v.code },
          h("td", { text: v.name || v.code }), h("td", { class: "num", text: v.residents.toLocaleString() }),
          h("td", { lang: "zh", text: v.text.zh }), h("td", { lang: "ug", dir: "rtl", text: v.text.ug }))))))));
  };

  function problems(e) {
    return h("div", { class: "formerr", role: "alert" }, h("div", { text: e.message }),
      (e.problems || []).map((p) => h("div", { text: p.field + ": " + p.rule + (p.value ? " (" + p.value + ")" : "") })));
  }

  function editor(sh, kinds, done) {
    const f = {};
    const field = (key, label, input) => { f[key] = input; return h("label", null, h("span", { text: t(label) }), input); };
    const kind = h("select", { id: "sh-kind" }, kinds.map((k) => h("option", { value: k, text: t("k_" + k), selected: sh && sh.kind === k })));
    const out = h("div", { id: "sh-edit-out" });
    const form = h("form", { class: "panel", id: "sh-form" },
      h("h2", { text: sh ? t("shEdit") + " " + sh.id : t("shNew") }),
      sh ? null : field("id", "shId", h("input", { id: "sh-id", required: true, maxLength: 64 })),
      field("name", "shName", h("input", { id: "sh-name", required: true, maxLength: 64, value: sh ? sh.name : "" })),
      field("name_ug", "shNameUg", h("input", { id: "sh-name-ug", maxLength: 64, dir: "rtl", value: sh ? sh.name_ug || "" : "" })),
      field("lat", "shLat", h("input", { id: "sh-lat", type: "number", step: "any", required: true, value: sh ? sh.point.lat : "" })),
      field("lon", "shLon", h("input", { id: "sh-lon", type: "number", step: "any", required: true, value: sh ? sh.point.lon : "" })),
      field("capacity", "shCapacity", h("input", { id: "sh-capacity", type: "number", min: "1", required: true, value: sh ? sh.capacity : "" })),
      field("kind", "shKind", kind),
      field("accessible", "shAccessible", h("input", { id: "sh-accessible", type: "checkbox", checked: !!(sh && sh.accessible) })),
      field("contact", "shContact", h("input", { id: "sh-contact", maxLength: 128, value: sh ? sh.contact || "" : "" })),
      field("villages", "shVillages", h("input", { id: "sh-villages", value: sh ? (sh.villages || []).join(";") : "" })),
      h("div", { class: "actions" }, h("button", { type: "submit", id: "sh-save", text: t("shSave") })), out);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const id = sh ? sh.id : f.id.value.trim();
      const body = {
        name: f.name.value.trim(), name_ug: f.name_ug.value.trim(),
        point: { lat: Number(f.lat.value), lon: Number(f.lon.value) }, capacity: Number(f.capacity.value), kind: f.kind.value,
        accessible: f.accessible.checked, contact: f.contact.value.trim(),
        villages: f.villages.value.split(/[;；,\s]+/).map((v) => v.trim()).filter(Boolean),
        synthetic: !!(sh && sh.synthetic),
      };
      try {
        await api("PUT", "/api/v1/shelters/" + encodeURIComponent(id), body);
        put(out, h("p", { class: "ok", text: t("shSaved") }));
        done();
      } catch (e) { put(out, problems(e)); }
    });
    return form;
  }

  AC.routes.shelters = async (view) => {
    const data = await api("GET", "/api/v1/shelters");
    const list = (data && data.shelters) || [];
    const kinds = (data && data.kinds) || [];
    const editBox = h("div", { id: "sh-editor" });
    const reload = () => AC.route();
    const rows = list.map((s) => {
      const occ = s.occupancy === undefined || s.occupancy === null ? "—" : String(s.occupancy);
      const over = s.occupancy !== undefined && s.occupancy !== null && s.occupancy > s.capacity;
      return h("tr", { "data-id": s.id },
        h("td", { text: s.id }), h("td", null, h("span", { text: s.name }), s.synthetic ? h("span", { class: "note", text: " · " + t("shSynthetic") }) : null),
        h("td", { dir: "rtl", text: s.name_ug || "" }), h("td", { text: t("k_" + s.kind) }),
        h("td", { class: "num", text: String(s.capacity) }), h("td", { class: over ? "num err" : "num", text: occ }),
        h("td", { text: s.accessible ? "✓" : "" }), h("td", { class: "num", text: String((s.served || []).length) }),
        h("td", { text: s.contact || "" }),
        h("td", null, can("admin") ? h("button", { type: "button", class: "ghost", text: t("shEdit"),
          onclick: () => put(editBox, editor(s, kinds, reload)) }) : null));
    });
    const importOut = h("div", { id: "sh-import-out" });
    const file = h("input", { type: "file", id: "sh-file", accept: ".csv,text/csv" });
    put(view, h("h1", { text: t("shelters") }),
      list.length ? null : h("p", { class: "note", text: t("shNone") }),
      h("table", { id: "shelters" },
        h("thead", null, h("tr", null, ["shId", "shName", "shNameUg", "shKind", "shCapacity", "shOccupancy", "shAccessible", "shServed", "shContact", ""].map((k) => h("th", { text: k ? t(k) : "" })))),
        h("tbody", null, rows)),
      can("admin") ? h("div", { class: "actions" }, h("button", { type: "button", id: "sh-new", text: t("shNew"), onclick: () => put(editBox, editor(null, kinds, reload)) })) : null,
      editBox,
      can("admin") ? h("div", { class: "panel actions" }, file, h("button", { type: "button", id: "sh-import", text: t("shImport"), onclick: async () => {
        if (!file.files.length) return;
        // The answer is the line report both when applied (200) and when
        // not (422): read it whatever the status.
        let r;
        try {
          const res = await fetch("/api/v1/shelters/import", { method: "POST", body: file.files[0], credentials: "same-origin",
            headers: { "Content-Type": "text/csv", "X-CSRF-Token": AC.S.csrf, Accept: "application/json" } });
          r = await res.json();
        } catch (e) { put(importOut, h("div", { class: "formerr", role: "alert", text: e.message })); return; }
        if (r && r.applied) {
          put(importOut, h("p", { class: "ok", text: t("shImported") + ": " + r.stored + " · " + r.assigned_villages + " villages" }));
          reload();
          return;
        }
        const errs = (r && r.errors) || [];
        put(importOut, h("div", { class: "formerr", role: "alert" }, h("div", { text: (r && r.error && r.error.message) || (r.error_count + " errors") }),
          errs.map((e) => h("div", { text: "line " + e.line + ": " + e.field + ": " + e.rule + (e.value ? " (" + e.value + ")" : "") }))));
      } }), importOut) : null);
  };
});
