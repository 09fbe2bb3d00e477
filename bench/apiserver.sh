#!/usr/bin/env bash
# What secretgate costs a real API server:   bash bench/apiserver.sh
#
# On the e2e control plane (upstream etcd and kube-apiserver built from Go
# modules, on loopback), a client-go load client (e2e/k8s-tools/loadgen) sends
# Pod and Secret creates as server-side dry runs (the whole admission chain
# runs; etcd is not written) at concurrency 1 and 16, a fixed count each, in
# five configurations alternated in rounds:
#   none           no webhook registered (the baseline)
#   sg-validating  secretgate's validating webhooks, as the chart registers them
#   sg-both        secretgate validating and mutating (the chart's defaults)
#   vap            a ValidatingAdmissionPolicy with a comparable CEL check (bench/apiserver/vap.yaml)
#   null           the null webhook (examples/null_webhook.rs), registered as the chart's defaults
#   null-patch     the null webhook answering Pods with secretgate's own patch for them (Pods only):
#                  what applying the mutation costs the API server, apart from secretgate
# Every measured run checks, from the API server's own metrics, that each
# request took exactly the expected path (every expected webhook once, nothing
# else, no policy denial); the vap runs prove the policy active with a probe it
# must deny before and after (bench/apiserver/probe-*.yaml). A run that did not
# fails the benchmark.
#
# Pinning (2 cores): etcd and kube-apiserver on CPU 0; the webhook under test,
# the load client and kubectl on CPU 1 (Go and tokio size themselves to one CPU).
#
# Writes bench/results/apiserver.json, bench/results/apiserver.png and the section
# between the apiserver markers in BENCHMARKS.md, and prints the targets; logs,
# secretgate's metrics and the raw runs go to target/bench-apiserver-logs/.
#
# BENCH_API_COUNT (measured creates per run at concurrency 16; default 2000; concurrency 1
# runs half as many), BENCH_API_ROUNDS (default 3), BENCH_API_OUT (default bench/results;
# BENCHMARKS.md is updated only when it is bench/results), BENCH_API_CONFIGS (a subset of
# the configurations, space-separated), BENCH_API_BUILD=debug (debug binaries: the CI smoke,
# which checks the script and the admission paths, not the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/lib/common.sh
for f in pki cluster secretgate; do source "e2e/lib/$f.sh"; done

COUNT=${BENCH_API_COUNT:-2000}
ROUNDS=${BENCH_API_ROUNDS:-3}
OUT=${BENCH_API_OUT:-bench/results}
[ "$COUNT" -ge 2 ] || die "BENCH_API_COUNT must be at least 2"
read -r -a CONFIGS <<< "${BENCH_API_CONFIGS:-none sg-validating sg-both vap null null-patch}"

# tools: the control plane, helm, release binaries, the load client
command -v go >/dev/null || die "go is required (Go >= 1.26 with the module proxy): the control plane is built from Go modules"
need_host_tools
K8S_BIN=$(bash e2e/build-k8s.sh | tail -n 1) || die "building the control plane failed"
HELM=${SECRETGATE_HELM:-$ROOT/.tools/helm/helm}
[ -x "$HELM" ] || bash .ci/chart-tools.sh >&2 || die "installing helm failed"
if [ "${BENCH_API_BUILD:-release}" = debug ]; then   # the CI smoke: checks the script, not figures
  log "building debug binaries"
  cargo build --locked --quiet --bin secretgate --example null_webhook || die "cargo build failed"
  SECRETGATE=$ROOT/target/debug/secretgate
  NULL=$ROOT/target/debug/examples/null_webhook
else
  log "building release binaries"
  cargo build --release --locked --quiet --bin secretgate --example null_webhook || die "cargo build failed"
  SECRETGATE=$ROOT/target/release/secretgate
  NULL=$ROOT/target/release/examples/null_webhook
fi
LOADGEN=$ROOT/.tools/e2e/bin/loadgen
(cd e2e/k8s-tools && CGO_ENABLED=0 go build -o "$LOADGEN" ./loadgen) || die "building e2e/k8s-tools/loadgen failed"
TWO_CPUS=false; [ "$(nproc)" -ge 2 ] && TWO_CPUS=true
CPU1=(); $TWO_CPUS && CPU1=(taskset -c 1)
PY=python3
if [ "${BENCH_API_OUT:-bench/results}" = bench/results ]; then
  PY=.tools/bench-venv/bin/python   # the chart needs matplotlib (as bench/run.sh)
  if ! "$PY" -c 'import matplotlib' >/dev/null 2>&1; then
    log "installing matplotlib for the chart"
    python3 -m venv .tools/bench-venv
    "$PY" -m pip install --quiet --disable-pip-version-check matplotlib==3.11.2
  fi
fi

