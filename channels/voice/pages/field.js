// field.js — the field page: receive warning calls (answer, then confirm
// "received"), two-way calls from the command centre, and live listening.
"use strict";

const fs = { ring: null, ringRoom: null, call: null, live: null, stream: null, meter: null };

function log(msg, cls) {
  $("log").prepend(el("div", { textContent: new Date().toLocaleTimeString() + "  " + msg, className: cls || "" }));
}

const vc = new VoiceClient({
  ring(f) {
    fs.ring = f.ring; fs.ringRoom = f.room;
    const a = f.alert || {};
    $("ringbox").className = "ring lv-" + (a.level_name || "red");
    $("ringtitle").textContent = (a.drill ? "【演练 DRILL】" : "") + (a.event_name || "") + " " + (a.level_name || "") + " 预警来电";
    $("ringhead").textContent = (a.text || {}).headline || "";
    $("ringdesc").textContent = (a.text || {}).description || "";
    $("ringinstr").textContent = (a.text || {}).instruction || "";
    log("ringing: " + f.ring);
  },
  ring_over(f) {
    if (f.ring === fs.ring) { $("ringbox").className = "hidden"; fs.ring = null; log("ring over: " + f.reason); }
  },
  incoming_call(f) {
    fs.call = f.room;
    $("callbox").className = "ring";
    $("callfrom").textContent = f.from;
  },
  room(f) {
    if (f.kind === "live") {
      fs.live = f.room;
      $("livebox").className = "";
      $("liveinfo").textContent = f.from + " · " + f.region;
    }
  },
  track(f) {
    $("audio").srcObject = f.stream;
    if (fs.meter) fs.meter.stop();
    try { fs.meter = new LevelMeter(f.stream, $("meter")); } catch (e) { /* no AudioContext */ }
  },
  room_ended(f) {
    log("room " + f.room + " ended: " + f.reason);
    if (f.room === fs.call) { fs.call = null; $("callbox").className = "hidden"; }
    if (f.room === fs.live) { fs.live = null; $("livebox").className = "hidden"; }
  },
  pcstate(f) { log(f.room + "/" + f.pc + ": " + f.state); },
  error(f) { log("错误 error " + (f.code || "") + ": " + f.message, "err"); },
  closed() { $("who").textContent = "连接断开，重连中 · disconnected, reconnecting"; },
  reconnected(h) { $("who").textContent = h.user + " · " + h.role; },
});

async function connect() {
  const typed = $("token").value || tokenFromPage();
  $("token").value = "";
  try {
    const hello = await vc.connect(voiceCredential(typed));
    $("who").textContent = hello.user + " · " + hello.role;
    $("login").classList.add("hidden");
  } catch (e) {
    log("连接失败 · connect failed: " + e.message, "err");
  }
}

$("connect").onclick = connect;
$("answer").onclick = () => { if (fs.ringRoom) vc.join(fs.ringRoom); };
$("ack").onclick = () => {
  if (!fs.ring) return;
  vc.send({ type: "ack", ring: fs.ring });
  log("已确认收到 · acknowledged");
};
$("decline").onclick = () => { if (fs.ring) vc.send({ type: "decline", ring: fs.ring }); };
$("callanswer").onclick = async () => {
  if (!fs.call) return;
  try {
    fs.stream = fs.stream || await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    vc.join(fs.call);
    await vc.publish(fs.call, fs.stream);
  } catch (e) { log("microphone: " + e, "err"); }
};
$("callhangup").onclick = () => { if (fs.call) { vc.leave(fs.call); $("callbox").className = "hidden"; fs.call = null; } };
$("listen").onclick = () => { if (fs.live) vc.join(fs.live); };
$("stoplisten").onclick = () => { if (fs.live) vc.leave(fs.live); };

connect(); // a token in the URL fragment, or the console's session
