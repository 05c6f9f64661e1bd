#!/usr/bin/env bash
# The stadium benchmark: phones holding the attendee page open on one node while they vote.
# One run on this machine, everything on one box (bundled broker, serve, load generator).
#
#   bash scripts/bench-fanout.sh
#
# For each run "PHONES:RATE" of FANOUT_RUNS: PHONES attendee event streams, each with its own
# voter token, then a FANOUT_DURATION s burst of RATE votes/s by those phones
# (`livepoll bench fanout`, src/tools/fanout.rs). Printed per run: phones connected and how long
# they took, votes asked/accepted, ack p99, per-phone staleness after the last 202 (p50/p99/max),
# updates per phone per second, serve's RSS, and each process's CPU during the burst.
# Then the idle figure: FANOUT_IDLE_PHONES phones connected, no votes, for FANOUT_IDLE_SECS s:
# CPU of serve and of the broker in % of one core; and right after, a short burst at 20 votes/s
# whose staleness is the vote-to-screen latency after a quiet spell.
#
# Environment: FANOUT_RUNS ("0:2000 2000:2000 10000:2000 18000:2000 10000:5000"),
# FANOUT_DURATION (10), FANOUT_IDLE_PHONES (1000), FANOUT_IDLE_SECS (60), FANOUT_SOURCES (8),
# BENCH_BINARY (a livepoll binary to measure instead of building target/release/livepoll).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RUNS="${FANOUT_RUNS:-0:2000 2000:2000 10000:2000 18000:2000 10000:5000}"
DURATION="${FANOUT_DURATION:-10}"
IDLE_PHONES="${FANOUT_IDLE_PHONES:-1000}"
IDLE_SECS="${FANOUT_IDLE_SECS:-60}"
SOURCES="${FANOUT_SOURCES:-8}"
TOKEN="bench-admin-token"

say() { printf '\nbench-fanout: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "bench-fanout: $1 is required" >&2; exit 1; }; }
need curl
need python3

bash "$HERE/setup.sh"
if [ -n "${BENCH_BINARY:-}" ]; then
  [ -x "$BENCH_BINARY" ] || { echo "bench-fanout: BENCH_BINARY=$BENCH_BINARY is not an executable" >&2; exit 1; }
  LP="$BENCH_BINARY"
else
  say "building the release binary"
  (cd "$ROOT" && cargo build --release --locked)
  LP="$ROOT/target/release/livepoll"
fi

# Each phone is a socket in serve and one in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "open-file limit for serve and the load generator: $(ulimit -n)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/livepoll-fanout.XXXXXX")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT="$(free_port)"
HPORT="$(free_port)"
BROKERS="127.0.0.1:$KPORT"
URL="http://127.0.0.1:$HPORT"
SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  LIVEPOLL_DATA_DIR="$WORK/broker" KAFKA_PORT="$KPORT" bash "$HERE/kafka.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
val() { sed -n "s/^$1=//p" "$2" | tail -n 1; }
pct_core() { python3 -c "print(f'{$1 / $(getconf CLK_TCK) / $2 * 100:.1f}')"; }
api() { curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }

say "starting the bundled broker on $BROKERS"
LIVEPOLL_DATA_DIR="$WORK/broker" KAFKA_PORT="$KPORT" bash "$HERE/kafka.sh" start
BROKER_PID="$(cat "$WORK/broker/kafka/broker.pid")"
say "starting livepoll serve on $URL"
# The phones come from 127.0.0.1 … 127.0.0.K: only 127.0.0.1 itself is exempt from the
# per-address connection cap (512), so lift it for the benchmark.
"$LP" serve --bind "127.0.0.1:$HPORT" --brokers "$BROKERS" --data-dir "$WORK/serve" \
  --admin-token "$TOKEN" --max-connections-per-client 0 >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
i=0
until curl -fsS "$URL/healthz" >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 600 ] || { cat "$WORK/serve.log" >&2; echo "bench-fanout: serve did not become healthy" >&2; exit 1; }
  sleep 0.1
done

# A new single-choice poll, open and on air, for each run.
N_POLL=0
new_poll() {
  N_POLL=$((N_POLL + 1))
  POLL="fan-$N_POLL"
  api -X POST "$URL/api/polls" -d "{\"id\":\"$POLL\",\"question\":\"Fan-out $N_POLL\",\"kind\":\"single\",\"options\":[\"a\",\"b\",\"c\",\"d\"]}" >/dev/null
  api -X POST "$URL/api/polls/$POLL/present" >/dev/null
}

