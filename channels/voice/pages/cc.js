// cc.js — the command-centre page: go live to a region's loudspeakers,
// call field members, see who is connected.
"use strict";

const state = { room: null, callRoom: null, stream: null, meter: null, muted: false, me: null, request: null, alert: null };

// Live requests waiting for a second officer (two-person rule), shown to
// approvers with approve/deny; the requester sees its own in #livestate.
const requests = new Map();
const levelNames = { 1: "蓝色 IV · blue", 2: "黄色 III · yellow", 3: "橙色 II · orange", 4: "红色 I · red" };
const requestStates = { approved: "已批准 · approved", denied: "已拒绝 · denied", expired: "已超时 · expired",
  cancelled: "已撤回 · cancelled", failed: "未能开播 · failed" };

function showRequests() {
  const ul = $("requests"); ul.textContent = "";
  for (const f of requests.values()) {
    const ok = el("button", { className: "ok", textContent: "批准 · Approve" });
    ok.onclick = () => vc.send({ type: "approve", request: f.request });
    const no = el("button", { textContent: "拒绝 · Deny" });
    no.onclick = () => vc.send({ type: "deny", request: f.request, reason: (window.prompt("拒绝理由 · Reason (optional)") || "").slice(0, 200) });
    ul.append(el("li", { className: "lv-" + (["", "blue", "yellow", "orange", "red"][f.level] || "") },
      // The whole area the approver puts on the air, and the warning it is for.
      f.from + " · " + [f.region].concat(f.regions || []).join("、") + " · " + (levelNames[f.level] || f.level) +
        (f.alert_id ? " · 预警 warning " + f.alert_id : "") + " · " + f.expires_in + " s ", ok, " ", no));
  }
  $("approvals").classList.toggle("hidden", requests.size === 0);
}

function liveRequest(f) {
  if (f.from === state.me) {
    state.request = f.state === "pending" ? f.request : null;
    $("withdraw").classList.toggle("hidden", f.state !== "pending");
    if (f.state === "pending") {
      $("livestate").textContent = "等待第二人批准 · waiting for an approver (" + f.expires_in + " s)";
    } else if (f.state === "approved") {
      $("livestate").textContent = "已批准 · approved by " + f.by;
    } else {
      $("livestate").textContent = "未开播 · not live: " + (requestStates[f.state] || f.state) + (f.by ? " · " + f.by : "") + (f.reason ? " · " + f.reason : "");
      $("golive").disabled = !state.stream;
    }
    log("live request " + f.request + ": " + f.state);
    return;
  }
  if (f.state === "pending") requests.set(f.request, f); else requests.delete(f.request);
  showRequests();
  log("live request " + f.request + " (" + f.from + ", " + f.region + "): " + f.state + (f.by ? " · " + f.by : ""));
}

function log(msg, cls) {
  const line = el("div", { textContent: new Date().toLocaleTimeString() + "  " + msg, className: cls || "" });
  $("log").prepend(line);
}

const vc = new VoiceClient({
  room(f) {
    if (f.kind === "live") {
      state.room = f.room;
      const w = state.alert && f.alert_id === state.alert.id ? state.alert : null;
      $("livestate").textContent = "直播中 LIVE · " + (w ? (levelNames[w.levelNo] || "") + " · " + w.areaText : f.region) + " · " +
        (f.devices ? f.devices.length : 0) + " 台大喇叭已通知 · loudspeakers told";
      $("livestate").className = "live";
      $("end").disabled = false; $("mute").disabled = false;
      vc.publish(f.room, state.stream).catch((e) => log("publish: " + e, "err"));
    } else if (f.kind === "call") {
      state.callRoom = f.room;
      $("hangup").disabled = false;
      $("callstate").textContent = "呼叫中 · calling " + (f.members || []).join(", ");
      vc.publish(f.room, state.stream).catch((e) => log("publish: " + e, "err"));
      vc.join(f.room);
    }
    log("room " + f.room + " (" + f.kind + ")");
  },
  members(f) {
    $("speakers").textContent = String(f.speakers || 0);
    const ul = $("members"); ul.textContent = "";
    for (const p of f.peers || []) {
      ul.append(el("li", { textContent: p.user + " · " + p.role + (p.publishing ? " · 🎙" : "") + (p.muted ? " · muted" : "") + " · " + p.state }));
    }
  },
  online(f) {
    const ul = $("field"); ul.textContent = "";
    for (const u of f.endpoints || []) {
      const cb = el("input", { type: "checkbox", value: u });
      ul.append(el("li", {}, el("label", {}, cb, " " + u)));
    }
    if (f.devices) $("devices").textContent = String(f.devices.length);
  },
  track(f) {
    if (f.room === state.callRoom) $("callaudio").srcObject = f.stream;
  },
  room_ended(f) {
    log("room " + f.room + " ended: " + f.reason);
    if (f.room === state.room) {
      state.room = null;
      $("livestate").textContent = "已结束 · ended (" + f.reason + ")"; $("livestate").className = "";
      $("end").disabled = true; $("mute").disabled = true; $("golive").disabled = false;
    }
    if (f.room === state.callRoom) {
      state.callRoom = null; $("hangup").disabled = true;
      $("callstate").textContent = "通话结束 · call over (" + f.reason + ")";
    }
  },
  live_request: liveRequest,
  pcstate(f) { log(f.room + "/" + f.pc + ": " + f.state); },
  peer_state(f) { log("server sees " + f.room + "/" + f.pc + ": " + f.state); },
  error(f) {
    log("错误 error " + (f.code || "") + ": " + f.message, "err");
    if (f.code === "live_failed" || f.code === "request_pending") $("golive").disabled = !state.stream || !!state.room || !!state.request;
  },
  closed() {
    $("who").textContent = "连接断开，重连中 · disconnected, reconnecting";
    $("golive").disabled = true;
    // The server ends a live room whose publisher's socket dropped.
    if (state.room) {
      state.room = null;
      $("livestate").textContent = "已结束 · ended (disconnected)"; $("livestate").className = "";
      $("end").disabled = true; $("mute").disabled = true;
    }
    state.callRoom = null; $("hangup").disabled = true;
    // The server cancels a request whose requester's socket dropped.
    state.request = null; $("withdraw").classList.add("hidden");
    requests.clear(); showRequests();
  },
  reconnected(h) { state.me = h.user; $("who").textContent = h.user + " · " + h.role; if ($("golive")) $("golive").disabled = !state.stream; },
});

