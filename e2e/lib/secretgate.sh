# secretgate on the control plane: the chart installed with real helm in its
# external-server (URL) mode, and `secretgate serve` as a host process that
# authenticates with a token of the chart's own ServiceAccount, so the chart's
# RBAC is exactly what it gets. Needs $RUN, $K8S_BIN, $HELM, $SECRETGATE.

RELEASE=secretgate
RELEASE_NS=secretgate-system
SG_NAME=secretgate   # the chart's fullname for this release

kc() { "$K8S_BIN/kubectl" --kubeconfig="$RUN/admin.kubeconfig" "$@"; }

# helm_install [helm args...]: install or upgrade the release; extra args
# (e.g. -f values.yaml, --set secretView=metadata) are passed on.
helm_install() {
  : "${WEBHOOK_PORT:=$(free_port)}"
  "$HELM" upgrade --install "$RELEASE" "$ROOT/charts/secretgate" --kubeconfig "$RUN/admin.kubeconfig" \
    -n "$RELEASE_NS" --create-namespace --reset-values \
    --set externalServer.url="https://127.0.0.1:$WEBHOOK_PORT" \
    --set externalServer.caBundle="$(base64 -w0 "$RUN/pki/webhook-ca.crt")" \
    --set events.dedupWindow=1s "$@" >"$RUN/logs/helm.log" 2>&1 || {
    tail -n 20 "$RUN/logs/helm.log" >&2; return 1; }
}

# The server's inputs, taken from what the chart installed: the policy from
# its ConfigMap, a token of its ServiceAccount.
secretgate_inputs() {
  kc get configmap "$SG_NAME" -n "$RELEASE_NS" -o jsonpath='{.data.config\.yaml}' > "$RUN/policy.yaml"
  local token
  token=$(kc create token "$SG_NAME" -n "$RELEASE_NS" --duration=24h)
  write_kubeconfig "$RUN/secretgate.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" token "$token"
  [ -L "$RUN/webhook-tls/..data" ] || pki_webhook_pair "$RUN/webhook-tls"
}

# start_secretgate [serve flags...]
start_secretgate() {
  secretgate_inputs
  : "${ADMIN_PORT:=$(free_port)}"
  KUBECONFIG="$RUN/secretgate.kubeconfig" start secretgate "$RUN/logs/secretgate.log" "$SECRETGATE" serve \
    --listen="127.0.0.1:$WEBHOOK_PORT" --admin-listen="127.0.0.1:$ADMIN_PORT" \
    --tls-cert-file="$RUN/webhook-tls/tls.crt" --tls-key-file="$RUN/webhook-tls/tls.key" \
    --tls-reload-interval=1s --config="$RUN/policy.yaml" --reporting-instance=e2e-host \
    --shutdown-grace-period=5s --log-level="${SECRETGATE_E2E_LOG:-info}" "$@"
  wait_for secretgate "$RUN/logs/secretgate.log" 60 curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"
}

stop_secretgate() { stop secretgate; }

readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz"; }
metrics() { curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics"; }

# Restart the server (as a rollout would), with the flags in SECRETGATE_FLAGS.
restart_secretgate() {
  stop_secretgate
  start_secretgate "${SECRETGATE_FLAGS[@]}" || fail "secretgate did not come back"
}
SECRETGATE_FLAGS=()
