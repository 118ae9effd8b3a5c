// Uyghur (ئۇيغۇرچە) strings of the console, in Uyghur Arabic script. The
// document turns right-to-left when Uyghur is chosen (app.js renderChrome).
// Terms follow the project's wording (wording/, templates.js): 预警
// ئاگاھلاندۇرۇش, 大喇叭 كاناي, 短信 قىسقا ئۇچۇر, 审批 تەستىق, 演练 مانېۋىر.
// Written by the engineers, not yet read by a native-speaking duty officer:
// have one review it before the county relies on it. A key missing here is
// shown in English (t() falls back to L.en); TestConsoleLanguagesHaveEveryKey
// fails for it.
"use strict";
// Field labels and error codes for the API's validation errors (fielderrors.js).
if (window.ALERT_FIELD_ERRORS) {
  window.ALERT_FIELD_ERRORS.FIELDS.ug = {
    event: "ئاپەت تۈرى", level: "ئاگاھلاندۇرۇش دەرىجىسى", status: "خاراكتېرى", area: "ئاگاھلاندۇرۇش دائىرىسى", "area.codes": "ئاگاھلاندۇرۇش دائىرىسى",
    "area.exclude": "چىقىرىۋېتىلگەن دائىرە", "area.polygons": "كۆپ بۇلۇڭلۇق دائىرە", "area.circles": "چەمبەر دائىرە", audience: "تاپشۇرۇۋالغۇچىلار",
    "audience.groups": "ئاھالە توپلىرى", "audience.languages": "تىللار", channels: "تارقىتىش يوللىرى", text: "ئاگاھلاندۇرۇش مەزمۇنى",
    "text.zh": "خەنزۇچە مەزمۇن", "text.ug": "ئۇيغۇرچە مەزمۇن",
    "text.zh.headline": "خەنزۇچە ماۋزۇ", "text.zh.description": "خەنزۇچە چۈشەندۈرۈش", "text.zh.instruction": "خەنزۇچە مۇداپىئە كۆرسەتمىسى",
    "text.ug.headline": "ئۇيغۇرچە ماۋزۇ", "text.ug.description": "ئۇيغۇرچە چۈشەندۈرۈش", "text.ug.instruction": "ئۇيغۇرچە مۇداپىئە كۆرسەتمىسى",
    onset: "كۈچكە ئىگە بولۇش ۋاقتى", expires: "ئىناۋەتسىز بولۇش ۋاقتى", rebroadcast: "قايتا تارقىتىش پىلانى", reason: "سەۋەب",
    name: "ئىشلەتكۈچى نامى", password: "پارول", role: "رول", token: "توكېن",
  };
  window.ALERT_FIELD_ERRORS.CODES.ug = {
    validation: "كىرگۈزۈلگەن مەزمۇن خاتا", bad_json: "ئىلتىماس شەكلى خاتا", forbidden: "بۇ مەشغۇلاتقا ھوقۇقىڭىز يوق",
    unauthorized: "كىرىش ۋاقتى ئۆتتى، قايتا كىرىڭ", conflict: "مەشغۇلات توقۇنۇشتى", not_found: "تېپىلمىدى", too_large: "مەزمۇن بەك چوڭ",
    unavailable: "مۇلازىمەت ۋاقتىنچە ئىشلىمەيدۇ، سەل تۇرۇپ قايتا سىناڭ", internal: "مۇلازىمېتىر ئىچكى خاتالىقى", cap_refused: "CAP ئاگاھلاندۇرۇشى رەت قىلىندى",
  };
}
(window.AlertcastPages = window.AlertcastPages || []).push((AC) => {
  AC.L.ug = Object.assign(AC.L.ug || {}, {
    compose: "ئاگاھلاندۇرۇش ئېلان قىلىش", approvals: "تەستىق كۈتۈۋاتقانلار", history: "ئاگاھلاندۇرۇش خاتىرىسى", audit: "تەپتىش خاتىرىسى", admin: "باشقۇرۇش",
    login: "كىرىش", logout: "چېكىنىش", name: "ئىشلەتكۈچى نامى", password: "پارول", token: "توكېن", useToken: "توكېن بىلەن كىرىش", usePassword: "پارول بىلەن كىرىش",
    event: "ئاپەت تۈرى", level: "دەرىجە", status: "خاراكتېرى", actual: "ھەقىقىي", exercise: "مانېۋىر", test: "سىناق",
    area: "دائىرە", map: "خەرىتە", groups: "ئاھالە توپلىرى", languages: "تىللار", channels: "تارقىتىش يوللىرى", text: "ئاگاھلاندۇرۇش مەزمۇنى",
    headline: "ماۋزۇ", description: "مەزمۇن", instruction: "مۇداپىئە كۆرسەتمىسى", onset: "كۈچكە ئىگە بولۇش ۋاقتى", expires: "ئىناۋەتسىز بولۇش ۋاقتى", rebroadcast: "قايتا تارقىتىش پىلانى",
    bjt: "بېيجىڭ ۋاقتى (UTC+8)", template: "قېلىپتىن تولدۇرۇش",
    templateNote: "قېلىپ مەزمۇنىنى ناھىيىلىك جىددىي ئەھۋال باشقۇرۇش ئىدارىسى ۋە ھاۋارايى ئىدارىسى تەكشۈرۈپ بېكىتىشى كېرەك؛ ئېلان قىلىشتىن بۇرۇن تەكشۈرۈڭ.",
    preview: "تاپشۇرۇۋالغۇچىلارنى ئالدىن كۆرۈش", submit: "ئېلان قىلىش", submitting: "ئېلان قىلىنىۋاتىدۇ…", previewFirst: "ئاۋۋال ئالدىن كۆرۈڭ", stale: "مەزمۇن ئۆزگەردى، قايتا ئالدىن كۆرۈڭ",
    speaker: "كاناي", sms: "قىسقا ئۇچۇر", websocket: "تور بەت/ئېكران", voice: "ئاۋازلىق يىغىن",
    blue: "كۆك", yellow: "سېرىق", orange: "ئاپېلسىن رەڭ", red: "قىزىل",
    drill: "演练 DRILL — مانېۋىر، ھەقىقىي ئاگاھلاندۇرۇش ئەمەس", testBanner: "测试 TEST — پەقەت سىستېما سىنىقى",
    needsApproval: "ئىككىنچى نۆۋەتچىنىڭ تەستىقىدىن كېيىن ئېلان قىلىنىدۇ", direct: "تەستىق كېرەك ئەمەس: يوللىغان ھامان ئېلان قىلىنىدۇ",
    township: "يېزا-بازار", count: "ئادەم/ئۈسكۈنە", smsParts: "قىسقا ئۇچۇر پارچىسى", warnings: "ئەسكەرتىش", unplaced: "كوئوردىناتسىز",
    pending: "تەستىق كۈتۈۋاتىدۇ", issued: "ئېلان قىلىندى", rejected: "رەت قىلىندى", cancelled: "بىكار قىلىندى", allclear: "خەتەر تۈگىدى", expired: "ۋاقتى ئۆتتى",
    approve: "تەستىقلاپ ئېلان قىلىش", reject: "رەت قىلىش", reason: "سەۋەب", cancel: "ئاگاھلاندۇرۇشنى بىكار قىلىش", allclearBtn: "خەتەر تۈگىدى دەپ ئېلان قىلىش", update: "ئاگاھلاندۇرۇشنى يېڭىلاش", confirm: "جەزملەشتۈرۈش",
    progress: "تارقىتىش جەريانى", planned: "پىلانلانغان", sent: "يوللاندى", delivered: "يەتكۈزۈلدى", failed: "مەغلۇپ بولدى", failures: "مەغلۇبىيەت تەپسىلاتى",
    queued: "ئۆچىرەتتە", unconfirmed: "يەتكۈزۈلگەنلىكى جەزملەنمىدى", held: "تورسىز، ساقلاندى (ئۇلانغاندا قويۇلىدۇ)", notSent: "يوللانمىدى", notSentShort: "يوللانمىدى",
    notSentOutbox: "يوللانمىدى: پەقەت چىقىش ساندۇقىغا خاتىرىلەندى",
    noSMSGateway: ": قىسقا ئۇچۇر تورۇتى سەپلەنمىگەن", notConfigured: ": بۇ يول سەپلەنمىگەن",
    versions: "نەشرلەر", search: "ئىزدەش", more: "تېخىمۇ كۆپ", selected: "تاللانغان", none: "يوق", all: "ھەممىسى",
    users: "ئىشلەتكۈچىلەر", speakers: "كاناي ئۈسكۈنىلىرى", enroll: "كىملىك ئىسپاتى بېرىش", revoke: "ئەمەلدىن قالدۇرۇش", create: "قۇرۇش", role: "رول", scope: "باشقۇرۇش دائىرىسى",
    shownOnce: "پەقەت بىر قېتىملا كۆرسىتىلىدۇ، دەرھال كۆچۈرۈۋېلىڭ.", import: "ئەكىرىش", residents: "ئاھالە تىزىملىكى", verify: "خەش زەنجىرىنى تەكشۈرۈش",
    live: "ھەقىقىي ۋاقىت", polling: "نۆۋەتلىك سوراش", lost: "ئۇلىنىش ئۈزۈلدى",
    lostBanner: "مۇلازىمېتىر بىلەن ئۇلىنىش ئۈزۈلدى، قايتا ئۇلىنىۋاتىدۇ… تولدۇرغانلىرىڭىز يوقالمايدۇ.",
    awaiting: "ئىككىنچى نۆۋەتچىنىڭ تەستىقىنى كۈتۈۋاتىدۇ", ownAlert: "ئۆزىڭىز يازغان ئاگاھلاندۇرۇشنى ئۆزىڭىز تەستىقلىيالمايسىز (ئىككى كىشى قائىدىسى)",
    whatYouApprove: "سىز تەستىقلايدىغان مەزمۇن", noPending: "تەستىق كۈتۈۋاتقان ئاگاھلاندۇرۇش يوق", play: "پروگراممىنى قويۇش", createdBy: "ئېلان قىلغۇچى", approvedBy: "تەستىقلىغۇچى",
    planning: "يوللاش پىلانى تۈزۈلۈۋاتىدۇ…",
    retryNote: "ۋاقىتلىق مەغلۇبىيەتنى ئۆچىرەت ئۆزى قايتا سىنايدۇ؛ مەڭگۈلۈك مەغلۇبىيەتتە تىزىملىكنى (نومۇر، ئۈسكۈنە) تۈزىتىپ، يېڭىلانغان ئاگاھلاندۇرۇش ئېلان قىلىڭ.",
    idemNote: "قايتا-قايتا چېكىلسىمۇ بىرلا قېتىم ئېلان قىلىنىدۇ (تەكرارلانماس ئاچقۇچ)", areaFilter: "كەنت نامى بويىچە سۈزۈش…", clear: "تازىلاش",
    confirmApprove: "تەستىقلاپ ئېلان قىلامسىز؟", confirmCancel: "بۇ ئاگاھلاندۇرۇشنى بىكار قىلامسىز؟", confirmAllclear: "خەتەر تۈگىدى دەپ ئېلان قىلامسىز؟", back: "قايتىش",
    audience: "تاپشۇرۇۋالغۇچىلار", counting: "تاپشۇرۇۋالغۇچىلار ھېسابلىنىۋاتىدۇ…", changes: "بۇ نەشردىكى ئۆزگىرىشلەر", authors: "يازغۇچىلار",
    reasonNeeded: " (چوقۇم تولدۇرۇلىدۇ)",
    speakLive: "كانايلار ئارقىلىق جانلىق توۋلاش", callField: "نەق مەيدان گۇرۇپپىسىغا چاقىرىش",

    // Event and group names: the API names them in zh and en only.
    "event:sandstorm": "قۇم بورىنى", "event:rainstorm": "قاتتىق يامغۇر", "event:hail": "مۆلدۈر", "event:gale": "قاتتىق شامال",
    "event:cold_wave": "سوغۇق ئېقىم", "event:heat": "يۇقىرى تېمپېراتۇرا", "event:flood": "كەلكۈن", "event:earthquake": "يەر تەۋرەش",
    "event:geological": "گېئولوگىيىلىك ئاپەت", "event:forest_fire": "ئورمان ئوت ئاپىتى", "event:grassland_fire": "يايلاق ئوت ئاپىتى",
    "event:hazardous_chemicals": "خەتەرلىك خىمىيىلىك ماددا ھادىسىسى", "event:public_health": "ئاممىۋى سەھىيە ۋەقەسى",
    "event:blizzard": "قاتتىق قار", "event:frost": "قىراۋ", "event:drought": "قۇرغاقچىلىق", "event:fog": "قويۇق تۇمان",
    "event:lightning": "چاقماق", "event:road_icing": "يول مۇزلاش", "event:dam_failure": "سۇ ئامبىرى توسمىسى بۇزۇلۇش", "event:other": "باشقا",
    "group:herders": "چارۋىچىلار", "group:farmers": "دېھقانلار", "group:schools": "مەكتەپ ۋە يەسلىلەر", "group:students": "ئوقۇغۇچىلار",
    "group:elderly": "ياشانغانلار", "group:disabled": "مېيىپلار", "group:hazchem": "خەتەرلىك خىمىيىلىك ماددا كارخانىلىرى", "group:tourists": "ساياھەتچىلەر",
    "group:construction": "قۇرۇلۇش مەيدانلىرى", "group:medical": "داۋالاش ئورۇنلىرى", "group:cadres": "كەنت كادىرلىرى", "group:drivers": "قاتناش شوپۇرلىرى",
    // What changed in a version waiting for approval (app.js CHANGE_NAMES).
    "change:new": "يېڭى ئاگاھلاندۇرۇش", "change:raise": "دەرىجىسى ئۆستۈرۈلدى", "change:widen": "دائىرە ياكى ئاھالە توپى كېڭەيتىلدى",
    "change:drill_to_actual": "مانېۋىردىن ھەقىقىيگە ئۆزگەرتىلدى", "change:channels": "تارقىتىش يولى قوشۇلدى", "change:event": "ئاپەت تۈرى ئۆزگەرتىلدى",
    "change:text": "مەزمۇن ئۆزگەرتىلدى", "change:extend": "ئىناۋەتلىك مۇددىتى ئۇزارتىلدى", "change:lower": "دەرىجىسى تۆۋەنلىتىلدى",
    "change:narrow": "دائىرە تارايتىلدى", "change:shorten": "ئىناۋەتلىك مۇددىتى قىسقارتىلدى", "change:channels_removed": "تارقىتىش يولى ئازايتىلدى",
    "change:other": "باشقا ئۆزگىرىشلەر", "change:end": "ئاخىرلاشتى",

    // The area picker (aim.js), the after-action report (report.js) and the approval alerts
    // (approvals_notify.js) carry their Uyghur strings in their own files, as their zh and en.
    // The loudspeaker fleet page (fleet.js). fleetHeld is both a status and
    // a column head; fleetPage keeps {n}; fleetCountsAt is followed by a time.
    fleet: "كاناي ئۈسكۈنىلىرى", fleetAll: "ھەممە ھالەت", fleetAllTowns: "ھەممە يېزا-بازار", fleetSearch: "ئۈسكۈنە نومۇرى ياكى كەنت نامى…",
    fleetOnline: "توردا", fleetOffline: "تورسىز", fleetNever: "ھېچ ئۇلانمىغان", fleetFaulty: "كاشىلا", fleetHeld: "قويۇلۇشنى كۈتۈۋاتقان بۇيرۇق بار",
    fleetRevoked: "ئەمەلدىن قالدۇرۇلدى", fleetUnknown: "ھالىتى نامەلۇم",
    fleetID: "ئۈسكۈنە نومۇرى", fleetVillage: "كەنت", fleetLastHB: "ئاخىرقى يۈرەك سوقۇشى (بېيجىڭ ۋاقتى)", fleetFirmware: "مىكرو پروگرامما/ۋاكالەتچى نەشرى",
    fleetRegistered: "تىزىملانغان", fleetTotal: "جەمئىي",
    fleetCounts: "يېزا-بازارلار بويىچە ئۈسكۈنىلەرنىڭ توردا بولۇش ئەھۋالى", fleetCSV: "CSV چىقىرىش (سۈزۈلگەن ھەممە نەتىجە)",
    fleetNext: "كېيىنكى بەت", fleetPrev: "ئالدىنقى بەت", fleetPage: "{n}-بەت",
    fleetEmpty: "شەرتكە ماس كېلىدىغان ئۈسكۈنە يوق", fleetNoHub: "بۇ تۈگۈندە كاناي يولى قوزغىتىلمىغان: توردا بولۇش ھالىتى نامەلۇم.",
    fleetReenroll: "قايتا تىزىملاش", fleetRevokeSure: "راستىنلا ئەمەلدىن قالدۇرامسىز؟",
    fleetReadOnly: "پەقەت كۆرۈشكىلا بولىدۇ: تىزىملاش ۋە ئەمەلدىن قالدۇرۇش ئۈچۈن باشقۇرغۇچى كېرەك.", fleetCountsAt: "ستاتىستىكا ۋاقتى (بېيجىڭ ۋاقتى):",
    fleetAdminLink: "كاناي ئۈسكۈنىلىرى: بەتلەش، سۈزۈش، تىزىملاش ۋە ئەمەلدىن قالدۇرۇش ئۈسكۈنە بېتىدە",
    // The audit log page (audit.js). auditChainOK keeps {n}.
    auditSeq: "تەرتىپ نومۇرى", auditTime: "ۋاقىت (بېيجىڭ ۋاقتى)", auditActor: "مەشغۇلات قىلغۇچى", auditAction: "مەشغۇلات", auditAlert: "ئاگاھلاندۇرۇش",
    auditFrom: "مەنبە ئادرېسى", auditDetail: "تەپسىلاتى",
    auditSince: "باشلىنىش ۋاقتى (بېيجىڭ ۋاقتى)", auditUntil: "ئاخىرلىشىش ۋاقتى (بېيجىڭ ۋاقتى)", auditAnyAction: "ھەممە مەشغۇلات",
    auditCSV: "CSV چىقىرىش (سۈزۈلگەن ھەممە نەتىجە)",
    auditChain: "خەش زەنجىرى", auditChainOK: "پۈتۈن: {n} خاتىرە تەكشۈرۈلدى", auditChainBad: "بۇزۇلغان", auditChecking: "تەكشۈرۈلۈۋاتىدۇ…",
    auditEmpty: "شەرتكە ماس كېلىدىغان خاتىرە يوق", auditFilter: "سۈزۈش", auditRecheck: "قايتا تەكشۈرۈش",
  });
});
