#!/usr/bin/env bash
# livepoll's benchmark: one run on this machine, everything on one box (bundled broker, serve,
# load generator), each figure next to a baseline measured in the same run.
#
#   bash scripts/bench.sh [--broker tansu|nisshi]
#
#   (a) raw Kafka producer rate (librdkafka, livepoll's own acks=all settings, same record size)
#   (a2) the same with only as many records in flight as (b) has HTTP clients
#   (b) livepoll HTTP votes/s end to end, as fast as possible for BENCH_DURATION s
#   (c) ack and vote-to-screen latency at a fixed BENCH_RATE votes/s, BENCH_C_RUNS runs
#   (d) serve's peak RSS with BENCH_STREAMS open SSE streams after (b)'s BENCH_VOTERS voters
#       (run before (c): each simulate run brings new voters, and serve keeps a ballot per voter)
#   (e) rebuilding the tallies from Kafka: the votes topic filled to BENCH_REBUILD records (tally
#       database deleted); in records/s, since (b) and (c) packed many ballots per record
#   (f) raw Kafka consumer rate over the same topic (baseline for e)
# (a) and (a2) send one ballot per record, as a plain Kafka pipeline would; serve packs the
# ballots that arrive while a partition's previous record is in flight (src/packer.rs).
# and where the CPU goes per vote, which is what bounds (b) on a 2-core machine.
#
# Environment: BENCH_DURATION (30), BENCH_VOTERS (100000), BENCH_RATE (10000),
# BENCH_STREAMS (5000), BENCH_REBUILD (1000000), BENCH_CONNECTIONS (512), BENCH_C_RUNS (3),
# BENCH_PARTITIONS (3, livepoll's default for the votes topic),
# BENCH_BROKER (tansu; the bundled broker, as LIVEPOLL_BROKER for scripts/kafka.sh; --broker wins),
# BENCH_BINARY (a livepoll binary to measure instead of building target/release/livepoll, e.g.
# an older build kept to compare with in the same session).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
usage() {
  cat <<USAGE
usage: bash scripts/bench.sh [--broker tansu|nisshi]

  --broker NAME   the bundled broker to measure against: tansu (default) or nisshi
                  (same as BENCH_BROKER=NAME; passed to scripts/kafka.sh as LIVEPOLL_BROKER)

Environment: BENCH_BINARY=/path/to/livepoll measures that binary instead of building the
release binary; BENCH_DURATION, BENCH_VOTERS, BENCH_RATE, BENCH_STREAMS, BENCH_REBUILD,
BENCH_CONNECTIONS, BENCH_PARTITIONS, BENCH_C_RUNS tune the run (see the top of this script).
USAGE
}
BROKER="${BENCH_BROKER:-tansu}"
while [ $# -gt 0 ]; do
  case "$1" in
    --broker)
      [ $# -ge 2 ] || { usage >&2; exit 2; }
      BROKER="$2"
      shift 2
      ;;
    --broker=*) BROKER="${1#--broker=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$BROKER" in
  tansu | nisshi) ;;
  *) echo "bench: unknown broker '$BROKER': use tansu or nisshi" >&2; exit 2 ;;
esac
export LIVEPOLL_BROKER="$BROKER"
DURATION="${BENCH_DURATION:-30}"
VOTERS="${BENCH_VOTERS:-100000}"
RATE="${BENCH_RATE:-10000}"
C_RUNS="${BENCH_C_RUNS:-3}"
STREAMS="${BENCH_STREAMS:-5000}"
REBUILD="${BENCH_REBUILD:-1000000}"
CONNECTIONS="${BENCH_CONNECTIONS:-512}"
PARTITIONS="${BENCH_PARTITIONS:-3}"
TOKEN="bench-admin-token"

