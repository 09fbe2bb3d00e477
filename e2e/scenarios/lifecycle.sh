# Scenarios l and k: the managed CA rotating under load, then failurePolicy
# with the server down and helm uninstall.

served_fingerprint() {
  openssl s_client -connect "127.0.0.1:$WEBHOOK_PORT" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
log_count() { grep -c -- "$1" "$RUN/logs/secretgate.log" || true; }

scenario_l() { # CA and serving certificate rotation (short lifetimes) during kubectl calls
  # a fresh CA living 60 s: a successor at 40 s, signing 3 s after every webhook trusts it;
  # serving certificates living 15 s, renewed every 10 s
  stop_secretgate
  kc patch secret "$SG_NAME-ca" -n "$RELEASE_NS" --type=json -p '[{"op":"remove","path":"/data"}]' >&2
  start_secretgate --tls-ca-validity=60s --tls-leaf-validity=15s ||
    fail "secretgate did not start with short lifetimes"
  local first; first=$(served_fingerprint)
  local promoted0; promoted0=$(log_count 'step="promoted"\|step=promoted')
  local failures=0 calls=0 deadline=$((SECONDS + 75))
  : > "$RUN/l-errors.txt"
  while [ "$SECONDS" -lt "$deadline" ]; do
    calls=$((calls + 1))
    if ! kc create secret generic "rotating-$calls" -n $NS --from-literal=k=v --dry-run=server -o name \
        >/dev/null 2>>"$RUN/l-errors.txt"; then
      failures=$((failures + 1))
    fi
    if ! kc run "rotating-$calls" -n $NS --image=registry.example/app:1 --restart=Never --dry-run=server \
        -o name >/dev/null 2>>"$RUN/l-errors.txt"; then
      failures=$((failures + 1))
    fi
    calls=$((calls + 1))
  done
  local issued promoted prepared
  issued=$(log_count 'Serving certificate issued by the managed CA')
  prepared=$(log_count 'step="prepared"\|step=prepared')
  promoted=$(($(log_count 'step="promoted"\|step=promoted') - promoted0))
  echo "$calls server-side dry runs in 75 s, $failures failures; $issued serving certificates issued, successor CAs prepared $prepared, promoted $promoted" >&2
  [ "$failures" = 0 ] || fail "$failures of $calls dry runs failed: $(head -c 2000 "$RUN/l-errors.txt")"
  [ "$issued" -ge 5 ] || fail "only $issued serving certificates issued in 75 s (leaf validity 15 s)"
  [ "$promoted" -ge 1 ] || fail "no successor CA was promoted in 75 s (CA validity 60 s)"
  [ "$(served_fingerprint)" != "$first" ] || fail "the served certificate did not change"
  # back to the default lifetimes: the short-lived CA is replaced the same way
  restart_secretgate
  long_lived() {
    kc get secret "$SG_NAME-ca" -n "$RELEASE_NS" -o jsonpath='{.data.ca\.crt}' | base64 -d |
      openssl x509 -noout -checkend $((300 * 86400)) >/dev/null
  }
  eventually 30 "the 60 s CA replaced by a 365-day one" long_lived
  # an operator asks for a graceful rotation: a successor, trusted first, then signing
  local before; before=$(log_count 'step="promoted"\|step=promoted')
  kc annotate secret "$SG_NAME-ca" -n "$RELEASE_NS" secretgate.io/rotate-ca=now >&2
  rotated() {
    [ "$(log_count 'step="promoted"\|step=promoted')" -gt "$before" ] &&
      [ -z "$(kc get secret "$SG_NAME-ca" -n "$RELEASE_NS" -o jsonpath='{.metadata.annotations.secretgate\.io/rotate-ca}')" ]
  }
  eventually 30 "the rotation asked for with secretgate.io/rotate-ca" rotated
  eventually 30 "the registered caBundle holds the new CA" bundle_current "$SG_NAME" "$RELEASE_NS"
  expect_admitted -- create secret generic after-rotation -n $NS --from-literal=k=v --dry-run=server
}

no_release_reports() { ! kc get policyreports -A --field-selector "metadata.name=$SG_NAME" -o name | grep -q .; }

scenario_k() {
  stop_secretgate
  # registered webhooks stay: failurePolicy Fail for Pods and Secrets, Ignore for workloads and mutation
  expect_refused 'failed calling webhook "pods.validate.secretgate.io"' \
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
  kc get validatingwebhookconfigurations,mutatingwebhookconfigurations -o name | grep -v zz-e2e-labeler \
    > "$RUN/k-left.txt" || true
  [ ! -s "$RUN/k-left.txt" ] || fail "webhook configurations left after uninstall: $(cat "$RUN/k-left.txt")"
  # the audit's PolicyReports are owned by the validating configuration: collected with it
  eventually 30 "no PolicyReport of the release left" no_release_reports
  expect_admitted -- apply -f "$M/a-pod-missing-secret.yaml" --dry-run=server
  expect_admitted -- create secret generic after-uninstall -n $NS --from-literal=k=v
}
