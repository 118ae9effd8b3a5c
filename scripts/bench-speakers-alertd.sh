#!/usr/bin/env bash
# Issue call → every loudspeaker reports "playing", through a whole alertd (API → outbox relay → Asynq →
# plan → hub → simulated agents → receipts recorded), county-wide red warnings one after another.
# The agents play in real time (--realtime), so a record's "playing" report is still its latest when it is
# read 2.5 s after the issue call; each warning is then cancelled and its cancellation notice played out
# before the next. A record's time is the device's report time (to 10 ms).
# Needs $BIN/alertd, $BIN/alertctl, $BIN/speaker (go build -o /tmp/ ./cmd/alertd ./cmd/alertctl ./cmd/speaker)
# and python3. Loopback only.
# ROUNDS (3), SPEAKERS (5000), SEND_CHUNK (200), BATCH_SIZE (1000; loudspeakers get at least 20000) vary it;
# BIN (/tmp) holds the binaries, WORK (/tmp/spkbench) the data, PORT (18085) and PPROF_PORT (16061) are
# alertd's listeners; PPROF=file writes alertd profiles (file.alertd.N: CPU over the first 3 s of round N,
# file.alertd.N.allocs: allocations during round N) and the agents' (file.sim); KEEP=seconds leaves
# everything running afterwards. Each round also prints the platform's share from the hub's own
# timestamps (issue call → frame written to each loudspeaker's socket; log line "broadcast written").
# It stops only the processes it started, by PID (alertd stops its managed redis-server itself).
set -e
BIN=${BIN:-/tmp} WORK=${WORK:-/tmp/spkbench} PORT=${PORT:-18085} PPROF_PORT=${PPROF_PORT:-16061}
for p in $PORT $PPROF_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is in use: set PORT / PPROF_PORT" >&2; exit 1; fi
done
rm -rf "$WORK" && mkdir -p "$WORK/spk"
ALERTD_PID= SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill -INT "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  [ -n "$ALERTD_PID" ] && kill -TERM "$ALERTD_PID" 2>/dev/null && wait "$ALERTD_PID" 2>/dev/null
  true
}
trap cleanup EXIT
printf "policy:\n  approval_levels: []\noutbox: [sms, voice]\nsend_chunk: ${SEND_CHUNK:-200}\nbatch_size: ${BATCH_SIZE:-1000}\nrate_limits:\n  token_rps: 5000\n  token_burst: 5000\n" > "$WORK/alertd.yaml"
ALERTCAST_PPROF=127.0.0.1:$PPROF_PORT ALERTCAST_ADMIN_TOKEN=admintoken-0123456789 "$BIN/alertd" --config "$WORK/alertd.yaml" \
  --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/alertd.out" 2> "$WORK/alertd.err" &
ALERTD_PID=$!
for i in $(seq 100); do curl -sf localhost:$PORT/healthz >/dev/null && break; sleep 0.2; done
curl -sf localhost:$PORT/healthz >/dev/null || { echo "alertd did not come up; see $WORK/alertd.err" >&2; exit 1; }
export ALERTCAST_URL=http://127.0.0.1:$PORT ALERTCAST_TOKEN=admintoken-0123456789
cd $WORK/spk && "$BIN/alertctl" gen population --residents 1000 --speakers ${SPEAKERS:-5000} --seed 2 --out $WORK/spk >/dev/null
"$BIN/alertctl" speakers import $WORK/spk/speakers.csv
"$BIN/alertctl" speakers enroll --all --out $WORK/spk/creds.csv
PK=$(curl -s localhost:$PORT/api/v1/speakers/key | python3 -c "import json,sys;print(json.load(sys.stdin)['public_key'])")
printf "url: http://127.0.0.1:$PORT\npublic_key: $PK\ncache_dir: $WORK/spk/cache\nsink:\n  type: discard\n  realtime: false\n" > $WORK/spk/sim.yaml
"$BIN/speaker" --config $WORK/spk/sim.yaml --simulate ${SPEAKERS:-5000} --credentials $WORK/spk/creds.csv --ramp 8s --realtime --log-level warn ${PPROF:+--cpuprofile $PPROF.sim} > $WORK/spk/sim.log 2>&1 &
SIM_PID=$!
# Wait until every agent is connected (they ramp up over 8 s).
python3 - <<PY
import json, time, urllib.request
H={"Authorization":"Bearer admintoken-0123456789"}
t0=time.time(); n=0
while time.time()-t0 < 120:
    d=json.load(urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:$PORT/api/v1/speakers",headers=H)))
    n=sum(1 for s in d.get("status") or [] if s.get("online"))
    if n >= ${SPEAKERS:-5000}: break
    time.sleep(1)
print("%d speakers online after %.0f s; load average %s" % (n, time.time()-t0, open("/proc/loadavg").read().split()[0]))
PY
for i in $(seq ${ROUNDS:-3}); do
  # PPROF=file: alertd's CPU profile over the first 3 s of each round (file.alertd.N); the agents' over the run (file.sim)
  # and allocations over the same 3 s (file.alertd.N.allocs)
  [ -n "$PPROF" ] && (curl -s -o $PPROF.alertd.$i "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=3" &
                      curl -s -o $PPROF.alertd.$i.allocs "http://127.0.0.1:$PPROF_PORT/debug/pprof/allocs?seconds=3" &)
  BASE=http://127.0.0.1:$PORT ALERTD_ERR=$WORK/alertd.err ALERTD_PID=$ALERTD_PID SIM_PID=$SIM_PID REDIS_PID=$(pgrep -P "$ALERTD_PID" redis-server || true) python3 - <<'PY' || true
import json, os, time, urllib.request
base=os.environ["BASE"]; H={"Authorization":"Bearer admintoken-0123456789","Content-Type":"application/json"}
body={"event":"sandstorm","level":"red","status":"actual","area":{"codes":["653122"]},"channels":["speaker"],
 "text":{"zh":{"headline":"疏勒县沙尘暴红色预警","instruction":"请立即回到室内。"},"ug":{"headline":"قۇم بورىنى قىزىل ئاگاھلاندۇرۇشى","instruction":"دەرھال ئۆيگە كىرىڭ."}},
 "expires":time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time()+3600))}
