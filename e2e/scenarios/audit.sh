# The audit on the real control plane: problems planted before the chart was
# installed appear in the namespace's PolicyReport with their rule ids, a fix
# removes its result on the next pass, a namespace with nothing left loses its
# report, and the metrics agree. The server audits every 3 s here
# (E2E_AUDIT_INTERVAL); the Lease is the chart's.

# Before the chart: the objects of e2e/manifests/s-audit-planted.yaml, a TLS
# Secret expiring in 3 days, and the ServiceAccount annotation that makes the
# existing Pod locked-out break enforce-mountable-secrets.
audit_plant() {
  kc create namespace e2e-audit >>"$RUN/logs/base.log" 2>&1 || return 1
  local i
  for i in $(seq 60); do kc get serviceaccount default -n e2e-audit >/dev/null 2>&1 && break; sleep 0.5; done
  kc apply -f "$E2E_DIR/manifests/s-audit-planted.yaml" >>"$RUN/logs/base.log" 2>&1 || return 1
  local d=$RUN/audit-tls; mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 \
    -subj "/CN=shop.e2e" -keyout "$d/tls.key" -out "$d/tls.crt" 2>/dev/null || return 1
  kc create secret tls shop-tls -n e2e-audit --cert="$d/tls.crt" --key="$d/tls.key" >>"$RUN/logs/base.log" 2>&1 || return 1
  kc annotate serviceaccount locked -n e2e-audit kubernetes.io/enforce-mountable-secrets=true >>"$RUN/logs/base.log" 2>&1
}

# report NAMESPACE: the PolicyReport secretgate wrote there (JSON), or fails.
report() { kc get policyreport "$SG_NAME" -n "$1" -o json 2>/dev/null; }

# result_of NAMESPACE KIND NAME RULE: "result action" of that result, or nothing.
result_of() {
  report "$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)
kind, name, rule = sys.argv[1:4]
for x in r.get("results", []):
    res = x["resources"][0]
    if res["kind"] == kind and res["name"] == name and x["rule"] == rule:
        print(x["result"], x["properties"]["action"])' "$2" "$3" "$4"
}

has_result() { [ "$(result_of "$@" 2>/dev/null)" != "" ]; }
no_result() { report "$1" >/dev/null && [ "$(result_of "$@")" = "" ]; }
# metric_value SERIES: the value of one series of the main server (empty when absent).
metric_value() { metrics | awk -v m="$1" '$1 == m {print $2}'; }
metric_is() { [ "$(metric_value "$1")" = "$2" ]; }
no_report() { ! report "$1" >/dev/null; }

