#!/usr/bin/env bash
# Manages livepoll's bundled local Kafka broker.
#
#   scripts/kafka.sh install | start | stop | status
#
# Environment (all optional):
#   LIVEPOLL_DATA_DIR   data dir; the broker keeps its log, pid and log file in $DATA_DIR/kafka
#   KAFKA_PORT          port on 127.0.0.1 (default 9092)
#   LIVEPOLL_CACHE      where the pinned Tansu is installed (default ~/.cache/livepoll)
#   KAFKA_HOME          an Apache Kafka install: use it (single-node KRaft) instead of Tansu
#   LIVEPOLL_WATCH_PID  stop the broker when this process exits (used by the test suite)
#
# Exit codes: 0 ok; 1 failed (or, for status, not running); 2 bad usage;
#             3 (status) the process lives but does not answer a Kafka Metadata request;
#             4 the port is taken by something that is not this data dir's broker.
# "Answers" means a Metadata request, not just ApiVersions: Tansu answers ApiVersions from
# constants even after its storage task died (see README "When the broker goes away").
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CONF_DIR="${LIVEPOLL_KAFKA_CONF:-$HERE/../kafka}"
# shellcheck source=../kafka/tansu.env
. "$CONF_DIR/tansu.env"

DATA_DIR="${LIVEPOLL_DATA_DIR:-./livepoll-data}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
KAFKA_PORT="${KAFKA_PORT:-9092}"
LIVEPOLL_CACHE="${LIVEPOLL_CACHE:-$HOME/.cache/livepoll}"
BROKER_DIR="$DATA_DIR/kafka"
PID_FILE="$BROKER_DIR/broker.pid"
WATCH_FILE="$BROKER_DIR/watchdog.pid"
LOG_FILE="$BROKER_DIR/broker.log"
TANSU="$LIVEPOLL_CACHE/tansu-$TANSU_VERSION/bin/tansu"

say() { printf 'kafka: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed${2:+ ($2)}"; }

engine() { if [ -n "${KAFKA_HOME:-}" ]; then echo "apache-kafka"; else echo "tansu-$TANSU_VERSION"; fi; }

# Sends one Kafka request (printf-escaped bytes) to 127.0.0.1:$1 and prints the first $3 bytes
# of the answer as hex, or nothing if none came within 2 s. `timeout` ends the whole exchange
# (its process group), so a broker that accepts the connection but never answers cannot hang us.
kafka_exchange() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "$2" >&3
    dd bs="$3" count=1 iflag=fullblock <&3 2>/dev/null | od -An -tx1
  ' _ "$1" "$2" "$3" 2>/dev/null | tr -d ' \n'
}

# Succeeds if an ApiVersions request gets a well-formed answer: something speaks Kafka there.
answers_kafka() {
  # size=18, api_key=18 (ApiVersions), version=0, correlation_id=1, client_id="livepoll"
  local out
  out="$(kafka_exchange "$1" '\000\000\000\022\000\022\000\000\000\000\000\001\000\010livepoll' 8)"
  # bytes 4-7 of the answer are our correlation id
  [ "${out:8:8}" = "00000001" ]
}

# Succeeds if a Metadata request for all topics is answered with at least one broker. Unlike
# ApiVersions (answered from constants), this goes through the broker's storage: a broker whose
# request handling is broken can still answer ApiVersions, but not this.
answers_metadata() {
  # size=23, api_key=3 (Metadata), version=4 (the oldest Apache Kafka 4 still takes),
  # correlation_id=2, client_id="livepoll", topics=null (all), allow_auto_topic_creation=false
  local out
  out="$(kafka_exchange "$1" '\000\000\000\027\000\003\000\004\000\000\000\002\000\010livepoll\377\377\377\377\000' 16)"
  # size, correlation id, throttle time, number of brokers (1 to 255)
  [ "${out:8:8}" = "00000002" ] && [ "${out:24:6}" = "000000" ] && [ "${out:30:2}" != "00" ]
}

# True while the process runs. A killed process whose parent never reaps it (PID 1 in some
# containers does not) stays a zombie that `kill -0` still finds: that is not running.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [ "${stat%% *}" != "Z" ]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

broker_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  alive "$pid" || return 1
  echo "$pid"
}

install_tansu() {
  [ -n "${KAFKA_HOME:-}" ] && return 0
  if [ -x "$TANSU" ]; then return 0; fi
  need cargo "install Rust from https://rustup.rs"
  mkdir -p "$LIVEPOLL_CACHE"
  local lock="$LIVEPOLL_CACHE/install-tansu.lock"
  until mkdir "$lock" 2>/dev/null; do
    say "another install of Tansu is running; waiting for it..."
    sleep 5
    [ -x "$TANSU" ] && return 0
  done
  trap 'rmdir "$lock" 2>/dev/null || true' EXIT
  say "installing the Tansu $TANSU_VERSION broker into $LIVEPOLL_CACHE (first run only: compiling takes about 10 minutes)"
  cargo install --locked "tansu@$TANSU_VERSION" --features "$TANSU_FEATURES" \
    --root "$LIVEPOLL_CACHE/tansu-$TANSU_VERSION" >&2 || die "installing Tansu failed (see above)"
  rmdir "$lock" 2>/dev/null || true
  trap - EXIT
  say "Tansu installed: $TANSU"
}

