#!/usr/bin/env bash
# Operational hardening under load (about 5k req/s from oha on loopback):
#
#   bash bench/hardening.sh rotation   # 100 certificate rotations during load
#   bash bench/hardening.sh sigterm    # SIGTERM during load
#   bash bench/hardening.sh soak       # 10 minutes of load, RSS sampled
#   bash bench/hardening.sh zero-window  # HTTP/2 clients that never open their window
#   bash bench/hardening.sh idle-flood   # 20,000 idle connections on each listener
#   bash bench/hardening.sh big-updates  # 200 concurrent 2.8 MB Secret UPDATEs
#   bash bench/hardening.sh            # all of them
#
# Prints the failed requests and RSS figures and writes them to
# bench/results/hardening-<name>.json. SOAK_SECONDS (default 600) and
# RATE (default 5000 req/s) adjust the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=bench/work/hardening
OUT=bench/results
RATE=${RATE:-5000}
SOAK_SECONDS=${SOAK_SECONDS:-600}
mkdir -p "$WORK" "$OUT"
source bench/lib.sh
trap cleanup EXIT
build_and_tools
pinning
python3 bench/gen.py "$WORK" >/dev/null
"$SG" certs --out "$WORK/certs" --dns localhost --ip 127.0.0.1 --days 2 >/dev/null
CA=$WORK/certs/ca.crt

# start_server CERT KEY EXTRA_FLAGS...: secretgate on one core; sets SG_PID.
start_server() {
  local cert=$1 key=$2
  shift 2
  TOKIO_WORKER_THREADS=1 "${SERVER_CPU[@]}" "$SG" --log-level warn serve --listen 127.0.0.1:38443 \
    --admin-listen 127.0.0.1:38080 --tls-cert-file "$cert" --tls-key-file "$key" \
    --cluster "$WORK/cluster.yaml" --events off "$@" 2>>"$WORK/server.log" & PIDS+=($!)
  SG_PID=$!
  wait_http http://127.0.0.1:38080/readyz 30
}

# load NAME SECONDS RATE FILE PATH [oha flags...]: oha in the background, JSON to $WORK/NAME.json.
load() {
  local name=$1 seconds=$2 rate=$3 file=$4 path=$5
  shift 5
  "${LOAD_CPU[@]}" oha --no-tui --output-format json -z "${seconds}s" -q "$rate" -m POST \
    -H 'content-type: application/json' -D "$WORK/$file" --cacert "$CA" --http-version 1.1 "$@" \
    "https://127.0.0.1:38443$path" > "$WORK/$name.json" &
  LOAD_PIDS+=($!)
}

# summarise FILE...: requests that got a non-200 answer or an error, except
# those oha itself abandoned at the end of its run ("aborted due to deadline").
summarise() {
  python3 - "$@" <<'EOF'
import json, sys
total = failed = refused = 0
errors = {}
for path in sys.argv[1:]:
    run = json.load(open(path))
    codes = run.get("statusCodeDistribution", {})
    total += sum(codes.values())
    failed += sum(n for code, n in codes.items() if code != "200")
    for error, n in run.get("errorDistribution", {}).items():
        if "aborted due to deadline" in error:
            continue
        errors[error] = errors.get(error, 0) + n
        if "Connection refused" in error or "tcp connect error" in error:
            refused += n
        else:
            failed += n
print(json.dumps({"answered": total, "failed": failed, "refused_after_exit": refused, "errors": errors}))
EOF
}