say() { printf '\nbench: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is required" >&2; exit 1; }; }
need curl
need python3

bash "$HERE/setup.sh"
if [ -n "${BENCH_BINARY:-}" ]; then
  [ -x "$BENCH_BINARY" ] || { echo "bench: BENCH_BINARY=$BENCH_BINARY is not an executable" >&2; exit 1; }
  LP="$(cd "$(dirname "$BENCH_BINARY")" && pwd)/$(basename "$BENCH_BINARY")"
  say "measuring $LP (BENCH_BINARY; not building)"
  # Which commit it was built from is not recorded in it: name the checkout it sits in, if any.
  LP_FROM="BENCH_BINARY, modified $(date -u -r "$LP" +%Y-%m-%dT%H:%MZ)"
  if describe="$(git -C "$(dirname "$LP")" describe --always --dirty --tags 2>/dev/null)"; then
    LP_FROM="$LP_FROM, in a checkout at $describe"
  fi
else
  say "building the release binary"
  (cd "$ROOT" && cargo build --release --locked)
  LP="$ROOT/target/release/livepoll"
  LP_FROM="built from $(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo 'an unknown commit')"
fi

# 5,000 streams need 5,000 sockets in serve and in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((STREAMS + 1000)) ] ||
  { echo "bench: open-file limit $(ulimit -n) is too low for $STREAMS streams" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/livepoll-bench.XXXXXX")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT="$(free_port)"
HPORT="$(free_port)"
BROKERS="127.0.0.1:$KPORT"
URL="http://127.0.0.1:$HPORT"
SERVE_PID=""
SSE_PID=""
cleanup() {
  [ -n "$SSE_PID" ] && kill "$SSE_PID" 2>/dev/null || true
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  LIVEPOLL_DATA_DIR="$WORK/broker" KAFKA_PORT="$KPORT" bash "$HERE/kafka.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# CPU time (clock ticks) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz() { getconf CLK_TCK; }
# value of key=value in a file
val() { sed -n "s/^$1=//p" "$2" | tail -n 1; }

start_serve() {
  "$LP" serve --bind "127.0.0.1:$HPORT" --brokers "$BROKERS" --data-dir "$WORK/serve" \
    --admin-token "$TOKEN" --vote-partitions "$PARTITIONS" >"$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
}
wait_healthy() {
  local i=0
  until curl -fsS "$URL/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 600 ] || { cat "$WORK/serve.log" >&2; echo "bench: serve did not become healthy" >&2; exit 1; }
    sleep 0.1
  done
}
stop_serve() { kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""; }
api() { curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }
applied() { curl -fsS "$URL/healthz" 2>/dev/null | sed -n 's/.*"votes_applied":\([0-9]*\).*/\1/p' | grep . || echo 0; }
results() { api "$URL/api/polls/bench" | python3 -c 'import sys, json; r = json.load(sys.stdin)["results"]; print(r["voters"], r["counts"])'; }

say "starting the bundled broker on $BROKERS"
LIVEPOLL_DATA_DIR="$WORK/broker" KAFKA_PORT="$KPORT" bash "$HERE/kafka.sh" start
BROKER_PID="$(cat "$WORK/broker/kafka/broker.pid")"
# e.g. tansu-0.6.0, nisshi-0.8.1 (apache-kafka with KAFKA_HOME), as the running broker reports it
ENGINE="$(LIVEPOLL_DATA_DIR="$WORK/broker" KAFKA_PORT="$KPORT" bash "$HERE/kafka.sh" status |
  sed -n 's/.* engine=\([^ ]*\).*/\1/p')"
case "$ENGINE" in
  tansu-*) ENGINE_TITLE="Tansu ${ENGINE#tansu-}" ;;
  nisshi-*) ENGINE_TITLE="Nisshi ${ENGINE#nisshi-}" ;;
  *) ENGINE_TITLE="${ENGINE:-$BROKER}" ;;
esac

say "(a) raw producer baseline: 1,000,000 vote records, livepoll's producer settings"
"$LP" bench produce --brokers "$BROKERS" --topic bench.raw --partitions "$PARTITIONS" \
  --messages 1000000 >"$WORK/a.out"
A_RATE="$(val produce_rate "$WORK/a.out")"
RECORD_BYTES="$(val record_bytes "$WORK/a.out")"

say "(a2) the same producer, but at most $CONNECTIONS records in flight, as $CONNECTIONS HTTP clients would have"
t0="$(ticks "$BROKER_PID")"
"$LP" bench produce --brokers "$BROKERS" --topic bench.raw2 --partitions "$PARTITIONS" \
  --messages 300000 --in-flight "$CONNECTIONS" >"$WORK/a2.out"
t1="$(ticks "$BROKER_PID")"
A2_RATE="$(val produce_rate "$WORK/a2.out")"
A2_BROKER="$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / 300000:.0f}')")"

say "starting livepoll serve on $URL"
start_serve
wait_healthy
# The first poll of a fresh topic set: its created event is offset 0, so its uid is 0.
api -X POST "$URL/api/polls" -d '{"id":"bench","question":"Benchmark","kind":"single","options":["a","b","c","d"]}' >/dev/null
api -X POST "$URL/api/polls/bench/open" >/dev/null

