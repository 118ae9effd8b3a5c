// voice.js — signalling and WebRTC for the Alertcast voice pages.
// Plain JavaScript, no dependencies: the command centre must work without
// the internet. Protocol: JSON frames over the WebSocket at ./ws (see
// channels/voice/signal.go). Each participant has a "pub" connection (it
// offers its microphone) and a "sub" connection (the server offers what it
// hears), per room.
"use strict";

class VoiceClient {
  constructor(handlers) {
    this.h = handlers || {};
    this.pcs = new Map();      // "room/pc" -> RTCPeerConnection
    this.iceServers = [];
    this.ws = null;
    this.nextId = 1;
  }

  // connect opens the signalling socket. cred is the auth frame's token,
  // or a function returning a promise of one (a fresh one-use ticket per
  // connection, so reconnects work).
  connect(cred) {
    const get = typeof cred === "function" ? cred : () => cred;
    return Promise.resolve().then(get).then((token) => new Promise((resolve, reject) => {
      const url = new URL("ws", location.href);
      url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(url.toString());
      this.ws = ws;
      let hello = false;
      ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
      ws.onmessage = (ev) => {
        let f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f.type === "hello") {
          hello = true;
          this.user = f.user; this.role = f.role;
          this.iceServers = f.ice_servers || [];
          resolve(f);
        }
        if (f.type === "error" && !hello) reject(new Error(f.message));
        this.onFrame(f);
      };
      const pinger = setInterval(() => { if (ws.readyState === 1) this.send({ type: "ping" }); }, 10000);
      ws.onclose = () => {
        clearInterval(pinger);
        for (const key of [...this.pcs.keys()]) this.closePC(key);
        if (!hello) { reject(new Error("connection closed")); return; }
        this.emit("closed", {});
        // A field page must stay reachable for warning calls: reconnect
        // with backoff (1 s, 2 s, 4 s … 30 s).
        const delay = Math.min(30000, 1000 * 2 ** (this.retries || 0));
        this.retries = (this.retries || 0) + 1;
        setTimeout(() => this.connect(cred).then((h) => {
          this.retries = 0;
          this.emit("reconnected", h);
        }).catch(() => {}), delay);
      };
    }));
  }

  send(f) {
    if (!f.id) f.id = "c" + (this.nextId++);
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(f));
    return f.id;
  }

  emit(type, f) { const fn = this.h[type] || this.h.any; if (fn) fn(f); }

  async onFrame(f) {
    try {
      switch (f.type) {
        case "offer": await this.onOffer(f); return;
        case "answer": {
          const pc = this.pcs.get(f.room + "/" + f.pc);
          if (pc) await pc.setRemoteDescription({ type: "answer", sdp: f.sdp });
          return;
        }
        case "candidate": {
          const pc = this.pcs.get(f.room + "/" + f.pc);
          if (pc && f.candidate) await pc.addIceCandidate(f.candidate);
          return;
        }
        case "room_ended":
          this.closePC(f.room + "/pub"); this.closePC(f.room + "/sub");
          break;
      }
    } catch (e) {
      this.emit("error", { type: "error", room: f.room, code: "client", message: String(e) });
    }
    this.emit(f.type, f);
  }

  newPC(room, name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const key = room + "/" + name;
    this.pcs.set(key, pc);
    pc.onicecandidate = (ev) => {
      if (ev.candidate) this.send({ type: "candidate", room, pc: name, candidate: ev.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      this.emit("pcstate", { room, pc: name, state: pc.connectionState });
      if (pc.connectionState === "failed") {
        this.emit("error", { room, code: "ice_failed", message: "connection to the voice server failed (ICE): check the network or TURN server" });
      }
    };
    return pc;
  }

  // publish sends the microphone stream into room (an offer on "pub").
  async publish(room, stream) {
    const pc = this.newPC(room, "pub");
    for (const t of stream.getAudioTracks()) pc.addTransceiver(t, { direction: "sendonly", streams: [stream] });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.send({ type: "offer", room, pc: "pub", sdp: offer.sdp });
    return pc;
  }

  // onOffer answers the server's offer on "sub" and plays what arrives.
  async onOffer(f) {
    let pc = this.pcs.get(f.room + "/sub");
    if (!pc) {
      pc = this.newPC(f.room, "sub");
      pc.ontrack = (ev) => this.emit("track", { room: f.room, stream: ev.streams[0] || new MediaStream([ev.track]), track: ev.track });
    }
    await pc.setRemoteDescription({ type: "offer", sdp: f.sdp });
    const ans = await pc.createAnswer();
    await pc.setLocalDescription(ans);
    this.send({ type: "answer", room: f.room, pc: "sub", sdp: ans.sdp });
  }

  join(room) { this.send({ type: "join", room }); }
  leave(room) {
    this.send({ type: "leave", room });
    this.closePC(room + "/pub"); this.closePC(room + "/sub");
  }
  closePC(key) {
    const pc = this.pcs.get(key);
    if (pc) { pc.close(); this.pcs.delete(key); }
  }
}

// LevelMeter shows the loudness of a stream on a <meter>.
class LevelMeter {
  constructor(stream, meter) {
    const AC = window.AudioContext || window.webkitAudioContext;
    this.ctx = new AC();
    const src = this.ctx.createMediaStreamSource(stream);
    this.an = this.ctx.createAnalyser();
    this.an.fftSize = 512;
    src.connect(this.an);
    this.buf = new Float32Array(this.an.fftSize);
    this.meter = meter;
    this.peak = 0;
    this.timer = setInterval(() => this.tick(), 50);
  }
  tick() {
    this.an.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    const rms = Math.sqrt(sum / this.buf.length);
    this.peak = Math.max(this.peak, rms);
    this.meter.value = Math.min(1, rms * 4);
  }
  stop() { clearInterval(this.timer); this.ctx.close(); }
}

function $(id) { return document.getElementById(id); }
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) e.append(k);
  return e;
}
// tokenFromPage takes a token handed over in the URL fragment (#token=…,
// never sent to a server) and removes it from the address bar and history.
// It is kept in memory only: never in localStorage or sessionStorage.
let pageToken = null;
function tokenFromPage() {
  if (pageToken === null) {
    const q = new URLSearchParams(location.hash.slice(1));
    pageToken = q.get("token") || "";
    if (pageToken) history.replaceState(null, "", location.pathname + location.search);
  }
  return pageToken;
}

// voiceCredential returns what each connection authenticates with: the
// API token the user typed (in memory only), or else a one-use ticket
// minted with the console's HttpOnly session cookie and its CSRF token.
function voiceCredential(typed) {
  return async () => {
    if (typed) return typed;
    let csrf = "";
    try { csrf = (JSON.parse(sessionStorage.getItem("alertcast.session") || "{}").csrf) || ""; } catch (e) { /* none */ }
    const res = await fetch("/api/v1/tickets", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
    if (!res.ok) throw new Error("需要 token，或先登录控制台 · enter a token, or log in to the console first");
    return (await res.json()).ticket;
  };
}
