#!/usr/bin/env bash
# The cluster on one machine: nats-server (JetStream), three `vigil serve --nats` nodes sharing one token secret,
# HAProxy in front of them (TCP, leastconn), six simulated candidates connecting through HAProxy, and the console
# attached to NATS (every candidate of every node). Kill a node (its pid is printed) to watch its candidates
# resume on the others. Quitting the console (q) stops everything and prints where each session's parts are.
# Without a terminal `vigil status --nats` repeats every 2 s instead, and Ctrl-C ends it.
set -uo pipefail
cd "$(dirname "$0")/.."

MEDIA=${VIGIL_MEDIA:-../shared/media}
DIR=${VIGIL_DEMO_DIR:-./recordings/demo-cluster}
LOGS="$DIR/logs"
NATS_SERVER=${VIGIL_NATS_SERVER:-nats-server}
HAPROXY=${VIGIL_HAPROXY:-haproxy}

for tool in "$NATS_SERVER" "$HAPROXY"; do
  command -v "$tool" >/dev/null || { echo "demo-cluster: $tool not found (make installs nats-server and haproxy)" >&2; exit 2; }
done
if [ ! -d "$MEDIA/video" ]; then
  echo "demo-cluster: sample media not found at $MEDIA (set VIGIL_MEDIA)" >&2
  exit 2
fi
mkdir -p "$LOGS"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# Waits for a line in a log; prints the first match of the sed expression on it.
wait_log() {
  local file=$1 pattern=$2 expr=$3 pid=$4 v=""
  for _ in $(seq 1 150); do
    v=$(grep -E "$pattern" "$file" 2>/dev/null | head -1 | sed -E "$expr")
    [ -n "$v" ] && { echo "$v"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

pids=()
nodes=()
nats=""
lb=""
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  echo
  echo "demo-cluster: stopping candidates..."
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  echo "demo-cluster: stopping the nodes (finalising recordings)..."
  for p in "${nodes[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${nodes[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$lb" ] && kill -TERM "$lb" 2>/dev/null && wait "$lb" 2>/dev/null
  [ -n "$nats" ] && kill -TERM "$nats" 2>/dev/null && wait "$nats" 2>/dev/null
  echo "demo-cluster: recordings (a session that moved has a part on each node it visited):"
  for f in $(find "$DIR" -name session.json | sort); do
    node -e 'const s=require(process.argv[1]);const parts=s.parts?` part ${s.part} of ${s.parts.map((p)=>p.node).join(",")}`:"";console.log(`  ${s.candidate_id.padEnd(6)} ${s.session_id}${parts.padEnd(28)} ${String(s.frames_written).padStart(5)} frames  ended: ${s.ended}  ${process.argv[2]}`)' "$(realpath "$f")" "$(dirname "$f")"
  done
  echo "demo-cluster: logs in $LOGS"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# setsid keeps the terminal's Ctrl-C away from the services, so they stop in order, not all at once.
setsid "$NATS_SERVER" -js -a 127.0.0.1 -p -1 -sd "$DIR/nats" >"$LOGS/nats.log" 2>&1 &
nats=$!
nats_port=$(wait_log "$LOGS/nats.log" 'Listening for client connections on' 's/.*:([0-9]+)$/\1/' "$nats") || { echo "demo-cluster: nats-server did not start; see $LOGS/nats.log" >&2; exit 1; }
NATS_URL="nats://127.0.0.1:$nats_port"

# One secret for the cluster: every node checks the same tokens.
SECRET="$DIR/cluster.secret"
[ -f "$SECRET" ] || node -e 'require("fs").writeFileSync(process.argv[1], require("crypto").randomBytes(32).toString("base64url") + "\n", { mode: 0o600 })' "$SECRET"

servers=""
for name in node-a node-b node-c; do
  # VIGIL_DEMO_SERVE_ARGS: extra serve flags (the test passes --detector none to spare its CPU).
  # shellcheck disable=SC2086
  setsid bin/vigil serve --port 0 --record-dir "$DIR/$name" --nats "$NATS_URL" --node "$name" --secret-file "$SECRET" \
    --log-file "$LOGS/$name.log" ${VIGIL_DEMO_SERVE_ARGS:-} &
  nodes+=($!)
  port=$(wait_log "$LOGS/$name.log" '"msg":"listening"' 's/.*"port":([0-9]+).*/\1/' "$!") || { echo "demo-cluster: $name did not start; see $LOGS/$name.log" >&2; exit 1; }
  servers+="    server $name 127.0.0.1:$port"$'\n'
  echo "demo-cluster: $name (pid $!) on 127.0.0.1:$port, recording to $DIR/$name"
done

lb_port=$(free_port)
# deploy/haproxy.cfg with this machine's ports.
sed -e "s/^    bind :7443/    bind 127.0.0.1:$lb_port/" -e '/^    server node-/d' deploy/haproxy.cfg >"$DIR/haproxy.cfg"
printf '%s' "$servers" >>"$DIR/haproxy.cfg"
setsid "$HAPROXY" -f "$DIR/haproxy.cfg" -db >"$LOGS/haproxy.log" 2>&1 &
lb=$!
for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$lb_port") 2>/dev/null && break; sleep 0.1; done
kill -0 "$lb" 2>/dev/null || { echo "demo-cluster: haproxy did not start; see $LOGS/haproxy.log" >&2; exit 1; }

start_candidate() {
  local id=$1 vid=$2 wav=$3 token
  token=$(bin/vigil token issue --id "$id" --ttl 4h --secret-file "$SECRET") || exit 1
  setsid bin/vigil client --server "127.0.0.1:$lb_port" --id "$id" --token "$token" --video "$MEDIA/video/$vid" --audio "$MEDIA/audio/$wav" \
    --loop --width 320 --height 240 --fps 10 >"$LOGS/$id.log" 2>&1 &
  pids+=($!)
}
start_candidate alice   candidate-ok.mp4        speech-16k-mono.wav
start_candidate bob     candidate-incidents.mp4 speech-silence-speech.wav
start_candidate charlie megamind-clip.mp4       speech-44k-stereo.wav
start_candidate dana    candidate-ok.mp4        silence-10s.wav
start_candidate emil    megamind-clip.mp4       speech-16k-mono.wav
start_candidate fay     candidate-incidents.mp4 silence-10s.wav

echo "demo-cluster: NATS at $NATS_URL, HAProxy at 127.0.0.1:$lb_port; candidates alice..fay connect through it"
echo "demo-cluster: try \`kill -9 ${nodes[0]}\` (node-a) in another terminal: its candidates resume on node-b and node-c"
sleep 1
if [ -t 0 ] && [ -t 1 ] && [ -z "${VIGIL_DEMO_NO_CONSOLE:-}" ]; then
  bin/vigil console --nats "$NATS_URL"
else
  while true; do
    bin/vigil status --nats "$NATS_URL"
    echo
    sleep 2
  done
fi
