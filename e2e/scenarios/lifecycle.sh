# Scenarios l and k: certificate rotation under load, then failurePolicy and uninstall.

serving_fingerprint() {
  openssl s_client -connect "127.0.0.1:$WEBHOOK_PORT" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256
}

reloads() { metrics | awk '/^secretgate_tls_reloads_total\{/ && /outcome="success"/ {n += $2} END {print n + 0}'; }

scenario_l() {
  local first failures=0 i before
  first=$(serving_fingerprint)
  before=$(reloads)
  (
    for i in $(seq 8); do sleep 1; pki_webhook_pair "$RUN/webhook-tls"; done
  ) &
  local rotator=$!
  for i in $(seq 200); do
    if ! kc create secret generic "rotating-$i" -n $NS --from-literal=k=v --dry-run=server -o name \
        >/dev/null 2>>"$RUN/l-errors.txt"; then
      failures=$((failures + 1))
    fi
  done
  wait "$rotator"
  echo "200 dry-run creates, $failures failures" >&2
  [ "$failures" = 0 ] || fail "$failures of 200 dry-run creates failed: $(head -c 2000 "$RUN/l-errors.txt")"
  # the last rotation may land after the loop: the poller (1 s) picks it up
  all_reloaded() { [ "$(reloads)" -ge $((before + 8)) ]; }
  eventually 15 "8 successful TLS reloads after the 8 rotations" all_reloaded
  local last; last=$(openssl x509 -in "$RUN/webhook-tls/tls.crt" -noout -fingerprint -sha256)
  [ "$(serving_fingerprint)" = "$last" ] || fail "the served certificate is not the last one rotated in"
  [ "$last" != "$first" ] || fail "the certificate did not change"
}

scenario_k() {
  stop_secretgate
  # the chart's defaults: failurePolicy Fail for Pods and Secrets, Ignore for workloads
  expect_refused 'failed calling webhook "pods.mutate.secretgate.io"' \
    -- run while-down -n $NS --image=registry.example/app:1 --restart=Never --dry-run=server
  expect_refused 'failed calling webhook "secrets.validate.secretgate.io"' \
    -- create secret generic while-down -n $NS --from-literal=k=v
  expect_admitted -- create deployment while-down -n $NS --image=registry.example/app:1 --replicas=0
  # kube-system and the release namespace are never sent to the webhooks
  expect_admitted -- run system-pod -n kube-system --image=registry.example/app:1 --restart=Never
  expect_admitted -- create secret generic release-ns-secret -n "$RELEASE_NS" --from-literal=k=v
  # after helm uninstall every write is admitted and no webhook configuration is left
  "$HELM" uninstall "$RELEASE" -n "$RELEASE_NS" --kubeconfig "$RUN/admin.kubeconfig" --wait >&2 ||
    fail "helm uninstall"
  kc get validatingwebhookconfigurations,mutatingwebhookconfigurations -o name > "$RUN/k-left.txt"
  [ ! -s "$RUN/k-left.txt" ] || fail "webhook configurations left after uninstall: $(cat "$RUN/k-left.txt")"
  expect_admitted -- apply -f "$M/a-pod-missing-secret.yaml" --dry-run=server
  expect_admitted -- create secret generic after-uninstall -n $NS --from-literal=k=v
}
