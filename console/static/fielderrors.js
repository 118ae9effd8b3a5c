// Field errors in the console's language. The API names each problem by
// field path ("text.zh.headline", "area.codes[3]") and rule (English, for
// logs and alertctl); an officer needs the label they see on the form and
// a short phrase. Unknown fields and rules still read as a sentence: the
// nearest known label and the API's own words.
(function () {
  "use strict";
  const FIELDS = {
    zh: {
      event: "灾种", level: "预警级别", status: "性质", area: "预警范围", "area.codes": "预警范围", "area.exclude": "排除范围",
      "area.polygons": "多边形范围", "area.circles": "圆形范围", audience: "受众", "audience.groups": "人群", "audience.languages": "语言",
      channels: "发布渠道", text: "预警内容", "text.zh": "普通话内容", "text.ug": "维吾尔语内容",
      "text.zh.headline": "普通话标题", "text.zh.description": "普通话正文", "text.zh.instruction": "普通话防御指引",
      "text.ug.headline": "维吾尔语标题", "text.ug.description": "维吾尔语正文", "text.ug.instruction": "维吾尔语防御指引",
      onset: "生效时间", expires: "失效时间", rebroadcast: "重播计划", reason: "理由",
      name: "用户名", password: "密码", role: "角色", token: "令牌",
    },
    en: {
      event: "Event", level: "Level", status: "Status", area: "Area", "area.codes": "Area", "area.exclude": "Excluded area",
      "area.polygons": "Polygon", "area.circles": "Circle", audience: "Audience", "audience.groups": "Groups", "audience.languages": "Languages",
      channels: "Channels", text: "Text", "text.zh": "Mandarin text", "text.ug": "Uyghur text",
      "text.zh.headline": "Mandarin headline", "text.zh.description": "Mandarin description", "text.zh.instruction": "Mandarin instruction",
      "text.ug.headline": "Uyghur headline", "text.ug.description": "Uyghur description", "text.ug.instruction": "Uyghur instruction",
      onset: "Onset", expires: "Expires", rebroadcast: "Rebroadcast", reason: "Reason",
      name: "User name", password: "Password", role: "Role", token: "Token",
    },
  };
  const LEVEL = { zh: { blue: "蓝色", yellow: "黄色", orange: "橙色", red: "红色" }, en: { blue: "blue", yellow: "yellow", orange: "orange", red: "red" } };
  // [pattern, zh, en]: the first match wins, so specific "required…" rules
  // come before plain "required". $1, $2 are the pattern's groups.
  const RULES = [
    [/^required to approve an? (\w+) warning/, (m) => `批准${LEVEL.zh[m[1]] || m[1]}预警必须填写理由`, (m) => `required to approve a ${m[1]} warning`],
    [/^required when rejecting/, () => "驳回时必须填写", () => "required when rejecting"],
    [/^required: the warning must be written in every audience language/, () => "必填：受众的每种语言都要写（未选语言时，普通话和维吾尔语都要写）",
      () => "required: write it in every audience language (Mandarin and Uyghur unless Languages narrows it)"],
    [/^required: blue, yellow, orange or red/, () => "必填：请选择蓝色、黄色、橙色或红色", () => "required: choose blue, yellow, orange or red"],
    [/^required/, () => "必填", () => "required"],
    [/^must be a known event code/, () => "请从列表中选择灾种", () => "choose an event from the list"],
    [/^must be blue, yellow, orange or red/, () => "只能是蓝色、黄色、橙色或红色", () => "must be blue, yellow, orange or red"],
    [/^must be actual, exercise or test/, () => "只能是正式、演练或测试", () => "must be actual, drill or test"],
    [/^at least one region code, polygon or circle is required/, () => "请至少选择一个乡镇或村", () => "choose at least one township or village"],
    [/^must be an administrative code of 6, 9 or 12 digits/, () => "须为6、9或12位行政区划代码", () => "must be a 6, 9 or 12 digit region code"],
    [/^unknown region code/, () => "不是已知的行政区划代码", () => "unknown region code"],
    [/^duplicate region code/, () => "地区重复", () => "listed twice"],
    [/^unknown population group/, () => "未知人群", () => "unknown group"],
    [/^(must be zh or ug|unsupported language)/, () => "只能是普通话或维吾尔语", () => "must be Mandarin or Uyghur"],
    [/^at least one of speaker, sms, websocket, voice is required/, () => "请至少选择一个渠道", () => "choose at least one channel"],
    [/^must be speaker, sms, websocket or voice/, () => "未知渠道", () => "unknown channel"],
    [/^must be valid UTF-8/, () => "含有无法识别的字符", () => "contains invalid characters"],
    [/^at most (\d+) characters \(has (\d+)\)/, (m) => `最多${m[1]}个字，现有${m[2]}个字`, (m) => `at most ${m[1]} characters (has ${m[2]})`],
    [/^must be RFC 3339/, () => "时间格式不正确", () => "not a valid date and time"],
    [/^must be in the future/, () => "必须晚于现在", () => "must be in the future"],
    [/^must be after onset/, () => "必须晚于生效时间", () => "must be after the onset"],
    [/^"every" needs a duration/, () => "“every”后要写间隔，如 every 30m", () => "\"every\" needs a duration such as 30m"],
    [/^must be at least (\S+) apart/, (m) => `两次重播至少间隔 ${m[1]}`, (m) => `must be at least ${m[1]} apart`],
    [/^must be "every DURATION" or a 5-field cron spec/, () => "须为“every 间隔”（如 every 30m）或 5 段 cron 表达式",
      () => "must be \"every DURATION\" (e.g. every 30m) or a 5-field cron spec"],
    [/^at least (\d+) characters/, (m) => `至少${m[1]}个字符`, (m) => `at least ${m[1]} characters`],
    [/^must be viewer, operator, approver or admin/, () => "只能是 viewer、operator、approver 或 admin", () => "must be viewer, operator, approver or admin"],
    [/^choose an event before filling a template/, () => "套用模板前请先选择灾种", () => "choose an event before filling a template"],
    [/^choose a level before filling a template/, () => "套用模板前请先选择级别", () => "choose a level before filling a template"],
  ];
  const FALLBACK = { zh: (rule) => "输入有误（" + rule + "）", en: (rule) => rule || "invalid" };

  // label names a field path: the nearest known ancestor, plus the item
  // number for a list entry ("预警范围第4项" for "area.codes[3]").
  function label(lang, path) {
    const F = FIELDS[lang] || FIELDS.en;
    let f = path || "", item = "";
    const m = /^(.*)\[(\d+)\]$/.exec(f);
    if (m) { f = m[1]; item = lang === "zh" ? `第${+m[2] + 1}项` : ` #${+m[2] + 1}`; }
    if (F[f]) return F[f] + item;
    for (let p = f; p.includes(".");) {
      p = p.slice(0, p.lastIndexOf("."));
      if (F[p]) return F[p] + " (" + path + ")";
    }
    return path;
  }
  function phrase(lang, rule) {
    const i = lang === "zh" ? 1 : 2;
    for (const r of RULES) { const m = r[0].exec(rule || ""); if (m) return r[i](m); }
    return (FALLBACK[lang] || FALLBACK.en)(rule || "");
  }
  // describe is one line for a problem {field, rule, value}.
  function describe(lang, p) {
    const sep = lang === "zh" ? "：" : ": ";
    const v = p.value ? (lang === "zh" ? "（" + p.value + "）" : " (" + p.value + ")") : "";
    return (p.field ? label(lang, p.field) + sep : "") + phrase(lang, p.rule) + v;
  }
  // CODES name the API's error codes; the server's message (English, with
  // the specifics) follows, so nothing it says is lost.
  const CODES = {
    zh: { validation: "输入有误", bad_json: "请求格式有误", forbidden: "无权执行此操作", unauthorized: "登录已失效，请重新登录", conflict: "操作冲突",
      not_found: "未找到", too_large: "内容太大", unavailable: "服务暂不可用，请稍后重试", internal: "服务器内部错误", cap_refused: "CAP 预警被拒绝" },
    en: { validation: "Invalid input", bad_json: "Malformed request", forbidden: "Not allowed", unauthorized: "Please log in again", conflict: "Conflict",
      not_found: "Not found", too_large: "Too large", unavailable: "Service unavailable, try again shortly", internal: "Server error", cap_refused: "CAP warning refused" },
  };
  // summary is one line for an error that is not about one field.
  function summary(lang, err) {
    const c = (CODES[lang] || CODES.en)[err && err.code];
    const msg = (err && err.message) || "";
    return c ? c + (msg ? (lang === "zh" ? "：" : ": ") + msg : "") : msg;
  }
  // FIELDS and CODES are open to other languages' files (i18n_ug.js adds
  // ug; its rule phrases fall back to the API's English words).
  window.ALERT_FIELD_ERRORS = { label, phrase, describe, summary, FIELDS, CODES };
})();
