#!/usr/bin/env bash
# Manages livepoll's bundled local Kafka broker.
#
#   scripts/kafka.sh install | start | stop | status
#
# Environment (all optional):
#   LIVEPOLL_DATA_DIR   data dir; the broker keeps its log, pid and log file in $DATA_DIR/kafka
#   KAFKA_PORT          port on 127.0.0.1 (default 9092)
#   LIVEPOLL_BROKER     the bundled broker: tansu (default, Tansu $TANSU_VERSION) or nisshi
#                       (Nisshi $NISSHI_VERSION, Tansu's renamed successor; compiling it needs
#                       Rust >= $NISSHI_MIN_RUST). Each keeps its own log file in $DATA_DIR/kafka.
#   LIVEPOLL_CACHE      where the pinned brokers are installed (default ~/.cache/livepoll)
#   KAFKA_HOME          an Apache Kafka install: use it (single-node KRaft) instead of Tansu
#   LIVEPOLL_WATCH_PID  stop the broker when this process exits (used by the test suite)
#
# Exit codes: 0 ok; 1 failed (or, for status, not running); 2 bad usage;
#             3 (status) the process lives but does not answer a Kafka Metadata request;
#             4 the port is taken by something that is not this data dir's broker.
#             (LIVEPOLL_BROKER other than tansu or nisshi is bad usage: 2.)
# "Answers" means a Metadata request, not just ApiVersions: Tansu answers ApiVersions from
# constants even after its storage task died (see README "When the broker goes away").
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CONF_DIR="${LIVEPOLL_KAFKA_CONF:-$HERE/../kafka}"
# shellcheck source=../kafka/tansu.env
. "$CONF_DIR/tansu.env"

say() { printf 'kafka: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed${2:+ ($2)}"; }

# The bundled broker: its name (also the name of its binary), version, storage and cluster id.
BROKER="${LIVEPOLL_BROKER:-tansu}"
case "$BROKER" in
  tansu)
    BROKER_TITLE="Tansu" BROKER_VERSION="$TANSU_VERSION"
    BROKER_STORAGE="$TANSU_STORAGE" BROKER_CLUSTER_ID="$TANSU_CLUSTER_ID"
    ;;
  nisshi)
    BROKER_TITLE="Nisshi" BROKER_VERSION="$NISSHI_VERSION"
    BROKER_STORAGE="$NISSHI_STORAGE" BROKER_CLUSTER_ID="$NISSHI_CLUSTER_ID"
    ;;
  *)
    say "LIVEPOLL_BROKER=$BROKER is not a bundled broker: use tansu (the default) or nisshi"
    exit 2
    ;;
esac

DATA_DIR="${LIVEPOLL_DATA_DIR:-./livepoll-data}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
KAFKA_PORT="${KAFKA_PORT:-9092}"
LIVEPOLL_CACHE="${LIVEPOLL_CACHE:-$HOME/.cache/livepoll}"
BROKER_DIR="$DATA_DIR/kafka"
PID_FILE="$BROKER_DIR/broker.pid"
WATCH_FILE="$BROKER_DIR/watchdog.pid"
LOG_FILE="$BROKER_DIR/broker.log"
ENGINE_FILE="$BROKER_DIR/broker.engine"
# Written by livepoll serve after it started the broker: a later serve supervises it. A stop,
# or a start that is not serve's, removes it.
SERVE_MARK="$BROKER_DIR/started-by-serve"
# e.g. $LIVEPOLL_CACHE/tansu-0.6.0/bin/tansu, $LIVEPOLL_CACHE/nisshi-0.8.1/bin/nisshi
BROKER_BIN="$LIVEPOLL_CACHE/$BROKER-$BROKER_VERSION/bin/$BROKER"

# The engine this invocation selects (LIVEPOLL_BROKER, or KAFKA_HOME).
engine() { if [ -n "${KAFKA_HOME:-}" ]; then echo "apache-kafka"; else echo "$BROKER-$BROKER_VERSION"; fi; }

# The engine of the broker that runs in this data dir (recorded at start), else the selected one.
running_engine() {
  local e=""
  [ -f "$ENGINE_FILE" ] && e="$(cat "$ENGINE_FILE")"
  echo "${e:-$(engine)}"
}

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

# Succeeds if `rustc [+TOOLCHAIN] --version` is at least $NISSHI_MIN_RUST (e.g. 1.96).
rustc_is_recent() {
  local v major minor
  v="$(rustc ${1:+"+$1"} --version 2>/dev/null)" || return 1
  v="${v#rustc }"
  v="${v%% *}"
  v="${v%%-*}"
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  local want_major="${NISSHI_MIN_RUST%%.*}" want_minor="${NISSHI_MIN_RUST#*.}"
  [ "$major" -gt "$want_major" ] || { [ "$major" -eq "$want_major" ] && [ "$minor" -ge "$want_minor" ]; }
}

# Prints the cargo toolchain argument that can compile Nisshi: nothing for the default toolchain
# if it is recent enough, else +NAME for an installed one that is (stable or beta-like ones
# before nightly). Fails if none is.
nisshi_toolchain() {
  if rustc_is_recent ""; then return 0; fi
  command -v rustup >/dev/null 2>&1 || return 1
  local tc nightly="" list
  list="$(rustup toolchain list 2>/dev/null)" || return 1
  while read -r tc _; do
    if [ -z "$tc" ] || ! rustc_is_recent "$tc"; then continue; fi
    case "$tc" in
      nightly*) [ -n "$nightly" ] || nightly="$tc" ;;
      *) echo "+$tc"; return 0 ;;
    esac
  done <<<"$list"
  [ -n "$nightly" ] || return 1
  echo "+$nightly"
}