cpu_us() { python3 -c "print(f'{$1 / $(hz) * 1e6 / max(1, $2):.0f}')"; }
# Runs `livepoll simulate ARGS…` with its output in $WORK/NAME.out (.err), and sets CPU_BROKER,
# CPU_SERVE and CPU_GEN to each process's CPU per accepted vote, counted from when voting starts
# (after the sessions are made) until simulate ends.
measured_simulate() {
  local name="$1" out="$WORK/$1.out" err="$WORK/$1.err" pid t0 s0 g0 g1 t1 s1 sent
  shift
  LIVEPOLL_ADMIN_TOKEN="$TOKEN" "$LP" simulate --url "$URL" --poll bench --force --voters "$VOTERS" \
    --connections "$CONNECTIONS" "$@" >"$out" 2>"$err" &
  pid=$!
  until grep -q 'simulate: voting' "$err" || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  t0="$(ticks "$BROKER_PID")"; s0="$(ticks "$SERVE_PID")"; g0="$(ticks "$pid" 2>/dev/null || echo 0)"
  g1="$g0"
  while kill -0 "$pid" 2>/dev/null; do g1="$(ticks "$pid" 2>/dev/null || echo "$g1")"; sleep 0.2; done
  wait "$pid" || { cat "$out" "$err" >&2; echo "bench: simulate failed" >&2; exit 1; }
  t1="$(ticks "$BROKER_PID")"; s1="$(ticks "$SERVE_PID")"
  cat "$out"
  sent="$(sed -n 's/^  accepted *\([0-9]*\).*/\1/p' "$out")"
  CPU_BROKER="$(cpu_us $((t1 - t0)) "$sent")"
  CPU_SERVE="$(cpu_us $((s1 - s0)) "$sent")"
  CPU_GEN="$(cpu_us $((g1 - g0)) "$sent")"
}

say "(b) HTTP votes end to end, as fast as possible: $VOTERS voters, $CONNECTIONS connections, ${DURATION}s"
measured_simulate b --duration "$DURATION"
B_RATE="$(sed -n 's/^  votes\/s *//p' "$WORK/b.out")"
B_SENT="$(sed -n 's/^  accepted *\([0-9]*\).*/\1/p' "$WORK/b.out")"
B_CPU_BROKER="$CPU_BROKER" B_CPU_SERVE="$CPU_SERVE" B_CPU_GEN="$CPU_GEN"

say "(d) memory: $STREAMS open SSE streams on a server that has seen $VOTERS voters"
"$LP" bench sse --url "$URL" --streams "$STREAMS" --seconds 40 >"$WORK/d.out" 2>/dev/null &
SSE_PID=$!
i=0
until grep -q '^sse_open=' "$WORK/d.out"; do
  i=$((i + 1)); [ $i -lt 300 ] || { echo "bench: the SSE streams did not all open" >&2; break; }
  sleep 0.1
done
# votes while the streams are open, so every stream is sent results
LIVEPOLL_ADMIN_TOKEN="$TOKEN" "$LP" simulate --url "$URL" --poll bench --force --voters 20000 \
  --connections 256 --rate 2000 --duration 10 >"$WORK/d-sim.out" 2>/dev/null
D_OPEN="$(val sse_open "$WORK/d.out")"
D_RSS="$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVE_PID/status")"
kill "$SSE_PID" 2>/dev/null || true; wait "$SSE_PID" 2>/dev/null || true; SSE_PID=""

say "(c) latency at a fixed $RATE votes/s: $C_RUNS runs of 20 s"
# Several runs, because one 20 s run's p99 swings with whatever else the (shared) machine does;
# the summary gives every run's p99 and the figures of the run with the median ack p99.
# CPU per vote at this rate too (smaller batches than at full speed cost more per vote).
C_ACKS=""
for n in $(seq 1 "$C_RUNS"); do
  measured_simulate "c$n" --rate "$RATE" --duration 20
  p99="$(sed -n 's/^  ack latency ms: .*p99 \([0-9.]*\).*/\1/p' "$WORK/c$n.out")"
  C_ACKS="$C_ACKS$p99 "
  echo "$p99 $n $CPU_BROKER $CPU_SERVE $CPU_GEN" >>"$WORK/c.runs"
done
read -r _ C_MEDIAN C_CPU_BROKER C_CPU_SERVE C_CPU_GEN < <(sort -n "$WORK/c.runs" | sed -n "$(((C_RUNS + 1) / 2))p")
C_OUT="$WORK/c$C_MEDIAN.out"
C_RATE="$(sed -n 's/^  votes\/s *//p' "$C_OUT")"
C_ACK50="$(sed -n 's/^  ack latency ms: p50 \([0-9.]*\).*/\1/p' "$C_OUT")"
C_ACK="$(sed -n 's/^  ack latency ms: .*p99 \([0-9.]*\).*/\1/p' "$C_OUT")"
C_SCREEN50="$(sed -n 's/^  vote-to-screen ms: p50 \([0-9.]*\).*/\1/p' "$C_OUT")"
C_SCREEN="$(sed -n 's/^  vote-to-screen ms: .*p99 \([0-9.]*\).*/\1/p' "$C_OUT")"
C_SCREENS="$(for n in $(seq 1 "$C_RUNS"); do sed -n 's/^  vote-to-screen ms: .*p99 \([0-9.]*\).*/\1/p' "$WORK/c$n.out"; done | tr '\n' ' ')"

