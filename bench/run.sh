#!/usr/bin/env bash
# The whole benchmark, one command:   bash bench/run.sh
#
# Builds release binaries, installs oha if missing, generates inputs and a
# certificate, starts secretgate (on a snapshot) and the two null webhooks
# (same TLS/HTTP stack, no policy: `typed` decodes the review with kube's
# types, `uid` reads only request.uid), all pinned to CPU 0 with one tokio
# worker, drives them alternately from CPU 1 with oha, then measures memory and
# start-up with 100k Secrets and 20k ServiceAccounts, and the audit's time and
# peak RSS over those plus 10k Pods and 1000 Deployments. Writes
# bench/results/{results.json,chart.png} and the table in BENCHMARKS.md.
#
# BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 2), BENCH_WARMUP (s, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
WARMUP=${BENCH_WARMUP:-2}
WORK=bench/work
OUT=bench/results
RAW=$WORK/raw
mkdir -p "$WORK" "$OUT" "$RAW"
rm -f "$RAW"/*.json
source bench/lib.sh
build_and_tools
VENV=.tools/bench-venv
if ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
  log "installing matplotlib for the chart"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check matplotlib==3.11.2
fi

log "generating inputs"
python3 bench/gen.py "$WORK"
"$SG" certs --out "$WORK/certs" --dns localhost --ip 127.0.0.1 --days 2 >/dev/null
CERT=$WORK/certs/tls.crt KEY=$WORK/certs/tls.key CA=$WORK/certs/ca.crt

pinning
trap cleanup EXIT

log "starting secretgate and the null webhooks on one core"
TOKIO_WORKER_THREADS=1 "${SERVER_CPU[@]}" "$SG" --log-level warn serve --listen 127.0.0.1:18443 \
  --admin-listen 127.0.0.1:18080 --tls-cert-file "$CERT" --tls-key-file "$KEY" \
  --cluster "$WORK/cluster.yaml" --events off & PIDS+=($!); SG_PID=$!
TOKIO_WORKER_THREADS=1 "${SERVER_CPU[@]}" "$NULL" 127.0.0.1:19443 "$CERT" "$KEY" typed 2>/dev/null & PIDS+=($!); NULL_PID=$!
TOKIO_WORKER_THREADS=1 "${SERVER_CPU[@]}" "$NULL" 127.0.0.1:19444 "$CERT" "$KEY" uid 2>/dev/null & PIDS+=($!); UID_PID=$!
wait_http http://127.0.0.1:18080/readyz 20
wait_http https://127.0.0.1:19443/validate 20 POST
wait_http https://127.0.0.1:19444/validate 20 POST
sleep 1
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "{\"idle_rss_kib\": $(rss_kib $SG_PID), \"null_idle_rss_kib\": $(rss_kib $NULL_PID)}" > "$RAW/idle.json"

declare -A PORT=([secretgate]=18443 [null]=19443 [null-uid]=19444)
declare -A PID=([secretgate]=$SG_PID [null]=$NULL_PID [null-uid]=$UID_PID)
scenarios=("pod-validate /validate pod-validate.json" "pod-mutate /mutate pod-mutate.json" "secret-1mib /validate secret-1mib.json")
for round in $(seq 1 "$ROUNDS"); do
  for s in "${scenarios[@]}"; do
    read -r name path file <<< "$s"
    for proto in h1 h2; do
      if [ $proto = h1 ]; then P=(--http-version 1.1 -c 16); else P=(--http2 -c 1 -p 16); fi
      for target in null-uid null secretgate; do
        url="https://127.0.0.1:${PORT[$target]}$path"
        common=(--no-tui --output-format json -m POST -H 'content-type: application/json' -D "$WORK/$file" --cacert "$CA" "${P[@]}")
        "${LOAD_CPU[@]}" oha -z "${WARMUP}s" "${common[@]}" "$url" > /dev/null
        before=$(cpu_ticks "${PID[$target]}")
        "${LOAD_CPU[@]}" oha -z "${DURATION}s" "${common[@]}" "$url" > "$RAW/$name-$proto-$target-$round.json"
        after=$(cpu_ticks "${PID[$target]}")
        echo "{\"cpu_ticks\": $((after - before)), \"ticks_per_second\": $(getconf CLK_TCK), \"rss_kib\": $(rss_kib "${PID[$target]}")}" \
          > "$RAW/$name-$proto-$target-$round.cpu.json"
        log "round $round: $name $proto $target done"
      done
    done
  done
done
echo "{\"loaded_rss_kib\": $(rss_kib $SG_PID)}" > "$RAW/loaded.json"
cleanup; PIDS=()

log "memory and start-up with 100k Secrets and 20k ServiceAccounts"
start=$(date +%s%N)
TOKIO_WORKER_THREADS=1 "$SG" --log-level warn serve --listen 127.0.0.1:28443 --admin-listen 127.0.0.1:28080 \
  --tls-cert-file "$CERT" --tls-key-file "$KEY" --cluster "$WORK/scale.json" --events off & PIDS+=($!); SCALE_PID=$!
wait_http http://127.0.0.1:28080/readyz 120
ready=$(date +%s%N)
sleep 2
echo "{\"ready_ms\": $(( (ready - start) / 1000000 )), \"rss_kib\": $(rss_kib $SCALE_PID), \"hwm_kib\": $(awk '/^VmHWM/ {print $2}' /proc/$SCALE_PID/status), \"secrets\": 100000, \"service_accounts\": 20000, \"snapshot_bytes\": $(stat -c %s "$WORK/scale.json")}" > "$RAW/scale.json"
curl -s http://127.0.0.1:28080/metrics | grep '^secretgate_cluster_objects' >&2
cleanup; PIDS=()

log "audit over 100k Secrets, 20k ServiceAccounts, 10k Pods and 1000 Deployments"
/usr/bin/time -f '%e %M' -o "$WORK/audit.time" "${SERVER_CPU[@]}" "$SG" audit --cluster "$WORK/scale.json" \
  --cluster "$WORK/audit-workloads.json" -o json > "$WORK/audit-out.json" 2>"$WORK/audit.err" || [ $? = 1 ]
read -r audit_s audit_kib < <(tail -n 1 "$WORK/audit.time")   # after time's "exited with status 1"
echo "{\"seconds\": $audit_s, \"max_rss_kib\": $audit_kib, \"findings\": $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$WORK/audit-out.json")}" > "$RAW/audit.json"
tail -n 1 "$WORK/audit.err" >&2

log "report"
"$VENV/bin/python" bench/report.py "$RAW" "$OUT" BENCHMARKS.md