RUN=$(mktemp -d "${TMPDIR:-/tmp}/secretgate-bench.XXXXXX")
cleanup() {
  local rc=$?
  stop_all
  rm -rf "$ROOT/target/bench-apiserver-logs" && mkdir -p "$ROOT/target/bench-apiserver-logs"
  cp -r "$RUN/logs/." "$ROOT/target/bench-apiserver-logs/" 2>/dev/null || true
  # the raw runs, to run the report again: python3 bench/apiserver_report.py target/bench-apiserver-logs/raw OUT
  cp -r "$RUN/raw" "$ROOT/target/bench-apiserver-logs/raw" 2>/dev/null || true
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
mkdir -p "$RUN/logs" "$RUN/raw"

# The control plane on CPU 0: started from this shell pinned there, so the
# processes inherit the affinity (and Go sizes GOMAXPROCS to it). No audit
# logging: the benchmark measures admission, not the audit backend.
printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None}]\n' > "$RUN/audit-policy.yaml"
pki_cluster
$TWO_CPUS && taskset -p -c 0 $$ >/dev/null
start_etcd || die "etcd did not come up"
start_apiserver || die "kube-apiserver did not come up"
$TWO_CPUS && taskset -p -c 0-"$(($(nproc) - 1))" $$ >/dev/null
write_kubeconfig "$RUN/admin.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" cert admin
kc apply -f bench/apiserver/objects.yaml >"$RUN/logs/objects.log" || die "applying bench/apiserver/objects.yaml failed"

# secretgate through the chart (its RBAC, policy and webhook specification), as a
# host process on CPU 1 with a token of the chart's ServiceAccount. It is not
# told the spec ConfigMap, so it does not register itself: this script registers
# the chart's webhooks for the configurations that call it.
SG_PORT=$(free_port); SG_ADMIN=$(free_port); NULL_PORT=$(free_port); PATCH_PORT=$(free_port)
release_install "$RELEASE" "$RELEASE_NS" "$SG_PORT" || die "helm install failed (log: $RUN/logs/helm-$RELEASE.log)"
kc get configmap "$SG_NAME-webhooks" -n "$RELEASE_NS" -o jsonpath='{.data.webhooks\.yaml}' > "$RUN/webhooks.yaml"
kc get configmap "$SG_NAME" -n "$RELEASE_NS" -o jsonpath='{.data.config\.yaml}' > "$RUN/policy.yaml"
write_kubeconfig "$RUN/secretgate.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" token \
  "$(kc create token "$SG_NAME" -n "$RELEASE_NS" --duration=24h)"
pki_webhook_pair "$RUN/tls"
CA=$RUN/pki/webhook-ca.crt
KUBECONFIG="$RUN/secretgate.kubeconfig" start secretgate "$RUN/logs/secretgate.log" "${CPU1[@]}" "$SECRETGATE" serve \
  --listen="127.0.0.1:$SG_PORT" --admin-listen="127.0.0.1:$SG_ADMIN" --namespace="$RELEASE_NS" \
  --tls-cert-file="$RUN/tls/tls.crt" --tls-key-file="$RUN/tls/tls.key" --config="$RUN/policy.yaml" \
  --audit-interval=0 --log-level=warn
wait_for secretgate "$RUN/logs/secretgate.log" 60 curl -sf "http://127.0.0.1:$SG_ADMIN/readyz" ||
  die "secretgate did not become ready"
start null "$RUN/logs/null.log" "${CPU1[@]}" "$NULL" "127.0.0.1:$NULL_PORT" "$RUN/tls/tls.crt" "$RUN/tls/tls.key"
wait_for null "$RUN/logs/null.log" 30 curl -s -o /dev/null --cacert "$CA" -X POST -d '{}' \
  "https://127.0.0.1:$NULL_PORT/validate" || die "the null webhook did not start"
# secretgate's patch for the benchmark Pod as the API server admits it (its
# ServiceAccount volume added), for the null-patch configuration
kc create --dry-run=server -n bench -f bench/apiserver/pod.yaml -o json > "$RUN/admitted-pod.json" ||
  die "dry-run create of bench/apiserver/pod.yaml failed"
"$SECRETGATE" review --webhook mutate --config "$RUN/policy.yaml" --cluster bench/apiserver/objects.yaml \
  "$RUN/admitted-pod.json" -o json | jq -e '.results[0].patch | select(length > 0)' > "$RUN/pod-patch.json" ||
  die "secretgate review gave no patch for the benchmark Pod"
start null-patch "$RUN/logs/null-patch.log" "${CPU1[@]}" "$NULL" "127.0.0.1:$PATCH_PORT" "$RUN/tls/tls.crt" \
  "$RUN/tls/tls.key" typed "$RUN/pod-patch.json"