say "(e) rebuild: filling the votes topic to $REBUILD records (one ballot each), then deleting the tally database"
"$LP" bench produce --brokers "$BROKERS" --topic livepoll.votes --fill-to "$REBUILD" \
  --poll bench --uid 0 --round 1 --voters "$VOTERS" >"$WORK/fill.out"
i=0
until [ "$(applied)" -ge "$REBUILD" ]; do i=$((i + 1)); [ $i -lt 1200 ] || break; sleep 0.5; done
TOTAL="$(applied)"
BEFORE="$(results)"
stop_serve
rm -f "$WORK/serve/tallies.redb"
start_serve
start_ns="$(date +%s%N)"
wait_healthy
until [ "$(applied)" -ge "$TOTAL" ]; do sleep 0.05; done
end_ns="$(date +%s%N)"
AFTER="$(results)"
E_SECS="$(python3 -c "print(f'{($end_ns - $start_ns) / 1e9:.2f}')")"
E_RATE="$(python3 -c "print(f'{$TOTAL / (($end_ns - $start_ns) / 1e9):.0f}')")"
[ "$BEFORE" = "$AFTER" ] && E_SAME="identical" || E_SAME="DIFFERENT: before $BEFORE, after $AFTER"
stop_serve

say "(f) raw consumer baseline: reading the same topic with livepoll's consumer settings"
"$LP" bench consume --brokers "$BROKERS" --topic livepoll.votes >"$WORK/f.out"
F_RATE="$(val consume_rate "$WORK/f.out")"
# The rebuild read every record of the topic (ballots packed by (b) and (c), single ones from
# the fill): its rate in records is what compares with the raw consumer's.
E_RECORDS="$(val consumed "$WORK/f.out")"
E_REC_RATE="$(python3 -c "print(f'{$E_RECORDS / (($end_ns - $start_ns) / 1e9):.0f}')")"

ratio() { python3 -c "print(f'{$1 / max(1, $2):.2f}')"; }
cat <<EOF

livepoll benchmark — $(nproc) cores, $(date -u +%Y-%m-%d), bundled $ENGINE_TITLE broker, everything on one machine
  binary                              $LP ($LP_FROM)
  record size                         $RECORD_BYTES bytes, votes topic with $PARTITIONS partitions
  (a) raw producer baseline           $A_RATE records/s
  (a2) raw, capped in flight          $A2_RATE records/s with $CONNECTIONS in flight, broker CPU $A2_BROKER µs per record
  (b) HTTP votes end to end           $B_RATE votes/s over ${DURATION}s ($B_SENT accepted)  ratio (b)/(a) = $(ratio "$B_RATE" "$A_RATE"), (b)/(a2) = $(ratio "$B_RATE" "$A2_RATE")
      CPU per vote                    broker $B_CPU_BROKER µs, serve $B_CPU_SERVE µs, load generator $B_CPU_GEN µs
      (2 cores give 2,000,000 µs of CPU per second: that sum bounds (b))
  (c) at a fixed rate                 $RATE votes/s asked, achieved $C_RATE votes/s, ack p99 $C_ACK ms, vote-to-screen p99 $C_SCREEN ms (median run of $C_RUNS)
      every run's p99                 ack ${C_ACKS% } ms; vote-to-screen ${C_SCREENS% } ms
      medians                         ack p50 $C_ACK50 ms, vote-to-screen p50 $C_SCREEN50 ms
      CPU per vote                    broker $C_CPU_BROKER µs, serve $C_CPU_SERVE µs, load generator $C_CPU_GEN µs
  (d) serve peak RSS                  $D_RSS MB with ${D_OPEN:-0} SSE streams open after $VOTERS voters
  (e) rebuild from Kafka              $TOTAL ballots in $E_RECORDS records in ${E_SECS}s = $E_REC_RATE records/s ($E_RATE ballots/s); tallies $E_SAME
  (f) raw consumer baseline           $F_RATE records/s  ratio (e)/(f) = $(ratio "$E_REC_RATE" "$F_RATE") (records/s)
  tally checks (simulate)             $(grep -h 'tally check' "$WORK/b.out" "$WORK"/c[0-9]*.out | sed 's/^ *tally check: //' | cut -c1-2 | tr '\n' ' ')
EOF
