# Shared helpers of the e2e harness: logging, free ports, waiting, and process
# bookkeeping so that every process started here is stopped again.
# Sourced by run.sh, up.sh and down.sh; expects $RUN (the run's directory).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$E2E_DIR/.." && pwd)

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel's pick; a bind race is retried by callers).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME LOGFILE CMD...: run CMD in its own process group, in the background;
# its pid goes to $RUN/pids/NAME so that stop and stop_all find it.
start() {
  local name=$1 logfile=$2; shift 2
  mkdir -p "$RUN/pids"
  setsid "$@" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name"
  disown $!   # stop() reaps it; no job-control noise when it is killed
}

running() { local f="$RUN/pids/$1"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# stop NAME [GRACE]: SIGTERM to the process group, wait up to GRACE seconds
# (default 15), then SIGKILL.
stop() {
  local name=$1 grace=${2:-15} f="$RUN/pids/$1" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within $grace s of SIGTERM; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# Stop every recorded process: the webhook first, then the control plane
# (controller manager, API server, etcd), as envtest does.
stop_all() {
  local name
  [ -d "$RUN/pids" ] || return 0
  for name in secretgate labeler kube-controller-manager; do stop "$name"; done
  stop kube-apiserver 5   # see stop_apiserver in cluster.sh
  stop etcd
  for name in "$RUN"/pids/*; do [ -e "$name" ] && stop "$(basename "$name")"; done
  return 0
}

# wait_for NAME LOGFILE TIMEOUT CMD...: poll CMD until it succeeds. On timeout, or
# when the process NAME has exited, fail naming the component and print its log's tail.
wait_for() {
  local name=$1 logfile=$2 timeout=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      log "$name exited before it became ready; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name did not become ready within ${timeout} s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# Tools the harness calls, besides what it builds. They ship with the machine
# image; a bare Debian gets them from apt.
need_host_tools() {
  local missing=() t
  for t in openssl curl jq python3 setsid base64; do command -v "$t" >/dev/null || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} with apt-get"
    apt-get update -qq && apt-get install -y -qq openssl curl jq python3 util-linux coreutils >/dev/null
  else
    die "missing tools: ${missing[*]} (apt-get install openssl curl jq python3)"
  fi
}
