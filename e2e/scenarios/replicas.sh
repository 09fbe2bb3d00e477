# Scenario r: two replicas of a release start at the same moment with an empty
# CA Secret: one CA wins (the writes carry resourceVersions), and both serve
# certificates that the registered caBundle trusts. Exactly one holds the audit
# Lease, and the other takes it over when the holder is killed.

leader_of() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "secretgate_audit_leader" {print $2}'; }
passes_of() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "secretgate_audit_runs_total{outcome=\"success\"}" {print $2}'; }
is_leader() { [ "$(leader_of "$1")" = 1 ]; }
more_passes() { [ "$(passes_of "$1")" -gt "$2" ]; }
one_leader() { local l; l="$(leader_of "$1")$(leader_of "$2")"; [ "$l" = 10 ] || [ "$l" = 01 ]; }

scenario_r() {
  side_up
  local port2 admin2
  port2=$(free_port); admin2=$(free_port)
  # the webhooks call the first replica's port; both register, both must agree
  release_serve side "$SIDE" "$SIDE_NS" "$SIDE_PORT" "$SIDE_ADMIN" & local one=$!
  release_serve side-2 "$SIDE" "$SIDE_NS" "$port2" "$admin2" & local two=$!
  wait "$one" || fail "replica 1 did not start"
  wait "$two" || fail "replica 2 did not start"
  eventually 30 "the side server registers its webhooks" registered "$SIDE_NAME"
  eventually 30 "the registered caBundle holds the CA of the Secret" bundle_current "$SIDE_NAME" "$SIDE_NS"
  local created
  created=$(cat "$RUN/logs/side.log" "$RUN/logs/side-2.log" | grep -c 'step="created"\|step=created' || true)
  echo "CA Secret writes that created a CA: $created (the losing replica reads the winner's)" >&2
  kc get validatingwebhookconfiguration "$SIDE_NAME" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' |
    base64 -d > "$RUN/r-bundle.pem"
  local port
  for port in "$SIDE_PORT" "$port2"; do
    openssl s_client -connect "127.0.0.1:$port" -CAfile "$RUN/r-bundle.pem" -verify_return_error \
      </dev/null >"$RUN/r-verify-$port.txt" 2>&1 ||
      fail "replica on port $port serves a certificate the registered caBundle does not trust: $(tail -5 "$RUN/r-verify-$port.txt")"
  done
  for i in $(seq 20); do
    expect_admitted -- create secret generic "replicas-$i" -n $NS --from-literal=k=v --dry-run=server
  done
  # exactly one replica audits: the Lease holder; when it dies (SIGKILL, no release) the
  # other takes the Lease once it expires, and audits
  eventually 20 "exactly one replica holding the audit Lease" one_leader "$SIDE_ADMIN" "$admin2"
  local holder=side survivor=side-2 survivor_admin=$admin2
  [ "$(leader_of "$SIDE_ADMIN")" = 1 ] || { holder=side-2; survivor=side; survivor_admin=$SIDE_ADMIN; }
  echo "audit Lease held by $holder: $(kc get lease "$SIDE_NAME-audit" -n "$SIDE_NS" -o jsonpath='{.spec.holderIdentity}')" >&2
  local pid; pid=$(cat "$RUN/pids/$holder")
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  rm -f "$RUN/pids/$holder"
  local t0=$SECONDS
  eventually 60 "the surviving replica taking the audit Lease" is_leader "$survivor_admin"
  local passes; passes=$(passes_of "$survivor_admin")
  echo "$survivor took the Lease $((SECONDS - t0)) s after $holder was killed (30 s lease)" >&2
  eventually 20 "the new holder completing an audit pass" more_passes "$survivor_admin" "${passes:-0}"
  stop "$survivor"
  "$HELM" uninstall "$SIDE" -n "$SIDE_NS" --kubeconfig "$RUN/admin.kubeconfig" >&2 || fail "helm uninstall"
  kc delete namespace "$SIDE_NS" --wait=false >&2 || true
  eventually 60 "namespace $SIDE_NS gone" bash -c "! '$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get namespace $SIDE_NS"
}