# Installs the selected broker's pinned version into $LIVEPOLL_CACHE once (Tansu with the
# default toolchain; Nisshi with one that is recent enough).
install_broker() {
  [ -n "${KAFKA_HOME:-}" ] && return 0
  if [ -x "$BROKER_BIN" ]; then return 0; fi
  need cargo "install Rust from https://rustup.rs"
  local cargo=(cargo) crate=(--features "$TANSU_FEATURES")
  if [ "$BROKER" = nisshi ]; then
    local tc
    tc="$(nisshi_toolchain)" ||
      die "Nisshi $NISSHI_VERSION needs Rust >= $NISSHI_MIN_RUST to compile and no installed toolchain has it ($(rustc --version 2>/dev/null || echo 'no rustc')): run \`rustup update\`, or use the default Tansu broker (unset LIVEPOLL_BROKER)"
    [ -n "$tc" ] && cargo+=("$tc")
    crate=(--no-default-features --features "$NISSHI_FEATURES")
  fi
  mkdir -p "$LIVEPOLL_CACHE"
  local lock="$LIVEPOLL_CACHE/install-$BROKER.lock"
  until mkdir "$lock" 2>/dev/null; do
    say "another install of $BROKER_TITLE is running; waiting for it..."
    sleep 5
    [ -x "$BROKER_BIN" ] && return 0
  done
  trap 'rmdir "$lock" 2>/dev/null || true' EXIT
  say "installing the $BROKER_TITLE $BROKER_VERSION broker into $LIVEPOLL_CACHE with ${cargo[*]} (first run only: compiling takes about 10 minutes)"
  "${cargo[@]}" install --locked "$BROKER@$BROKER_VERSION" "${crate[@]}" \
    --root "$LIVEPOLL_CACHE/$BROKER-$BROKER_VERSION" >&2 || die "installing $BROKER_TITLE failed (see above)"
  rmdir "$lock" 2>/dev/null || true
  trap - EXIT
  [ -x "$BROKER_BIN" ] || die "installing $BROKER_TITLE did not produce $BROKER_BIN"
  say "$BROKER_TITLE installed: $BROKER_BIN"
}

# Tansu or Nisshi (same command line). Each has its own SQLite file: Nisshi opens a Tansu file
# but adds its own tables to it and then fails every fetch, so a data dir that switches engine
# starts an empty log rather than damaging the other one's.
launch_bundled() {
  local own="${BROKER_STORAGE#sqlite://}" other
  case "$BROKER" in tansu) other="${NISSHI_STORAGE#sqlite://}" ;; *) other="${TANSU_STORAGE#sqlite://}" ;; esac
  if [ ! -e "$BROKER_DIR/$own" ] && [ -e "$BROKER_DIR/$other" ]; then
    say "note: this data dir's log is $BROKER_DIR/$other, written by another engine; $BROKER_TITLE starts an empty log of its own in $own (the other one is left as it is)"
  fi
  cd "$BROKER_DIR"
  local url="tcp://127.0.0.1:$KAFKA_PORT"
  # setsid: the broker must not get the terminal's Ctrl-C; livepoll stops it in order.
  $SETSID nohup "$BROKER_BIN" broker --cluster-id "$BROKER_CLUSTER_ID" \
    --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine "$BROKER_STORAGE" >>"$LOG_FILE" 2>&1 </dev/null &
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
      local running
      running="$(running_engine)"
      say "already running (pid $pid, 127.0.0.1:$KAFKA_PORT, $running)"
      [ "$running" = "$(engine)" ] ||
        say "note: that is $running, not $(engine) as selected: stop it first to switch: livepoll kafka stop (or $0 stop)"
      return 0
    fi
    die "a broker process (pid $pid) exists but does not answer Kafka requests on port $KAFKA_PORT (see $LOG_FILE); stop it first: livepoll kafka stop (or $0 stop)"
  fi
  if port_in_use "$KAFKA_PORT"; then
    say "port $KAFKA_PORT is already in use by another process (not this data dir's broker)"
    exit 4
  fi
  install_broker
  mkdir -p "$BROKER_DIR"
  rm -f "$SERVE_MARK"
  SETSID=""
  command -v setsid >/dev/null 2>&1 && SETSID="setsid"
  say "starting $(engine) on 127.0.0.1:$KAFKA_PORT (data: $BROKER_DIR, log: $LOG_FILE)"
  if [ -n "${KAFKA_HOME:-}" ]; then launch_apache; else launch_bundled; fi
  engine >"$ENGINE_FILE"
  pid="$(cat "$PID_FILE")"
  [ -n "${LIVEPOLL_WATCH_PID:-}" ] && start_watchdog "$LIVEPOLL_WATCH_PID"
  local waited=0
  until answers_metadata "$KAFKA_PORT"; do
    if ! alive "$pid"; then
      rm -f "$PID_FILE" "$ENGINE_FILE"
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
  rm -f "$SERVE_MARK"
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE" "$ENGINE_FILE"
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
  rm -f "$PID_FILE" "$ENGINE_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    local running
    running="$(running_engine)"
    if answers_metadata "$KAFKA_PORT"; then
      echo "running pid=$pid port=$KAFKA_PORT engine=$running data=$BROKER_DIR"
      return 0
    fi
    if answers_kafka "$KAFKA_PORT"; then
      echo "unresponsive pid=$pid port=$KAFKA_PORT engine=$running: answers ApiVersions but not Metadata requests"
    else
      echo "unresponsive pid=$pid port=$KAFKA_PORT engine=$running: does not answer Kafka requests"
    fi
    return 3
  fi
  echo "stopped port=$KAFKA_PORT engine=$(engine)"
  return 1
}

case "${1:-}" in
  install) install_broker ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
