#!/usr/bin/env bash
# A livepoll cluster on one machine: the bundled Kafka broker, N `livepoll serve` nodes sharing
# one secret file, admin token and topic prefix, and Debian's haproxy in front (deploy/haproxy.cfg).
# It shows how a real deployment fits together (docs/cluster.md) and is what the cluster
# benchmark and tests run.
#
#   scripts/cluster.sh start N | stop | status
#
# Environment (all optional):
#   CLUSTER_DIR          where everything lives (default ./livepoll-cluster): secret, token,
#                        one data dir and log per node, haproxy's config, the broker's log
#   CLUSTER_PORT         the public port haproxy listens on (default 8080)
#   CLUSTER_BIND         the public address (default 0.0.0.0)
#   NODE_PORT            the first node's port on 127.0.0.1; the others follow (default 8081)
#   KAFKA_PORT           the bundled broker's port (default 9192, apart from a single serve's 9092)
#   LIVEPOLL_BIN         the livepoll binary (default: target/release/livepoll, built if missing)
#   LIVEPOLL_PUBLIC_URL  the URL attendees use (default http://FIRST-LAN-IPV4:CLUSTER_PORT)
#   LIVEPOLL_TOPIC_PREFIX, LIVEPOLL_ADMIN_TOKEN, LIVEPOLL_PRESENTER_KEY, LIVEPOLL_MODERATOR_KEY,
#   LIVEPOLL_POLLS       passed to every node
#   CLUSTER_SERVE_ARGS   more `serve` flags for every node (word-split)
#   LIVEPOLL_WATCH_PID   stop the whole cluster when this process exits (used by the tests)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DIR="${CLUSTER_DIR:-./livepoll-cluster}"
CLUSTER_PORT="${CLUSTER_PORT:-8080}"
CLUSTER_BIND="${CLUSTER_BIND:-0.0.0.0}"
NODE_PORT="${NODE_PORT:-8081}"
KAFKA_PORT="${KAFKA_PORT:-9192}"
PREFIX="${LIVEPOLL_TOPIC_PREFIX:-livepoll}"

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed${2:+ ($2)}"; }
usage() { echo "usage: scripts/cluster.sh start N | stop | status" >&2; exit 2; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$DIR/$1.pid" 2>/dev/null || true; }

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# The nodes of the last start, one port per line.
nodes() { cat "$DIR/nodes" 2>/dev/null || true; }

broker() { LIVEPOLL_DATA_DIR="$DIR/broker" KAFKA_PORT="$KAFKA_PORT" bash "$HERE/kafka.sh" "$@"; }

# Waits until $1 answers 200, up to $2 s.
wait_ok() {
  local i=0
  until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt $(($2 * 10)) ] || return 1
    sleep 0.1
  done
}

binary() {
  if [ -n "${LIVEPOLL_BIN:-}" ]; then
    [ -x "$LIVEPOLL_BIN" ] || die "LIVEPOLL_BIN=$LIVEPOLL_BIN is not an executable"
    echo "$LIVEPOLL_BIN"
    return
  fi
  if [ ! -x "$ROOT/target/release/livepoll" ]; then
    say "building livepoll (release; the first build takes a few minutes)"
    (cd "$ROOT" && cargo build --release --locked >&2)
  fi
  echo "$ROOT/target/release/livepoll"
}

# deploy/haproxy.cfg with its server lines replaced by these nodes.
haproxy_config() {
  awk -v nodes="$(nodes | tr '\n' ' ')" '
    /^[[:space:]]*server[[:space:]]/ { next }
    { print }
    /^[[:space:]]*# nodes/ {
      n = split(nodes, ports, " ")
      track = ($0 ~ /track/)
      for (i = 1; i <= n; i++) {
        if (track) printf "    server node%d 127.0.0.1:%s track livepoll/node%d cookie node%d\n", i, ports[i], i, i
        else printf "    server node%d 127.0.0.1:%s check cookie node%d\n", i, ports[i], i
      }
    }' "$ROOT/deploy/haproxy.cfg"
}

first_lan_ipv4() {
  { hostname -I 2>/dev/null || true; } | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | grep -v '^127\.' | head -n 1
}

