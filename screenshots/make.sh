#!/usr/bin/env bash
# Renders redtop's README screenshots: runs `redtop --demo` in detached tmux
# sessions, captures the panes with colours, converts them to HTML with aha
# and photographs that with headless Chromium.
#
#   screenshots/make.sh          # full run, charts filled (WAIT=45 s)
#   WAIT=5 screenshots/make.sh   # quick run
#   ONLY=cluster screenshots/make.sh   # only the shots whose names match
#
# The cluster shot runs redtop on a private 3-master, 3-replica Redis Cluster
# (created with redis-cli --cluster create) under redis-benchmark --cluster.
#
# Needs: go, redis-server, tmux, aha, chromium, perl, DejaVu fonts.
set -euo pipefail

WAIT=${WAIT:-45}   # seconds the demo runs before the capture

# One terminal cell on the page. DejaVu Sans Mono at 16 px advances 9.63 px and
# its glyphs are 18.6 px tall: whole-pixel cells a hair wider keep every row on
# the same grid, a hair shorter let box-drawing lines overlap rather than gap.
FONT_PX=16 CELL_W=10 CELL_H=18
PAD_PX=12          # margin around the terminal

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

ONLY=${ONLY:-}     # a regular expression: only matching shots

for tool in go redis-server redis-cli redis-benchmark tmux aha chromium perl; do
  command -v "$tool" >/dev/null || {
    echo "make.sh: $tool not found (apt-get install -y tmux aha chromium redis-server)" >&2
    exit 1
  }
done
fc-list | grep -q 'DejaVu Sans Mono' ||
  { echo "make.sh: DejaVu Sans Mono not found (apt-get install -y fonts-dejavu-core)" >&2; exit 1; }

work=$(mktemp -d)
tm() { tmux -L redtop-shots -f /dev/null "$@"; }  # private server, no user config
cluster_pids=()
cleanup() {
  tm kill-server 2>/dev/null || true  # if interrupted: closing the panes stops the demos
  for pid in "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building redtop"
(cd "$repo" && go build -o "$work/redtop" .)

# name              cols rows  environment for redtop
shots=(
  "overview          100  30   -"
  "overview-80x24     80  24   -"
  "help              100  30   -"
  "overview-nocolor  100  30   NO_COLOR=1"
  "keys              100  30   -"
  "monitor           100  30   -"
  "bulk              100  30   -"
  "cluster           100  30   -"
)
if [[ -n $ONLY ]]; then
  kept=()
  for shot in "${shots[@]}"; do [[ ${shot%% *} =~ $ONLY ]] && kept+=("$shot"); done
  shots=("${kept[@]}")
fi

# A free port whose cluster bus port (port + 10000) is free too.
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 50000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}

# A private cluster for the cluster shot: six nodes on free ports.
start_cluster() {
  local ports=() port
  for i in {0..5}; do
    port=$(free_port)
    mkdir -p "$work/node$i"
    (cd "$work/node$i" && exec redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file nodes.conf --save '' --appendonly no --daemonize no \
      --logfile "$work/node$i/log" --maxmemory 64mb) &
    cluster_pids+=($!)
    ports+=("$port")
  done
  for i in "${!ports[@]}"; do
    for _ in {1..50}; do redis-cli -p "${ports[$i]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "${ports[$i]}" ping >/dev/null 2>&1 ||
      { echo "make.sh: cluster node on ${ports[$i]} did not start:" >&2; cat "$work/node$i/log" >&2; exit 1; }
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
  for _ in {1..100}; do
    redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1
  done
  sleep 2  # replicas link up
  cluster_port=${ports[0]}
  # A load for as long as the shots take, one client per master each: SETs
  # on 100k random keys, GETs on 150k (so about two thirds of them hit).
  redis-benchmark --cluster -p "$cluster_port" -c 3 -t set -r 100000 -n 100000000 -q >/dev/null 2>&1 &
  cluster_pids+=($!)
  redis-benchmark --cluster -p "$cluster_port" -c 3 -t get -r 150000 -n 100000000 -q >/dev/null 2>&1 &
  cluster_pids+=($!)
}

