# Scenario r: two replicas of a release start at the same moment with an empty
# CA Secret: one CA wins (the writes carry resourceVersions), and both serve
# certificates that the registered caBundle trusts.

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
  stop side; stop side-2
  "$HELM" uninstall "$SIDE" -n "$SIDE_NS" --kubeconfig "$RUN/admin.kubeconfig" >&2 || fail "helm uninstall"
  kc delete namespace "$SIDE_NS" --wait=false >&2 || true
  eventually 60 "namespace $SIDE_NS gone" bash -c "! '$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get namespace $SIDE_NS"
}
