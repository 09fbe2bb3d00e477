# What run.sh and up.sh share: the tools (built when missing) and a control
# plane with secretgate installed and serving.

# Build or find everything; sets K8S_BIN, HELM, SECRETGATE, LABELER.
prepare_tools() {
  need_host_tools
  if ! command -v go >/dev/null; then
    [ "${CI:-}" != true ] || die "go is required under CI (Go >= 1.26 with the module proxy)"
    log "skipped: go is not installed; the control plane is built from Go modules (Go >= 1.26)"
    echo "e2e: 0 passed, 0 failed, 18 skipped"
    exit 0
  fi
  local t0=$SECONDS
  K8S_BIN=$(bash "$E2E_DIR/build-k8s.sh" | tail -n 1) || die "building the control plane failed (see above)"
  HELM=${SECRETGATE_HELM:-$ROOT/.tools/helm/helm}
  [ -x "$HELM" ] || bash "$ROOT/.ci/chart-tools.sh" >&2 || die "installing helm failed"
  log "building secretgate (cargo build --locked)"
  (cd "$ROOT" && cargo build --locked --quiet --bin secretgate) || die "cargo build failed"
  SECRETGATE=$ROOT/target/debug/secretgate
  LABELER=$ROOT/.tools/e2e/bin/labeler
  (cd "$E2E_DIR/labeler" && CGO_ENABLED=0 go build -o "$LABELER" .) || die "building e2e/labeler failed"
  log "tools ready in $((SECONDS - t0)) s"
}

# Control plane, base objects, the chart, the server and the second webhook.
bring_up() {
  cluster_up
  kc apply -f "$E2E_DIR/manifests/base.yaml" >"$RUN/logs/base.log" 2>&1 || die "applying e2e/manifests/base.yaml failed"
  wait_for kube-controller-manager "$RUN/logs/kube-controller-manager.log" 60 \
    kc get serviceaccount default -n e2e-apps || die "no default ServiceAccount in e2e-apps"
  audit_plant || die "planting the audit's objects failed (log: $RUN/logs/base.log)"
  helm_install || die "helm install failed (log: $RUN/logs/helm.log)"
  start_secretgate || die "secretgate did not become ready"
  pki_webhook_pair "$RUN/webhook-tls"   # the labeler's own serving pair
  LABELER_PORT=$(free_port)
  start labeler "$RUN/logs/labeler.log" "$LABELER" --listen="127.0.0.1:$LABELER_PORT" \
    --tls-cert-file="$RUN/webhook-tls/tls.crt" --tls-key-file="$RUN/webhook-tls/tls.key"
  wait_for labeler "$RUN/logs/labeler.log" 30 curl -sf --cacert "$RUN/pki/webhook-ca.crt" \
    "https://127.0.0.1:$LABELER_PORT/healthz" || die "the labeler webhook did not start"
}