wait_for null-patch "$RUN/logs/null-patch.log" 30 curl -s -o /dev/null --cacert "$CA" -X POST -d '{}' \
  "https://127.0.0.1:$PATCH_PORT/validate" || die "the patching null webhook did not start"

webhooks_for() { # URL [loadgen webhooks flags]: the chart's webhooks calling URL
  local url=$1; shift
  "$LOADGEN" webhooks -spec "$RUN/webhooks.yaml" -url "$url" -ca "$CA" -name bench-webhooks "$@"
}
unregister_all() {
  kc delete validatingwebhookconfigurations,mutatingwebhookconfigurations -l bench.secretgate.io/webhooks=true \
    --ignore-not-found --wait >/dev/null
  kc delete -f bench/apiserver/vap.yaml --ignore-not-found --wait >/dev/null
}
# configure NAME: register what NAME needs; sets WEBHOOK_PID, EXPECT_POD, EXPECT_SECRET, POLICY.
configure() {
  unregister_all
  WEBHOOK_PID=""; EXPECT_POD=""; EXPECT_SECRET=""; POLICY=""
  local sg="https://127.0.0.1:$SG_PORT"
  case $1 in
    none) ;;
    sg-validating)
      webhooks_for "$sg" -mutating=false | kc apply -f - >/dev/null
      WEBHOOK_PID=$(cat "$RUN/pids/secretgate")
      EXPECT_POD=pods.validate.secretgate.io; EXPECT_SECRET=secrets.validate.secretgate.io ;;
    sg-both)
      webhooks_for "$sg" | kc apply -f - >/dev/null
      WEBHOOK_PID=$(cat "$RUN/pids/secretgate")
      EXPECT_POD=pods.validate.secretgate.io,pods.mutate.secretgate.io; EXPECT_SECRET=secrets.validate.secretgate.io ;;
    vap)
      kc apply -f bench/apiserver/vap.yaml >/dev/null
      POLICY=bench-secret-refs ;;
    null | null-patch)
      local port=$NULL_PORT; [ "$1" = null-patch ] && port=$PATCH_PORT
      webhooks_for "https://127.0.0.1:$port" -domain null.bench | kc apply -f - >/dev/null
      WEBHOOK_PID=$(cat "$RUN/pids/$1")
      EXPECT_POD=pods.validate.null.bench,pods.mutate.null.bench; EXPECT_SECRET=secrets.validate.null.bench ;;
    *) die "unknown configuration $1 (none sg-validating sg-both vap null null-patch)" ;;
  esac
  # the API server picks configurations up from its informers; a VAP is type-checked first
  sleep 3
}

APISERVER_PID=$(cat "$RUN/pids/kube-apiserver")
TCK=$(getconf CLK_TCK)
log "control plane and webhooks up; $ROUNDS rounds of ${CONFIGS[*]} (Pods and Secrets, concurrency 1 and 16)"
for round in $(seq 1 "$ROUNDS"); do
  for config in "${CONFIGS[@]}"; do
    configure "$config"
    for object in pod secret; do
      [ "$config" = null-patch ] && [ "$object" = secret ] && continue   # Secrets are not mutated: as null
      expect=$EXPECT_POD; [ "$object" = secret ] && expect=$EXPECT_SECRET
      for c in 1 16; do
        n=$COUNT; [ "$c" = 1 ] && n=$((COUNT / 2))
        watch="apiserver=$APISERVER_PID${WEBHOOK_PID:+,webhook=$WEBHOOK_PID}"
        probe=(); [ -n "$POLICY" ] && probe=(-expect-policy "$POLICY" -probe "bench/apiserver/probe-$object.yaml")
        "${CPU1[@]}" "$LOADGEN" run -kubeconfig "$RUN/admin.kubeconfig" -object "bench/apiserver/$object.yaml" \
          -namespace bench -count "$n" -concurrency "$c" -warmup $((n / 10 + 20)) -watch "$watch" -clk-tck "$TCK" \
          -expect-webhooks "$expect" "${probe[@]}" \
          > "$RUN/raw/$config-$object-c$c-$round.json" 2>"$RUN/logs/loadgen.err" ||
          die "$config $object c=$c round $round: $(cat "$RUN/logs/loadgen.err")"
        log "round $round: $config $object c=$c: $(jq -r '"\(.rps|floor) req/s, p50 \(.latency_ms.p50*100|round/100) ms"' \
          "$RUN/raw/$config-$object-c$c-$round.json")"
      done
    done
  done
done
unregister_all
# for the record (copied to target/bench-apiserver-logs/): live GETs, errors, review counts
curl -s "http://127.0.0.1:$SG_ADMIN/metrics" > "$RUN/logs/secretgate-metrics.txt" || true

mkdir -p "$OUT"
doc=""; [ "$OUT" = bench/results ] && doc=BENCHMARKS.md
"$PY" bench/apiserver_report.py "$RUN/raw" "$OUT" "$doc"
