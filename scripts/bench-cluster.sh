#!/usr/bin/env bash
# The cluster benchmark: votes/s through haproxy with 1, 2 and 3 livepoll nodes on this machine
# (scripts/cluster.sh: bundled broker + N nodes + haproxy), the CPU each process spends per vote,
# and how long a node started afterwards takes to rebuild identical results from the topics.
#
#   bash scripts/bench-cluster.sh
#
# Environment: BENCH_DURATION (20 s per run), BENCH_VOTERS (20000), BENCH_CONNECTIONS (256),
# BENCH_NODES ("1 2 3").
# Everything shares this machine's cores: the figures say how the pieces divide them, not what
# N machines would do.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${BENCH_DURATION:-20}"
VOTERS="${BENCH_VOTERS:-20000}"
CONNECTIONS="${BENCH_CONNECTIONS:-256}"
NODES="${BENCH_NODES:-1 2 3}"
TOKEN="bench-admin-token"

say() { printf '\nbench-cluster: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "bench-cluster: $1 is required" >&2; exit 1; }; }
need curl
need python3
need haproxy

say "building the release binary"
(cd "$ROOT" && cargo build --release --locked)
LP="$ROOT/target/release/livepoll"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/livepoll-bench-cluster.XXXXXX")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PUBLIC="$(free_port)"
KPORT="$(free_port)"
NODE0=$((20000 + RANDOM % 20000))
URL="http://127.0.0.1:$PUBLIC"
EXTRA_PID=""
cluster() {
  CLUSTER_DIR="$DIR" CLUSTER_PORT="$PUBLIC" CLUSTER_BIND=127.0.0.1 NODE_PORT="$NODE0" KAFKA_PORT="$KPORT" \
    LIVEPOLL_BIN="$LP" LIVEPOLL_PUBLIC_URL="$URL" LIVEPOLL_ADMIN_TOKEN="$TOKEN" \
    bash "$HERE/cluster.sh" "$@"
}
cleanup() {
  [ -n "$EXTRA_PID" ] && kill "$EXTRA_PID" 2>/dev/null || true
  [ -n "${DIR:-}" ] && cluster stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
us_per_vote() { python3 -c "print(f'{$1 / $(getconf CLK_TCK) * 1e6 / max(1, $2):.0f}')"; }
api() { curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }
results() { api "http://127.0.0.1:$1/api/polls/bench" | python3 -c 'import sys, json; r = json.load(sys.stdin)["results"]; print(r["voters"], r["counts"])'; }
health() { curl -fsS "http://127.0.0.1:$1/healthz" | python3 -c "import sys, json; print(json.load(sys.stdin)['$2'])"; }

SUMMARY="$WORK/summary"
: >"$SUMMARY"
for n in $NODES; do
  DIR="$WORK/cluster-$n"
  say "$n node(s): starting the broker, the nodes and haproxy"
  cluster start "$n" >/dev/null
  BROKER_PID="$(cat "$DIR/broker/kafka/broker.pid")"
  HAPROXY_PID="$(cat "$DIR/haproxy.pid")"
  api -X POST "http://127.0.0.1:$NODE0/api/polls" -d '{"id":"bench","question":"Benchmark","kind":"single","options":["a","b","c","d"]}' >/dev/null
  api -X POST "http://127.0.0.1:$NODE0/api/polls/bench/open" >/dev/null
  for i in $(seq 1 "$n"); do
    until api "http://127.0.0.1:$((NODE0 + i - 1))/api/polls/bench" 2>/dev/null | grep -q '"state":"open"'; do sleep 0.1; done
  done

  say "$n node(s): $VOTERS voters, $CONNECTIONS connections, ${DURATION}s through haproxy"
  LIVEPOLL_ADMIN_TOKEN="$TOKEN" "$LP" simulate --url "$URL" --poll bench --force --voters "$VOTERS" \
    --connections "$CONNECTIONS" --duration "$DURATION" >"$WORK/sim-$n.out" 2>"$WORK/sim-$n.err" &
  SIM_PID=$!
  until grep -q 'simulate: voting' "$WORK/sim-$n.err" || ! kill -0 "$SIM_PID" 2>/dev/null; do sleep 0.05; done
  b0="$(ticks "$BROKER_PID")"; h0="$(ticks "$HAPROXY_PID")"; g0="$(ticks "$SIM_PID")"
  declare -a n0=()
  for i in $(seq 1 "$n"); do n0[$i]="$(ticks "$(cat "$DIR/node$i.pid")")"; done
  g1="$g0"
  while kill -0 "$SIM_PID" 2>/dev/null; do g1="$(ticks "$SIM_PID" | grep -v '^0$' || echo "$g1")"; sleep 0.2; done
  wait "$SIM_PID" || { cat "$WORK/sim-$n.out" "$WORK/sim-$n.err" >&2; echo "bench-cluster: simulate failed" >&2; exit 1; }
  b1="$(ticks "$BROKER_PID")"; h1="$(ticks "$HAPROXY_PID")"
  cat "$WORK/sim-$n.out"
  rate="$(sed -n 's/^  votes\/s *//p' "$WORK/sim-$n.out")"
  sent="$(sed -n 's/^  accepted *\([0-9]*\).*/\1/p' "$WORK/sim-$n.out")"
  nodes_cpu=""
  for i in $(seq 1 "$n"); do
    t1="$(ticks "$(cat "$DIR/node$i.pid")")"
    nodes_cpu="$nodes_cpu node$i $(us_per_vote $((t1 - n0[i])) "$sent")"
  done
  printf '%s nodes: %s votes/s (%s accepted); CPU µs/vote: broker %s, haproxy %s, simulate %s,%s\n' \
    "$n" "$rate" "$sent" "$(us_per_vote $((b1 - b0)) "$sent")" "$(us_per_vote $((h1 - h0)) "$sent")" \
    "$(us_per_vote $((g1 - g0)) "$sent")" "$nodes_cpu" | tee -a "$SUMMARY"

  # Every node agrees (identical results once all applied the same votes).
  sleep 2
  first="$(results "$NODE0")"
  for i in $(seq 2 "$n"); do
    [ "$(results "$((NODE0 + i - 1))")" = "$first" ] || { echo "bench-cluster: node$i disagrees" >&2; exit 1; }
  done

  if [ "$n" = "$(echo "$NODES" | awk '{print $NF}')" ]; then
    total="$(health "$NODE0" votes_applied)"
    say "a new node rebuilding $total votes from the topics"
    port="$(free_port)"
    start="$(python3 -c 'import time; print(time.time())')"
    "$LP" serve --bind "127.0.0.1:$port" --brokers "127.0.0.1:$KPORT" --data-dir "$WORK/late-node" \
      --secret-file "$DIR/secret.key" --admin-token "$TOKEN" --node-id late >"$WORK/late.log" 2>&1 &
    EXTRA_PID=$!
    until [ "$(health "$port" votes_applied 2>/dev/null || echo 0)" -ge "$total" ] 2>/dev/null; do sleep 0.1; done
    secs="$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")"
    [ "$(results "$port")" = "$first" ] || { echo "bench-cluster: the late node disagrees" >&2; exit 1; }
    printf 'a node started after %s votes served identical results after %s s (start, catch-up and rebuild)\n' \
      "$total" "$secs" | tee -a "$SUMMARY"
    kill "$EXTRA_PID"; wait "$EXTRA_PID" 2>/dev/null || true; EXTRA_PID=""
  fi
  cluster stop >/dev/null 2>&1
done

say "summary ($(nproc) cores shared by the broker, the nodes, haproxy and the load generator)"
cat "$SUMMARY"
