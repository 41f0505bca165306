#!/usr/bin/env bash
# `make demo`: a server, three simulated candidates looping the sample media, and the proctor's console.
# Quitting the console (q) stops the candidates, then the server, which finalises every recording; a summary
# follows. Without a terminal (a pipe, CI) the live `vigil status --watch` table stands in for the console,
# and Ctrl-C ends it.
set -uo pipefail
cd "$(dirname "$0")/.."

MEDIA=${VIGIL_MEDIA:-../shared/media}
DIR=${VIGIL_DEMO_DIR:-./recordings/demo}
LOGS="$DIR/logs"
SOCK="$DIR/vigil.sock"

if [ ! -d "$MEDIA/video" ]; then
  echo "demo: sample media not found at $MEDIA (set VIGIL_MEDIA)" >&2
  exit 2
fi
mkdir -p "$LOGS"

pids=()
server=""
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  echo
  echo "demo: stopping candidates..."
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$server" ]; then
    echo "demo: stopping the server (finalising recordings)..."
    kill -TERM "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  echo "demo: recordings:"
  for f in $(find "$DIR" -name session.json | sort); do
    d=$(dirname "$f")
    node -e 'const s=require(process.argv[1]);console.log(`  ${s.candidate_id.padEnd(14)} ${String(s.frames_written).padStart(5)} frames  ${s.audio_seconds.toFixed(1).padStart(6)} s audio  ended: ${s.ended}  ${process.argv[2]}/recording.mkv`)' "$(realpath "$f")" "$d"
  done
  echo "demo: server log: $LOGS/server.log (pretty: npx pino-pretty < $LOGS/server.log)"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# setsid keeps the terminal's Ctrl-C away from the server and candidates, so they stop in order, not all at once.
setsid bin/vigil serve --port 0 --record-dir "$DIR" --admin-socket "$SOCK" --log-file "$LOGS/server.log" &
server=$!

port=""
for _ in $(seq 1 100); do
  port=$(grep -o '"msg":"listening"' "$LOGS/server.log" >/dev/null 2>&1 && grep '"msg":"listening"' "$LOGS/server.log" | tail -1 | sed -E 's/.*"port":([0-9]+).*/\1/')
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { echo "demo: the server did not start; see $LOGS/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "demo: the server did not report its port" >&2; exit 1; }

start_candidate() {
  local id=$1 vid=$2 wav=$3 token
  # Each candidate gets its own token, as a proctor would hand them out before the exam.
  token=$(bin/vigil token issue --id "$id" --ttl 4h --secret-file "$DIR/vigil.secret") || exit 1
  setsid bin/vigil client --server "127.0.0.1:$port" --id "$id" --token "$token" --video "$MEDIA/video/$vid" --audio "$MEDIA/audio/$wav" --loop \
    >"$LOGS/$id.log" 2>&1 &
  pids+=($!)
}
start_candidate alice   candidate-ok.mp4        speech-16k-mono.wav
start_candidate bob     candidate-incidents.mp4 speech-silence-speech.wav
start_candidate charlie megamind-clip.mp4       speech-44k-stereo.wav

echo "demo: server on 127.0.0.1:$port, recording to $DIR; candidates alice, bob, charlie (logs in $LOGS)"
sleep 1
if [ -t 0 ] && [ -t 1 ] && [ -z "${VIGIL_DEMO_NO_CONSOLE:-}" ]; then
  bin/vigil console --admin-socket "$SOCK"
else
  bin/vigil status --admin-socket "$SOCK" --watch 1
fi