start() {
  local n="$1" bin i port pid url
  case "$n" in '' | *[!0-9]*) usage ;; esac
  [ "$n" -ge 1 ] || usage
  need curl
  need haproxy "apt-get install haproxy, or scripts/setup.sh --test"
  for f in "$DIR"/node*.pid "$DIR/haproxy.pid"; do
    [ -f "$f" ] && alive "$(cat "$f")" && die "a cluster is already running in $DIR (scripts/cluster.sh stop first)"
  done
  bin="$(binary)"
  # A start that fails half-way stops what it started.
  trap 'rc=$?; [ "$rc" -eq 0 ] || { say "start failed; stopping what was started"; stop; }' EXIT

  say "starting the bundled broker on 127.0.0.1:$KAFKA_PORT"
  broker start

  if [ ! -f "$DIR/secret.key" ]; then
    "$bin" secret new "$DIR/secret.key"
  fi
  if [ -z "${LIVEPOLL_ADMIN_TOKEN:-}" ]; then
    [ -f "$DIR/admin.token" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/admin.token")
    LIVEPOLL_ADMIN_TOKEN="$(cat "$DIR/admin.token")"
  fi
  # The presenter and moderator keys, like the admin token, are the same on every node.
  for role in presenter moderator; do
    [ -f "$DIR/$role.key" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/$role.key")
  done
  LIVEPOLL_PRESENTER_KEY="${LIVEPOLL_PRESENTER_KEY:-$(cat "$DIR/presenter.key")}"
  LIVEPOLL_MODERATOR_KEY="${LIVEPOLL_MODERATOR_KEY:-$(cat "$DIR/moderator.key")}"
  url="${LIVEPOLL_PUBLIC_URL:-}"
  if [ -z "$url" ]; then
    url="http://$(first_lan_ipv4 || true):$CLUSTER_PORT"
    [ "$url" != "http://:$CLUSTER_PORT" ] || url="http://127.0.0.1:$CLUSTER_PORT"
  fi

  : >"$DIR/nodes"
  for i in $(seq 1 "$n"); do
    port=$((NODE_PORT + i - 1))
    echo "$port" >>"$DIR/nodes"
    say "starting node$i on 127.0.0.1:$port"
    # shellcheck disable=SC2086 # CLUSTER_SERVE_ARGS is a list of flags
    LIVEPOLL_WATCH_PID= nohup "$bin" serve --bind "127.0.0.1:$port" \
      --brokers "127.0.0.1:$KAFKA_PORT" --data-dir "$DIR/node$i" \
      --secret-file "$DIR/secret.key" --admin-token "$LIVEPOLL_ADMIN_TOKEN" \
      --presenter-key "$LIVEPOLL_PRESENTER_KEY" --moderator-key "$LIVEPOLL_MODERATOR_KEY" \
      --topic-prefix "$PREFIX" --node-id "node$i" --trusted-proxy 127.0.0.1 \
      --public-url "$url" ${LIVEPOLL_POLLS:+--polls "$LIVEPOLL_POLLS"} ${CLUSTER_SERVE_ARGS:-} \
      </dev/null >"$DIR/node$i.log" 2>&1 &
    echo $! >"$DIR/node$i.pid"
  done
  for i in $(seq 1 "$n"); do
    port=$((NODE_PORT + i - 1))
    wait_ok "http://127.0.0.1:$port/healthz" 120 ||
      { tail -n 20 "$DIR/node$i.log" >&2; die "node$i did not become healthy (log: $DIR/node$i.log)"; }
  done

  haproxy_config >"$DIR/haproxy.cfg"
  say "starting haproxy on $CLUSTER_BIND:$CLUSTER_PORT"
  LIVEPOLL_LISTEN="$CLUSTER_BIND:$CLUSTER_PORT" haproxy -c -q -f "$DIR/haproxy.cfg" ||
    die "haproxy refuses $DIR/haproxy.cfg"
  LIVEPOLL_LISTEN="$CLUSTER_BIND:$CLUSTER_PORT" nohup haproxy -db -f "$DIR/haproxy.cfg" \
    </dev/null >"$DIR/haproxy.log" 2>&1 &
  echo $! >"$DIR/haproxy.pid"
  wait_ok "http://127.0.0.1:$CLUSTER_PORT/healthz" 20 ||
    { cat "$DIR/haproxy.log" >&2; die "haproxy did not answer on port $CLUSTER_PORT"; }

  if [ -n "${LIVEPOLL_WATCH_PID:-}" ]; then
    (
      while alive "$LIVEPOLL_WATCH_PID"; do sleep 1; done
      LIVEPOLL_WATCH_PID= CLUSTER_DIR="$DIR" KAFKA_PORT="$KAFKA_PORT" bash "$HERE/cluster.sh" stop
    ) </dev/null >>"$DIR/watchdog.log" 2>&1 &
    echo $! >"$DIR/watchdog.pid"
  fi

  cat <<EOF

  livepoll cluster: $n node(s) behind haproxy, Kafka on 127.0.0.1:$KAFKA_PORT

  Attendees (scan or type):  $url
  Projector screen:          $url/screen
  Organiser console:         http://127.0.0.1:$CLUSTER_PORT/admin#token=$LIVEPOLL_ADMIN_TOKEN
  Admin token:               $LIVEPOLL_ADMIN_TOKEN
  Presenter (phone):         $url/present#key=$LIVEPOLL_PRESENTER_KEY
  Moderator (phone):         $url/moderate#key=$LIVEPOLL_MODERATOR_KEY
  Nodes:                     $(nodes | sed 's/^/127.0.0.1:/' | tr '\n' ' ')
  Logs:                      $DIR/node*.log, $DIR/haproxy.log

  Stop with: scripts/cluster.sh stop

EOF
  trap - EXIT
  echo "$url"
}

stop_pid() {
  local name="$1" pid i
  pid="$(pid_of "$name")"
  if alive "$pid"; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
}

stop() {
  local f
  stop_pid haproxy
  for f in "$DIR"/node*.pid; do
    [ -f "$f" ] && stop_pid "$(basename "$f" .pid)"
  done
  broker stop || true
  # The watchdog is last: it may be the one running this stop.
  if [ -f "$DIR/watchdog.pid" ] && [ "$(pid_of watchdog)" != "$$" ]; then
    kill "$(pid_of watchdog)" 2>/dev/null || true
  fi
  rm -f "$DIR/watchdog.pid"
  say "stopped"
}

status() {
  local ok=0 i=0 port pid
  if broker status >/dev/null 2>&1; then echo "broker   up    127.0.0.1:$KAFKA_PORT"; else echo "broker   down"; ok=1; fi
  for port in $(nodes); do
    i=$((i + 1))
    pid="$(pid_of "node$i")"
    if alive "$pid"; then
      echo "node$i    $(curl -sS --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null || echo 'not answering')"
    else
      echo "node$i    down"; ok=1
    fi
  done
  [ "$i" -gt 0 ] || { echo "no nodes (scripts/cluster.sh start N)"; ok=1; }
  if alive "$(pid_of haproxy)"; then echo "haproxy  up    port $CLUSTER_PORT"; else echo "haproxy  down"; ok=1; fi
  return $ok
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