rotation() {
  log "rotation: 100 new certificate pairs swapped in kubelet-style under ${RATE} req/s"
  local dir=$WORK/rotation
  rm -rf "$dir" && mkdir -p "$dir/pairs" "$dir/volume"
  # one CA, 101 serving pairs signed by it: what cert-manager's renewals look like
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=rotation CA" \
    -keyout "$dir/ca.key" -out "$dir/trust.pem" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$dir/ext.cnf"
  for i in $(seq 0 100); do
    mkdir -p "$dir/pairs/$i"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$dir/pairs/$i/tls.key" -out "$dir/pairs/$i/tls.csr" 2>/dev/null
    openssl x509 -req -in "$dir/pairs/$i/tls.csr" -CA "$dir/trust.pem" -CAkey "$dir/ca.key" -set_serial "$((1000 + i))" \
      -days 2 -extfile "$dir/ext.cnf" -out "$dir/pairs/$i/tls.crt" 2>/dev/null
    rm "$dir/pairs/$i/tls.csr"
  done
  local vol=$dir/volume
  cp -r "$dir/pairs/0" "$vol/..v0"
  ln -s ..v0 "$vol/..data"
  ln -s ..data/tls.crt "$vol/tls.crt"
  ln -s ..data/tls.key "$vol/tls.key"
  start_server "$vol/tls.crt" "$vol/tls.key" --tls-reload-interval 100ms
  local ca_saved=$CA
  CA=$dir/trust.pem
  LOAD_PIDS=()
  # kept-alive connections (what the API server does) and one new TLS connection per request
  load rotation-keepalive 40 $((RATE * 9 / 10)) pod-validate.json /validate -c 16
  load rotation-handshakes 40 $((RATE / 10)) pod-validate.json /validate -c 4 --disable-keepalive
  sleep 3
  for i in $(seq 1 100); do
    cp -r "$dir/pairs/$i" "$vol/..v$i"
    ln -s "..v$i" "$vol/..data_tmp"
    mv -T "$vol/..data_tmp" "$vol/..data"
    rm -rf "$vol/..v$((i - 1))"
    sleep 0.3
  done
  wait "${LOAD_PIDS[@]}"
  CA=$ca_saved
  # the certificate served at the end is the last one
  local served want
  served=$(echo | openssl s_client -connect 127.0.0.1:38443 -servername localhost 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
  want=$(openssl x509 -in "$dir/pairs/100/tls.crt" -noout -fingerprint -sha256)
  local result reloads
  result=$(summarise "$WORK/rotation-keepalive.json" "$WORK/rotation-handshakes.json")
  reloads=$(curl -s http://127.0.0.1:38080/metrics | awk '/^secretgate_tls_reloads_total/ {gsub(/.*outcome="|".*/, "", $1); printf "%s\"%s\": %s", sep, $1, $2; sep=", "}')
  kill -TERM "$SG_PID"; wait "$SG_PID" || true
  local last=false
  [ "$served" = "$want" ] && last=true
  echo "{\"rotations\": 100, \"rate\": $RATE, \"reloads\": {$reloads}, \"serving_last_pair\": $last, \"load\": $result}" | tee "$OUT/hardening-rotation.json"
  echo "rotation: $(python3 -c "import json,sys; r=json.load(open('$OUT/hardening-rotation.json')); print(f\"{r['load']['answered']} answered, failed requests: {r['load']['failed']}, serving the 100th pair at the end: {r['serving_last_pair']}\")")"
}

sigterm() {
  log "sigterm: SIGTERM after 5 s of ${RATE} req/s; the server drains and exits"
  start_server "$WORK/certs/tls.crt" "$WORK/certs/tls.key" --shutdown-grace-period 20s
  LOAD_PIDS=()
  load sigterm-validate 12 $((RATE / 2)) pod-validate.json /validate -c 8
  load sigterm-mutate 12 $((RATE / 2)) pod-mutate.json /mutate -c 8
  sleep 5
  local start
  start=$(date +%s%N)
  kill -TERM "$SG_PID"
  local code=0
  wait "$SG_PID" || code=$?
  local exit_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  wait "${LOAD_PIDS[@]}"
  local result
  result=$(summarise "$WORK/sigterm-validate.json" "$WORK/sigterm-mutate.json")
  echo "{\"rate\": $RATE, \"exit_code\": $code, \"exit_ms\": $exit_ms, \"load\": $result}" | tee "$OUT/hardening-sigterm.json"
  echo "sigterm: exit $code after $exit_ms ms; $(python3 -c "import json; r=json.load(open('$OUT/hardening-sigterm.json'))['load']; print(f\"{r['answered']} answered, failed in-flight requests: {r['failed']}, refused after the listener closed: {r['refused_after_exit']}\")")"
}

soak() {
  log "soak: ${SOAK_SECONDS} s at ${RATE} req/s (validate and mutate), RSS every 10 s"
  start_server "$WORK/certs/tls.crt" "$WORK/certs/tls.key"
  LOAD_PIDS=()
  load soak-validate "$SOAK_SECONDS" $((RATE / 2)) pod-validate.json /validate -c 8
  load soak-mutate "$SOAK_SECONDS" $((RATE / 2)) pod-mutate.json /mutate -c 8
  local samples=() t
  for t in $(seq 10 10 "$SOAK_SECONDS"); do
    sleep 10
    samples+=("$(rss_kib "$SG_PID")")
  done
  wait "${LOAD_PIDS[@]}"
  local result
  result=$(summarise "$WORK/soak-validate.json" "$WORK/soak-mutate.json")
  kill -TERM "$SG_PID"; wait "$SG_PID" || true
  local csv
  csv=$(IFS=,; echo "${samples[*]}")
  python3 - "$csv" "$result" "$SOAK_SECONDS" "$RATE" "$OUT/hardening-soak.json" <<'EOF'
import json, sys
samples = [int(s) for s in sys.argv[1].split(",") if s]
load = json.loads(sys.argv[2])
start, end, peak = samples[0], samples[-1], max(samples)
growth = (end - start) / start * 100
out = {"seconds": int(sys.argv[3]), "rate": int(sys.argv[4]), "rss_start_kib": start, "rss_end_kib": end,
       "rss_peak_kib": peak, "growth_percent": round(growth, 1), "rss_samples_kib": samples, "load": load}
json.dump(out, open(sys.argv[5], "w"), indent=1)
print(f"soak: {load['answered']} answered, failed {load['failed']}; RSS at 10 s {start / 1024:.1f} MiB, "
      f"at the end {end / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB: growth {growth:+.1f}% (target < 10%)")
EOF
}

# The peak RSS since start (VmHWM), KiB.
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

attack_tools() {
  VENV=.tools/bench-venv
  if ! "$VENV/bin/python" -c 'import h2' >/dev/null 2>&1; then
    log "installing h2 for the attack client"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check h2==4.4.1
  fi
  ATTACK=("$VENV/bin/python" bench/attack.py)
}

# A review of a Secret with 100k bad keys (2.3 MB): its denial is the largest answer.
big_denial() {
  python3 - "$WORK/bad-keys.json" <<'EOF'
import json, sys
data = {f"bad*{i}": "YQ==" for i in range(100_000)}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Secret"},
    "resource": {"group": "", "version": "v1", "resource": "secrets"}, "namespace": "team-a", "operation": "CREATE",
    "userInfo": {"username": "bench"}, "object": {"apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "s", "namespace": "team-a"}, "data": data}}}
json.dump(review, open(sys.argv[1], "w"))
EOF
}

zero_window() {
  log "zero-window: 3 HTTP/2 connections x 256 streams of a 2.3 MB review, windows never opened"
  attack_tools
  big_denial
  start_server "$WORK/certs/tls.crt" "$WORK/certs/tls.key"
  local before result after peak probe
  before=$(rss_kib "$SG_PID")
  result=$("${ATTACK[@]}" zero-window 38443 "$CA" "$WORK/bad-keys.json" 3 256)
  after=$(rss_kib "$SG_PID"); peak=$(hwm_kib "$SG_PID")
  probe=$("${ATTACK[@]}" probe 38443 38080 "$CA" "$WORK/pod-validate.json")
  kill -TERM "$SG_PID"; wait "$SG_PID" || true
  echo "{\"attack\": $result, \"rss_before_kib\": $before, \"rss_after_kib\": $after, \"rss_peak_kib\": $peak, \"then\": $probe}" | tee "$OUT/hardening-zero-window.json"
  python3 - "$OUT/hardening-zero-window.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
grew = (r["rss_peak_kib"] - r["rss_before_kib"]) / 1024
print(f"zero-window: connections closed {r['attack']['closed_after_s']} s after the server's last frame (target 30 s); "
      f"RSS {r['rss_before_kib'] / 1024:.1f} MiB before, peak +{grew:.1f} MiB (target 64), "
      f"{r['rss_after_kib'] / 1024:.1f} MiB after; a review then: {r['then'].get('review_status')}")
EOF
}

idle_flood() {
  log "idle-flood: 20,000 idle TCP connections on each listener for 20 s; a review and /readyz meanwhile"
  attack_tools
  start_server "$WORK/certs/tls.crt" "$WORK/certs/tls.key"
  # 10,000 per attacker process: each stays inside its own open-file limit
  local attackers=() port half
  for port in 38443 38080; do
    for half in 1 2; do
      "${ATTACK[@]}" idle-flood "$port" 10000 20 > "$WORK/flood-$port-$half.json" &
      attackers+=($!)
    done
  done
  sleep 8
  local probes=() i
  for i in 1 2 3 4 5; do probes+=("$("${ATTACK[@]}" probe 38443 38080 "$CA" "$WORK/pod-validate.json")"); sleep 2; done
  wait "${attackers[@]}"
  kill -TERM "$SG_PID"; wait "$SG_PID" || true
  local joined; joined=$(IFS=,; echo "${probes[*]}")
  opened() { cat "$WORK/flood-$1-1.json" "$WORK/flood-$1-2.json" | python3 -c 'import json,sys; print(sum(json.loads(l).get("opened", 0) for l in sys.stdin))'; }
  echo "{\"webhook\": {\"opened\": $(opened 38443)}, \"admin\": {\"opened\": $(opened 38080)}, \"probes\": [$joined]}" | tee "$OUT/hardening-idle-flood.json"
  python3 - "$OUT/hardening-idle-flood.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["probes"]
print(f"idle-flood: {r['webhook']['opened']} + {r['admin']['opened']} idle connections opened; "
      f"reviews {[x.get('review_status') for x in p]} in at most {max(x['review_s'] for x in p)} s (target 1 s); "
      f"/readyz {[x.get('readyz_status') for x in p]} in at most {max(x['readyz_s'] for x in p)} s")
EOF
}

big_updates() {
  log "big-updates: 200 concurrent UPDATE reviews of a near-1 MiB Secret (2.8 MB each)"
  python3 - "$WORK/big-update.json" <<'EOF'
import base64, json, sys
value = base64.b64encode(b"x" * (1024 * 1024 - 64)).decode()
secret = lambda v: {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "big", "namespace": "team-a"}, "data": {"blob": v}}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Secret"},
    "resource": {"group": "", "version": "v1", "resource": "secrets"}, "namespace": "team-a", "operation": "UPDATE",
    "userInfo": {"username": "bench"}, "object": secret(value), "oldObject": secret(value[:-8] + "eHh4eHh4")}}
json.dump(review, open(sys.argv[1], "w"))
EOF
  start_server "$WORK/certs/tls.crt" "$WORK/certs/tls.key"
  "${LOAD_CPU[@]}" oha --no-tui --output-format json -n 200 -c 200 -m POST -H 'content-type: application/json' \
    -D "$WORK/big-update.json" --cacert "$CA" --http-version 1.1 -t 60s "https://127.0.0.1:38443/validate" > "$WORK/big-updates.json"
  local peak after allowed result
  peak=$(hwm_kib "$SG_PID"); after=$(rss_kib "$SG_PID")
  allowed=$(curl -s --cacert "$CA" -H 'content-type: application/json' --data-binary @"$WORK/big-update.json" \
    https://127.0.0.1:38443/validate | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["allowed"])')
  kill -TERM "$SG_PID"; wait "$SG_PID" || true
  result=$(summarise "$WORK/big-updates.json")
  echo "{\"load\": $result, \"allowed\": \"$allowed\", \"rss_peak_kib\": $peak, \"rss_after_kib\": $after}" | tee "$OUT/hardening-big-updates.json"
  python3 - "$OUT/hardening-big-updates.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"big-updates: {r['load']['answered']} answered, {r['load']['failed']} failed, allowed={r['allowed']}; "
      f"peak RSS {r['rss_peak_kib'] / 1024:.1f} MiB (chart limit 256 MiB), {r['rss_after_kib'] / 1024:.1f} MiB after")
EOF
}

case "${1:-all}" in
  rotation) rotation ;;
  sigterm) sigterm ;;
  soak) soak ;;
  zero-window) zero_window ;;
  idle-flood) idle_flood ;;
  big-updates) big_updates ;;
  all) rotation; sigterm; soak; zero_window; idle_flood; big_updates ;;
  *) echo "usage: $0 [rotation|sigterm|soak|zero-window|idle-flood|big-updates|all]" >&2; exit 2 ;;
esac