# The demos run side by side (each starts its own redis-server), so the whole
# run takes about WAIT seconds rather than four times that.
for shot in "${shots[@]}"; do
  read -r name cols rows env <<<"$shot"
  [[ $env == - ]] && env=
  args=--demo
  if [[ $name == cluster ]]; then
    start_cluster
    args="-c -p $cluster_port"
  fi
  tm new-session -d -s "$name" -x "$cols" -y "$rows" \
    "$env TERM=xterm-256color COLORTERM=truecolor $work/redtop $args"
done
has() { tm has-session -t "$1" 2>/dev/null; }

echo "waiting ${WAIT}s for the charts to fill"
sleep $((WAIT > 8 ? WAIT - 8 : 0))
# MONITOR runs for the last seconds (it starts only when asked: s, then y).
if has monitor; then
  tm send-keys -t monitor 5; sleep 0.5; tm send-keys -t monitor s; sleep 0.5; tm send-keys -t monitor y
fi
has keys && tm send-keys -t keys 2
has bulk && tm send-keys -t bulk 2
sleep 6
has monitor && tm send-keys -t monitor v
# The bulk dialog's preview of the session keys (nothing is deleted).
if has bulk; then
  tm send-keys -t bulk Down; sleep 0.3; tm send-keys -t bulk Down; sleep 0.3; tm send-keys -t bulk D; sleep 0.5
  tm send-keys -t bulk Enter
fi
has help && tm send-keys -t help '?'
# The cluster: the nodes table's cursor on the first replica.
if has cluster; then
  tm send-keys -t cluster n; sleep 0.3; tm send-keys -t cluster j; sleep 0.3; tm send-keys -t cluster j
fi
sleep 2  # let them redraw

# ANSI capture to an HTML page: aha turns SGR codes into spans, then perl puts
# each character in its own fixed-size cell (<i>), so text, box drawing and
# braille (which comes from the wider fallback font DejaVu Sans) share one grid.
# Box-drawing and block characters (class b) are stretched to the cell width
# so that horizontal lines and bars have no seams.
to_html() {
  cat <<EOF
<!doctype html><meta charset="utf-8"><style>
html, body { margin: 0; background: #0d1117; }
pre { margin: 0; padding: ${PAD_PX}px; color: #c9d1d9;
      font: ${FONT_PX}px/${CELL_H}px "DejaVu Sans Mono", "DejaVu Sans", monospace; }
i { font-style: normal; display: inline-block; vertical-align: top;
    width: ${CELL_W}px; height: ${CELL_H}px; }
i.b { transform: scaleX(1.05); transform-origin: left; }
</style><pre>
EOF
  aha --no-header | perl -CSD -pe '
    s{(<[^>]*>)|(&[^;]+;|[^<\n])}{
      $1 // (ord($2) >= 0x2500 && ord($2) <= 0x259F ? "<i class=b>$2</i>" : "<i>$2</i>")
    }ge'
  echo '</pre>'
}

for shot in "${shots[@]}"; do
  read -r name cols rows _ <<<"$shot"
  tm capture-pane -e -p -t "$name" >"$work/$name.ans" ||
    { echo "make.sh: redtop in session $name exited early" >&2; exit 1; }
  # Quit with q, so that the demo removes its redis-server and temp dir (a
  # killed session only sends SIGHUP, which leaves /tmp/redtop-redis-* behind).
  tm send-keys -t "$name" q
  for _ in {1..50}; do tm has-session -t "$name" 2>/dev/null || break; sleep 0.1; done
  tm kill-session -t "$name" 2>/dev/null || true
  to_html <"$work/$name.ans" >"$work/$name.html"

  # The window is exactly the terminal's cells plus the margin.
  size="$((cols * CELL_W + 2 * PAD_PX)),$((rows * CELL_H + 2 * PAD_PX))"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome" --hide-scrollbars \
    --window-size="$size" --screenshot="$here/$name.png" \
    "file://$work/$name.html" >/dev/null 2>&1
  echo "wrote screenshots/$name.png ($size)"
done
