#!/usr/bin/env bash
# Issue call → every loudspeaker reports "playing", through a whole alertd (API → outbox relay → Asynq →
# plan → hub → simulated agents → receipts recorded), county-wide red warnings one after another.
# The agents play in real time (--realtime), so a record's "playing" report is still its latest when it is
# read 2.5 s after the issue call; each warning is then cancelled and its cancellation notice played out
# before the next. A record's time is the device's report time (to 10 ms).
# Needs /tmp/alertd, /tmp/alertctl, /tmp/speaker (go build -o /tmp/ ./cmd/alertd ./cmd/alertctl ./cmd/speaker)
# and python3. Loopback only.
# ROUNDS (3), SPEAKERS (5000), SEND_CHUNK (200), BATCH_SIZE (1000; loudspeakers get at least 5000) vary it;
# PPROF=file writes alertd profiles (file.alertd.N, first 3 s of round N) and the agents' (file.sim);
# KEEP=seconds leaves everything running afterwards.
set -e
# Stops only the processes it started, by PID (never by name: other alertd may run here).
alertd_pid= speaker_pid=
stop() {
  [ -n "$speaker_pid" ] && kill -INT "$speaker_pid" 2>/dev/null && wait "$speaker_pid" 2>/dev/null
  [ -n "$alertd_pid" ] && kill "$alertd_pid" 2>/dev/null && wait "$alertd_pid" 2>/dev/null
  true
}
rm -rf /tmp/bench4 /tmp/spk4 && mkdir -p /tmp/spk4
printf "policy:\n  approval_levels: []\noutbox: [sms, voice]\nsend_chunk: ${SEND_CHUNK:-200}\nbatch_size: ${BATCH_SIZE:-1000}\n" > /tmp/spk4.yaml
trap stop EXIT
ALERTCAST_PPROF=127.0.0.1:16061 ALERTCAST_ADMIN_TOKEN=admintoken-0123456789 /tmp/alertd --config /tmp/spk4.yaml --data-dir /tmp/bench4 --listen 127.0.0.1:18085 > /tmp/bench4.out 2> /tmp/bench4.err &
alertd_pid=$!
sleep 2
export ALERTCAST_URL=http://127.0.0.1:18085 ALERTCAST_TOKEN=admintoken-0123456789
cd /tmp/spk4 && /tmp/alertctl gen population --residents 1000 --speakers ${SPEAKERS:-5000} --seed 2 --out /tmp/spk4 >/dev/null
/tmp/alertctl speakers import /tmp/spk4/speakers.csv
/tmp/alertctl speakers enroll --all --out /tmp/spk4/creds.csv
PK=$(curl -s localhost:18085/api/v1/speakers/key | python3 -c "import json,sys;print(json.load(sys.stdin)['public_key'])")
printf "url: http://127.0.0.1:18085\npublic_key: $PK\ncache_dir: /tmp/spk4/cache\nsink:\n  type: discard\n  realtime: false\n" > /tmp/spk4/sim.yaml
/tmp/speaker --config /tmp/spk4/sim.yaml --simulate ${SPEAKERS:-5000} --credentials /tmp/spk4/creds.csv --ramp 8s --realtime --log-level warn ${PPROF:+--cpuprofile $PPROF.sim} > /tmp/spk4/sim.log 2>&1 &
speaker_pid=$!
sleep 12
for i in $(seq ${ROUNDS:-3}); do
  # PPROF=file: alertd's CPU profile over the first 3 s of each round (file.alertd.N); the agents' over the run (file.sim)
  [ -n "$PPROF" ] && (curl -s -o $PPROF.alertd.$i "http://127.0.0.1:16061/debug/pprof/profile?seconds=3" &)
  python3 - <<'PY' || true
import json, time, urllib.request
base="http://127.0.0.1:18085"; H={"Authorization":"Bearer admintoken-0123456789","Content-Type":"application/json"}
body={"event":"sandstorm","level":"red","status":"actual","area":{"codes":["653122"]},"channels":["speaker"],
 "text":{"zh":{"headline":"疏勒县沙尘暴红色预警","instruction":"请立即回到室内。"},"ug":{"headline":"قۇم بورىنى قىزىل ئاگاھلاندۇرۇشى","instruction":"دەرھال ئۆيگە كىرىڭ."}},
 "expires":time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time()+3600))}
t0=time.time()
a=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts",json.dumps(body).encode(),H)))
acc=time.time()-t0
while True:
    v=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"],headers=H)))
    p=v["progress"]["speaker"]; el=time.time()-t0
    if p["planned"]>0 and p["sent"]+p["delivered"]+p["failed"]==p["planned"]: break
    if el>30: break
    time.sleep(0.1)
time.sleep(max(0, 2.5-(time.time()-t0)))  # every report of the first 2.5 s is in
import datetime
lat=[]; cur=""; other={}
while True:
    q=base+"/api/v1/alerts/"+a["id"]+"/deliveries?channel=speaker&limit=1000"+("&cursor="+cur if cur else "")
    d=json.load(urllib.request.urlopen(urllib.request.Request(q,headers=H)))
    for r in d["deliveries"]:
        if r.get("detail")=="playing":
            u=datetime.datetime.fromisoformat(r["updated_at"].replace("Z","+00:00")).timestamp()
            lat.append((u-t0)*1000)
        else:
            other[r.get("detail","")]=other.get(r.get("detail",""),0)+1
    if len(d["deliveries"])<1000: break
    cur=d["next_cursor"]
lat.sort()
if not lat:
    print("no speaker reported playing; records: %s"%other); raise SystemExit(1)
pc=lambda q: lat[min(len(lat)-1,int(q*(len(lat)-1)))]
print("accepted %.0f ms; %d of %d speakers playing; issue call → playing: p50 %.0f ms, p99 %.0f ms, max %.0f ms%s"%(acc*1000,len(lat),p["planned"],pc(0.5),pc(0.99),lat[-1],
      ("; not playing: %s"%other) if other else ""))
urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"]+"/cancel",json.dumps({"reason":"benchmark round over"}).encode(),H)).read()
# The cancel stops the warning and plays its cancellation notice (in real time); the next warning, of the
# same level, would queue behind it: wait until every speaker has played the notice.
t1=time.time()
while time.time()-t1<60:
    v=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"],headers=H)))
    p=v["progress"]["speaker"]
    if v["version"]>1 and p["planned"]>0 and p["delivered"]+p["failed"]+p["expired"]+p["revoked"]==p["planned"]: break
    time.sleep(0.5)
PY
  sleep 5
done
[ -n "$KEEP" ] && sleep "$KEEP"; true