# Runs `livepoll bench fanout` with PHONES and RATE; output in $WORK/NAME.out. Measures each
# process's CPU from the start of the burst to the end of the run, and serve's RSS at the end of
# the burst (the phones still connected).
fanout() {
  local name="$1" phones="$2" rate="$3" duration="$4" out="$WORK/$1.out" err="$WORK/$1.err" pid
  new_poll
  LIVEPOLL_ADMIN_TOKEN="$TOKEN" "$LP" bench fanout --url "$URL" --poll "$POLL" \
    --phones "$phones" --rate "$rate" --duration "$duration" --sources "$SOURCES" >"$out" 2>"$err" &
  pid=$!
  until grep -q 'bench fanout: voting' "$err" || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  local t0 s0 g0 g1 rss=0
  t0="$(ticks "$BROKER_PID")"; s0="$(ticks "$SERVE_PID")"; g0="$(ticks "$pid" 2>/dev/null || echo 0)"; g1="$g0"
  while kill -0 "$pid" 2>/dev/null; do
    g1="$(ticks "$pid" 2>/dev/null || echo "$g1")"
    r="$(rss_mb "$SERVE_PID")"; [ "$r" -gt "$rss" ] && rss="$r"
    sleep 0.2
  done
  wait "$pid" || { cat "$out" "$err" >&2; echo "bench-fanout: the $name run failed its check" >&2; }
  local secs accepted
  secs="$(python3 -c "print($duration + 1)")"
  accepted="$(val votes_accepted "$out")"
  echo "serve_rss_mb=$rss" >>"$out"
  echo "cpu_broker_us_per_vote=$(python3 -c "print(f'{($(ticks "$BROKER_PID") - $t0) / $(getconf CLK_TCK) * 1e6 / max(1, ${accepted:-0}):.0f}')")" >>"$out"
  echo "cpu_serve_us_per_vote=$(python3 -c "print(f'{($(ticks "$SERVE_PID") - $s0) / $(getconf CLK_TCK) * 1e6 / max(1, ${accepted:-0}):.0f}')")" >>"$out"
  echo "cpu_gen_us_per_vote=$(python3 -c "print(f'{($g1 - $g0) / $(getconf CLK_TCK) * 1e6 / max(1, ${accepted:-0}):.0f}')")" >>"$out"
  : "$secs"
}

ROWS=()
for run in $RUNS; do
  phones="${run%%:*}"; rate="${run##*:}"
  say "run: $phones phones, a ${DURATION}s burst at $rate votes/s"
  fanout "run-$phones-$rate" "$phones" "$rate" "$DURATION"
  o="$WORK/run-$phones-$rate.out"
  cat "$o"
  ROWS+=("| $phones | $(val phones_connected "$o") in $(val connect_secs "$o") s | $rate → $(val votes_per_s_achieved "$o") | $(val votes_accepted "$o")/$(val votes_asked "$o") | $(val ack_p99_ms "$o") ms | $(val stale_p50_ms "$o") / $(val stale_p99_ms "$o") / $(val stale_max_ms "$o") ms ($(val phones_never_current "$o") never) | $(val updates_per_phone_s "$o") | $(val serve_rss_mb "$o") MB | $(val cpu_serve_us_per_vote "$o") / $(val cpu_broker_us_per_vote "$o") / $(val cpu_gen_us_per_vote "$o") µs |")
done

say "idle: $IDLE_PHONES phones connected, no votes, ${IDLE_SECS}s"
new_poll
LIVEPOLL_ADMIN_TOKEN="$TOKEN" "$LP" bench fanout --url "$URL" --poll "$POLL" --phones "$IDLE_PHONES" \
  --rate 20 --duration 2 --sources "$SOURCES" >"$WORK/idle.out" 2>"$WORK/idle.err" &
IDLE_GEN=$!
# The load generator waits a second after connecting before its burst: hold it back with SIGSTOP
# while the idle spell is measured, then let it vote.
until grep -q 'phones connected' "$WORK/idle.err" || ! kill -0 "$IDLE_GEN" 2>/dev/null; do sleep 0.02; done
kill -STOP "$IDLE_GEN"
sleep 2
t0="$(ticks "$BROKER_PID")"; s0="$(ticks "$SERVE_PID")"
sleep "$IDLE_SECS"
t1="$(ticks "$BROKER_PID")"; s1="$(ticks "$SERVE_PID")"
kill -CONT "$IDLE_GEN"
wait "$IDLE_GEN" || true
IDLE_SERVE="$(pct_core $((s1 - s0)) "$IDLE_SECS")"
IDLE_BROKER="$(pct_core $((t1 - t0)) "$IDLE_SECS")"
cat "$WORK/idle.out"

echo
echo "## Fan-out: $(nproc) cores, $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d)"
echo
echo "| phones | connected | votes/s asked → got | 202 / asked | ack p99 | staleness after last 202 p50 / p99 / max | updates/phone/s | serve RSS | CPU/vote serve / broker / gen |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Idle, $IDLE_PHONES phones, ${IDLE_SECS}s, no votes: serve $IDLE_SERVE %, broker $IDLE_BROKER % of one core."
echo "Then 20 votes/s for 2 s: staleness p50 / p99 $(val stale_p50_ms "$WORK/idle.out") / $(val stale_p99_ms "$WORK/idle.out") ms, ack p99 $(val ack_p99_ms "$WORK/idle.out") ms."
