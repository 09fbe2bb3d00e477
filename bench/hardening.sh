#!/usr/bin/env bash
# Operational hardening under load (about 5k req/s from oha on loopback):
#
#   bash bench/hardening.sh rotation   # 100 certificate rotations during load
#   bash bench/hardening.sh sigterm    # SIGTERM during load
#   bash bench/hardening.sh soak       # 10 minutes of load, RSS sampled
#   bash bench/hardening.sh            # all three
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

case "${1:-all}" in
  rotation) rotation ;;
  sigterm) sigterm ;;
  soak) soak ;;
  all) rotation; sigterm; soak ;;
  *) echo "usage: $0 [rotation|sigterm|soak|all]" >&2; exit 2 ;;
esac