launch_tansu() {
  cd "$BROKER_DIR"
  local url="tcp://127.0.0.1:$KAFKA_PORT"
  # setsid: the broker must not get the terminal's Ctrl-C; livepoll stops it in order.
  $SETSID nohup "$TANSU" broker --cluster-id "$TANSU_CLUSTER_ID" \
    --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine "$TANSU_STORAGE" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  cd - >/dev/null
}

launch_apache() {
  [ -x "$KAFKA_HOME/bin/kafka-server-start.sh" ] || die "KAFKA_HOME=$KAFKA_HOME has no bin/kafka-server-start.sh"
  local props="$BROKER_DIR/server.properties" log_dir="$BROKER_DIR/kraft"
  local abs_log_dir
  mkdir -p "$log_dir"
  abs_log_dir="$(cd "$log_dir" && pwd)"
  sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$((KAFKA_PORT + 1))|g" \
    -e "s|@LOG_DIR@|$abs_log_dir|g" "$CONF_DIR/server.properties" >"$props"
  if [ ! -f "$log_dir/meta.properties" ]; then
    say "formatting KRaft storage in $log_dir (first start only)"
    "$KAFKA_HOME/bin/kafka-storage.sh" format -t "$("$KAFKA_HOME/bin/kafka-storage.sh" random-uuid)" \
      -c "$props" >>"$LOG_FILE" 2>&1 || die "formatting Kafka storage failed: see $LOG_FILE"
  fi
  $SETSID nohup "$KAFKA_HOME/bin/kafka-server-start.sh" "$props" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
}

start_watchdog() {
  local watched="$1" self="$HERE/kafka.sh"
  (
    while alive "$watched"; do sleep 1; done
    # Forget ourselves first: bash may exec the stop below in this very process.
    rm -f "$WATCH_FILE"
    LIVEPOLL_WATCH_PID= "$self" stop
  ) </dev/null >>"$BROKER_DIR/watchdog.log" 2>&1 &
  echo $! >"$WATCH_FILE"
}

cmd_start() {
  local pid
  if pid="$(broker_pid)"; then
    if answers_metadata "$KAFKA_PORT"; then
      say "already running (pid $pid, 127.0.0.1:$KAFKA_PORT)"
      return 0
    fi
    die "a broker process (pid $pid) exists but does not answer Kafka requests on port $KAFKA_PORT (see $LOG_FILE); stop it first: livepoll kafka stop (or $0 stop)"
  fi
  if port_in_use "$KAFKA_PORT"; then
    say "port $KAFKA_PORT is already in use by another process (not this data dir's broker)"
    exit 4
  fi
  install_tansu
  mkdir -p "$BROKER_DIR"
  SETSID=""
  command -v setsid >/dev/null 2>&1 && SETSID="setsid"
  say "starting $(engine) on 127.0.0.1:$KAFKA_PORT (data: $BROKER_DIR, log: $LOG_FILE)"
  if [ -n "${KAFKA_HOME:-}" ]; then launch_apache; else launch_tansu; fi
  pid="$(cat "$PID_FILE")"
  [ -n "${LIVEPOLL_WATCH_PID:-}" ] && start_watchdog "$LIVEPOLL_WATCH_PID"
  local waited=0
  until answers_metadata "$KAFKA_PORT"; do
    if ! alive "$pid"; then
      rm -f "$PID_FILE"
      tail -n 20 "$LOG_FILE" >&2 || true
      die "the broker exited during start-up (log above: $LOG_FILE)"
    fi
    if [ "$waited" -ge "$((START_TIMEOUT * 10))" ]; then
      die "the broker did not answer within ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  say "ready (pid $pid)"
}

cmd_stop() {
  if [ -f "$WATCH_FILE" ]; then
    kill "$(cat "$WATCH_FILE")" 2>/dev/null || true
    rm -f "$WATCH_FILE"
  fi
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while alive "$pid"; do
    if [ "$waited" -ge "$((STOP_TIMEOUT * 10))" ]; then
      say "no exit after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if answers_metadata "$KAFKA_PORT"; then
      echo "running pid=$pid port=$KAFKA_PORT engine=$(engine) data=$BROKER_DIR"
      return 0
    fi
    if answers_kafka "$KAFKA_PORT"; then
      echo "unresponsive pid=$pid port=$KAFKA_PORT engine=$(engine): answers ApiVersions but not Metadata requests"
    else
      echo "unresponsive pid=$pid port=$KAFKA_PORT engine=$(engine): does not answer Kafka requests"
    fi
    return 3
  fi
  echo "stopped port=$KAFKA_PORT engine=$(engine)"
  return 1
}

case "${1:-}" in
  install) install_tansu ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