def cpu(pid):  # user+system CPU seconds of a process (0 if gone)
    try: f=open("/proc/%s/stat"%pid).read().rsplit(")",1)[1].split()
    except (OSError, IndexError): return 0.0
    return (int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK")
pids={k:os.environ.get(k.upper()+"_PID","") for k in ("alertd","redis","sim")}
c0={k:cpu(v) for k,v in pids.items() if v}
t0=time.time()
a=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts",json.dumps(body).encode(),H)))
acc=time.time()-t0
# No polling meanwhile (it would cost alertd CPU): every report of the first 2.5 s is in by then.
time.sleep(max(0, 2.5-(time.time()-t0)))
c1={k:cpu(pids[k])-c0[k] for k in c0}
v=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"],headers=H)))
p=v["progress"]["speaker"]
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
print("CPU-s in the first 2.5 s: %s" % ", ".join("%s %.2f"%(k,c1[k]) for k in c1))
pc=lambda q: lat[min(len(lat)-1,int(q*(len(lat)-1)))]
if not lat:
    print("no speaker reported playing within 2.5 s; records: %s"%other)
else: print("load %s; accepted %.0f ms; %d of %d speakers playing; issue call → playing: p50 %.0f ms, p99 %.0f ms, max %.0f ms%s"%(open("/proc/loadavg").read().split()[0],acc*1000,len(lat),p["planned"],pc(0.5),pc(0.99),lat[-1],
      ("; not playing: %s"%other) if other else ""))
# The platform's share, from the hub's own timestamps: issue call → each
# loudspeaker's frame written to its socket (the devices' work excluded).
hub=[l for l in open(os.environ["ALERTD_ERR"], errors="replace") if "broadcast written" in l and "id=play:"+a["id"]+"/" in l]
# One line per broadcast: a batch of loudspeakers (5,000 at most) is one Send, one announcement.
for l in hub:
    f=dict(x.split("=",1) for x in l.split() if "=" in x)
    print("platform (hub timestamps): issue call → frame written to %s speakers: Send began %s ms, signed %s ms, first %s ms, p50 %s ms, p99 %s ms, last %s ms"%(
        f.get("devices"), f.get("send_ms"), f.get("signed_ms"), f.get("first_ms"), f.get("p50_ms"), f.get("p99_ms"), f.get("last_ms")))
if not hub: print("platform (hub timestamps): the warning's frames were not all written by the time the records were read")
urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"]+"/cancel",json.dumps({"reason":"benchmark round over"}).encode(),H)).read()
# The cancel stops the warning and plays its cancellation notice (in real time); the next warning, of the
# same level, would queue behind it: wait until every speaker has played the notice.
t1=time.time()
while True:
    v=json.load(urllib.request.urlopen(urllib.request.Request(base+"/api/v1/alerts/"+a["id"],headers=H)))
    p=v["progress"]["speaker"]
    if v["version"]>1 and p["planned"]>0 and p["delivered"]+p["failed"]+p["expired"]+p["revoked"]==p["planned"]: break
    if time.time()-t1>120:
        print("cancellation notice not played out everywhere after 120 s (%s): the next round queues behind it" % p); break
    time.sleep(1)
PY
  sleep 5
done
[ -n "$KEEP" ] && sleep "$KEEP"; true