async function loadRegions() {
  const r = await fetch("regions.json");
  const data = await r.json();
  for (const g of data.regions) {
    $("region").append(el("option", { value: g.code, textContent: g.code + " " + g.name }));
  }
}

async function connect() {
  const typed = $("token").value || tokenFromPage();
  $("token").value = "";
  try {
    const hello = await vc.connect(voiceCredential(typed));
    $("who").textContent = hello.user + " · " + hello.role;
    state.me = hello.user;
    $("login").classList.add("hidden");
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: false });
    state.meter = new LevelMeter(state.stream, $("meter"));
    $("golive").disabled = false; $("call").disabled = false;
    log("connected as " + hello.user);
  } catch (e) {
    log("连接失败 · connect failed: " + e.message, "err");
  }
}

$("connect").onclick = connect;
$("golive").onclick = () => {
  $("golive").disabled = true;
  const f = { type: "live", region: $("region").value, level: Number($("level").value) };
  // The warning's whole area, on its behalf (the server audits the id).
  if (f.region === "alert" && state.alert) Object.assign(f, { region: state.alert.codes[0], regions: state.alert.codes.slice(1), alert_id: state.alert.id });
  vc.send(f);
};
$("withdraw").onclick = () => { if (state.request) vc.send({ type: "deny", request: state.request, reason: "withdrawn" }); };
$("end").onclick = () => { if (state.room) vc.send({ type: "end", room: state.room }); };
$("mute").onclick = () => {
  state.muted = !state.muted;
  for (const t of state.stream.getAudioTracks()) t.enabled = !state.muted;
  vc.send({ type: "mute", room: state.room, muted: state.muted });
  $("mute").textContent = state.muted ? "取消静音 · Unmute" : "静音 · Mute";
};
$("call").onclick = () => {
  const members = [...document.querySelectorAll("#field input:checked")].map((c) => c.value);
  if (!members.length) { log("先勾选外勤人员 · tick at least one field member", "err"); return; }
  vc.send({ type: "call", members });
};
$("hangup").onclick = () => { if (state.callRoom) vc.send({ type: "end", room: state.callRoom }); };

// A page opened from a warning in the console (?alert=ID, &mode=call):
// show the warning and aim the announcement at its whole area and level.
const LEVEL_NO = { blue: 1, yellow: 2, orange: 3, red: 4 };
async function loadAlert(id) {
  const get = async (path) => {
    const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  };
  const [a, rg] = await Promise.all([get("/api/v1/alerts/" + encodeURIComponent(id)), get("/api/v1/regions").catch(() => null)]);
  const names = new Map();
  for (const tw of (rg && rg.townships) || []) {
    names.set(tw.code, tw.name);
    for (const v of tw.villages || []) names.set(v.code, tw.name + v.name);
  }
  const codes = (a.area && a.area.codes) || [];
  const text = (a.text && (a.text.zh || a.text.ug)) || {};
  state.alert = { id: a.id, levelNo: LEVEL_NO[a.level] || 4, codes,
    areaText: codes.map((c) => names.get(c) || c).join("、") || "—" };
  $("alertbox").className = "lv-" + a.level;
  $("alert-level").textContent = levelNames[state.alert.levelNo] || a.level;
  $("alert-headline").textContent = (text.headline || a.id) + " · " + a.id;
  $("alert-area").textContent = state.alert.areaText;
  $("alert-back").href = "/#/alert/" + encodeURIComponent(a.id);
  $("level").value = String(state.alert.levelNo);
  if (codes.length) {
    $("region").prepend(el("option", { value: "alert", textContent: "预警范围 · warning area: " + state.alert.areaText }));
    $("region").value = "alert";
  } else {
    log("预警没有行政区范围，请选择区域 · the warning has no region codes: choose a region", "err");
  }
  document.title = "Alertcast · " + (text.headline || a.id);
}

const params = new URLSearchParams(location.search);
loadRegions().catch((e) => log("regions: " + e, "err")).then(() => {
  if (params.get("alert")) return loadAlert(params.get("alert")).catch((e) => log("预警 · warning: " + e.message, "err"));
}).then(() => {
  if (params.get("mode") === "call") $("callbox").scrollIntoView();
});
connect(); // a token in the URL fragment, or the console's session
