# Shared by bench/run.sh and bench/hardening.sh (sourced, not run).
# Expects to run from the repository root with WORK set.

log() { printf '==> %s\n' "$*" >&2; }

# Release binaries and oha (crates.io) if it is not on PATH.
build_and_tools() {
  log "building release binaries"
  cargo build --release --locked --bin secretgate --example null_webhook
  if ! command -v oha >/dev/null 2>&1; then
    log "installing oha 1.16.0 from crates.io (once, a few minutes)"
    cargo install oha --locked --version 1.16.0
  fi
  SG=target/release/secretgate
  NULL=target/release/examples/null_webhook
}

# Pin the server to CPU 0 and the load to CPU 1 when there are two.
pinning() {
  if [ "$(nproc)" -ge 2 ]; then SERVER_CPU=(taskset -c 0); LOAD_CPU=(taskset -c 1); else SERVER_CPU=(); LOAD_CPU=(); fi
}

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }

# wait_http URL SECONDS [METHOD]: until the URL answers (any status for POST).
wait_http() {
  for _ in $(seq 1 $(( $2 * 100 ))); do
    curl -sf -o /dev/null --cacert "$CA" "$1" -X "${3:-GET}" -d '{}' 2>/dev/null && return 0
    [ "${3:-GET}" = POST ] && curl -s -o /dev/null --cacert "$CA" "$1" -X POST -d '{}' && return 0
    sleep 0.01
  done
  echo "timed out waiting for $1" >&2; return 1
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