scenario_s() {
  eventually 60 "a PolicyReport result for Pod orphan" has_result e2e-audit Pod orphan pod-secret-exists
  local want=(
    "Pod orphan pod-secret-exists|fail deny"
    "Pod locked-out pod-mountable-secrets|fail deny"
    "Pod configured pod-envfrom-names|warn warn"
    "Deployment web pod-secret-keys|warn warn"
    "Secret shop-tls secret-hygiene|warn warn"
    "Secret api-token secret-hygiene|warn warn"
    "Pod configured pod-secret-env|warn audit"
    "Deployment web pod-secret-env|warn audit"
  )
  local w got
  for w in "${want[@]}"; do
    # shellcheck disable=SC2086
    got=$(result_of e2e-audit ${w%%|*})
    [ "$got" = "${w#*|}" ] || fail "PolicyReport e2e-audit: ${w%%|*}: want '${w#*|}', got '$got'"
    echo "report has ${w%%|*}: $got" >&2
  done
  report e2e-audit > "$RUN/logs/s-report.json"
  if grep -q 'e2e-audit-value' "$RUN/logs/s-report.json"; then fail "a Secret value is in the PolicyReport"; fi
  json_check "$RUN/logs/s-report.json" 'o["summary"]["fail"] == 2 and o["summary"]["warn"] == 6' "summary"
  json_check "$RUN/logs/s-report.json" 'o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "secretgate"' "labels"

  # `secretgate audit` against the live cluster finds the same, and exits 1 (a rule denies)
  local rc=0
  KUBECONFIG="$RUN/admin.kubeconfig" "$SECRETGATE" audit --namespace e2e-audit -o json \
    > "$RUN/logs/s-cli.json" 2> "$RUN/logs/s-cli.err" || rc=$?
  [ "$rc" = 1 ] || fail "secretgate audit exited $rc: $(cat "$RUN/logs/s-cli.err")"
  python3 - "$RUN/logs/s-report.json" "$RUN/logs/s-cli.json" <<'PY' || fail "the CLI and the server's report disagree"
import json, sys
report, cli = (json.load(open(p)) for p in sys.argv[1:3])
served = sorted((r["resources"][0]["kind"], r["resources"][0]["name"], r["rule"], r["properties"]["action"]) for r in report["results"])
listed = sorted((f["kind"], f["name"], f["rule"], f["action"]) for f in cli["findings"])
print("report:", served, "\ncli:   ", listed, file=sys.stderr)
sys.exit(0 if served == listed else 1)
PY
  if grep -q 'e2e-audit-value' "$RUN/logs/s-cli.json" "$RUN/logs/s-cli.err"; then fail "a Secret value in the CLI's output"; fi

  # the metrics say the same (the replica holding the Lease exports them)
  [ "$(metric_value secretgate_audit_leader)" = 1 ] || fail "this replica does not hold the audit Lease"
  kc get lease "$SG_NAME-audit" -n "$RELEASE_NS" -o jsonpath='{.spec.holderIdentity}' | grep -q . || fail "no Lease holder"
  local exists tls
  exists=$(metric_value 'secretgate_audit_findings{action="deny",rule="pod-secret-exists"}')
  tls=$(metric_value 'secretgate_audit_tls_secrets{expiry="7d"}')
  echo "metrics: pod-secret-exists deny $exists, TLS within 7 days $tls" >&2
  [ "${exists:-0}" -ge 1 ] && [ "${tls:-0}" -ge 1 ] || fail "metrics disagree: exists=$exists tls=$tls"
  if metrics | grep '^secretgate_audit' | grep -q 'e2e-audit'; then fail "a namespace in a metric label"; fi

  # a fix removes its result on the next pass, and the metric drops
  kc create secret generic payment-keys -n e2e-audit --from-literal=key=e2e-audit-value-4 >/dev/null
  eventually 30 "the fixed Pod gone from the report" no_result e2e-audit Pod orphan pod-secret-exists
  has_result e2e-audit Pod locked-out pod-mountable-secrets || fail "the other results went with it"
  eventually 10 "the metric dropping to $((exists - 1))" metric_is 'secretgate_audit_findings{action="deny",rule="pod-secret-exists"}' "$((exists - 1))"

  # drift in a second namespace: a Secret deleted under a running Pod; fixed, the report goes
  kc create namespace e2e-audit-2 >/dev/null
  kc create secret generic gone-soon -n e2e-audit-2 --from-literal=k=v >/dev/null
  kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: drifted, namespace: e2e-audit-2}
spec:
  containers: [{name: app, image: e2e/app:1}]
  volumes: [{name: s, secret: {secretName: gone-soon}}]
YAML
  kc delete secret gone-soon -n e2e-audit-2 >/dev/null
  eventually 30 "the drifted Pod reported" has_result e2e-audit-2 Pod drifted pod-secret-exists
  kc delete pod drifted -n e2e-audit-2 --wait=false --grace-period=0 --force >/dev/null 2>&1
  eventually 30 "the report of a namespace with nothing left pruned" no_report e2e-audit-2
  kc delete namespace e2e-audit-2 --wait=false >/dev/null

  # with --secret-view metadata no value reaches the process: the audit lists Secret
  # metadata only, so the Secret rules and key checks drop out; references still resolve
  SECRETGATE_FLAGS=(--secret-view=metadata); restart_secretgate
  eventually 30 "the Secret rules gone from the report" no_result e2e-audit Secret api-token secret-hygiene
  no_result e2e-audit Deployment web pod-secret-keys || fail "a key check with no keys known"
  has_result e2e-audit Pod locked-out pod-mountable-secrets || fail "references are still checked"
  SECRETGATE_FLAGS=(); restart_secretgate
  echo "audit passes: $(metric_value 'secretgate_audit_runs_total{outcome="success"}'), failures: $(metric_value 'secretgate_audit_runs_total{outcome="failure"}')" >&2
}
