# Scenario t: per-namespace policy on the real control plane. A helm upgrade
# with overrides and an exemption reaches the running server without a
# restart (the ConfigMap refreshed as the kubelet does, ..data swap and all);
# relabelling a namespace from env=dev to env=prod changes the answer for the
# next Pod; a requester in an exempted group is admitted and the audit log
# names the exemption; a broken policy file is refused and the last good one
# keeps serving.

refused_now() { ! kc apply --dry-run=server -f "$1" >/dev/null 2>&1; }
admitted_now() { kc apply --dry-run=server -f "$1" >/dev/null 2>&1; }
reload_failed_above() { [ "$(metric_value 'secretgate_config_reloads_total{outcome="failure"}')" -gt "$1" ]; }
reloaded() { [ "$(metric_value 'secretgate_config_reloads_total{outcome="success"}')" -gt "$1" ]; }

scenario_t() {
  local ns=t-shop pod="$E2E_DIR/manifests/t-pod-missing-secret.yaml" pid reloads failures t0
  cat > "$RUN/t-values.yaml" <<'VALUES'
policy:
  overrides:
    - name: development
      namespaces:
        selector: {matchLabels: {env: dev}}
      rules:
        pod-secret-exists: {action: warn}
  exemptions:
    - name: break-glass
      groups: [e2e-break-glass]
      rules: [pod-secret-exists]
VALUES
  kc create namespace $ns >/dev/null
  kc label namespace $ns env=dev >/dev/null
  kc create rolebinding t-editors -n $ns --clusterrole=edit --group=e2e-break-glass --group=e2e-developers >/dev/null
  eventually 30 "the default ServiceAccount of $ns" kc get serviceaccount default -n $ns
  pid=$(cat "$RUN/pids/secretgate")
  reloads=$(metric_value 'secretgate_config_reloads_total{outcome="success"}')

  # the upgrade changes the ConfigMap; the kubelet's refresh of the volume is the swap
  helm_install -f "$RUN/t-values.yaml" || fail "helm upgrade with overrides and an exemption"
  sync_policy secretgate "$SG_NAME" "$RELEASE_NS" || fail "could not read the chart's ConfigMap"
  grep -qF 'name: development' "$RUN/policy-secretgate.yaml" || fail "the ConfigMap lacks the overrides: $(cat "$RUN/policy-secretgate.yaml")"
  eventually 20 "the server reloads the policy" reloaded "$reloads"
  [ "$(cat "$RUN/pids/secretgate")" = "$pid" ] && running secretgate || fail "the server was restarted"
  grep -q 'Policy reloaded' "$RUN/logs/secretgate.log" || fail "no reload in the server's log"

  # env=dev: the override's warn
  expect_admitted 'Warning: [pod-secret-exists]' -- apply --dry-run=server -f "$pod"
  same_in_review "$pod"

  # relabelled to prod: the file's deny, for the next Pod
  kc label namespace $ns env=prod --overwrite >/dev/null
  t0=$SECONDS
  eventually 20 "the relabelled namespace's Pods are denied" refused_now "$pod"
  echo "relabelled dev -> prod: denying after $((SECONDS - t0)) s" >&2
  expect_refused 'admission webhook "pods.validate.secretgate.io" denied the request' \
    '[pod-secret-exists] spec.containers[0].env[0].valueFrom.secretKeyRef.name' -- apply --dry-run=server -f "$pod"
  same_in_review "$pod"

  # an exempted group: admitted, counted as exempt, and the audit log names the exemption
  local exempt0; exempt0=$(metric_value 'secretgate_rule_violations_total{action="exempt",rule="pod-secret-exists"}')
  expect_admitted -- --as=oncall --as-group=e2e-break-glass create --dry-run=server -f "$pod"
  same_in_review "$pod" --as oncall --as-group e2e-break-glass
  [ "$(metric_value 'secretgate_rule_violations_total{action="exempt",rule="pod-secret-exists"}')" -gt "${exempt0:-0}" ] ||
    fail "the exempted violation was not counted"
  eventually 10 "the audit log names the exemption" \
    grep -qF '"pods.validate.secretgate.io/policy":"break-glass"' "$RUN/logs/audit.log"
  grep -F '"pods.validate.secretgate.io/pod-secret-exists":"exempt by break-glass' "$RUN/logs/audit.log" >/dev/null ||
    fail "the audit log does not carry the exempted violation"
  # someone else still is refused
  expect_refused '[pod-secret-exists]' -- --as=dev-user --as-group=e2e-developers create --dry-run=server -f "$pod"

  # a broken policy file: refused, counted, logged with the file; the last good one serves
  failures=$(metric_value 'secretgate_config_reloads_total{outcome="failure"}')
  printf 'rules:\n  pod-secret-exists: {action: dney}\n' > "$RUN/t-broken.yaml"
  swap_policy secretgate "$RUN/t-broken.yaml"
  eventually 20 "the broken policy is refused" reload_failed_above "${failures:-0}"
  grep -F 'New policy refused' "$RUN/logs/secretgate.log" | grep -qF 'rules.pod-secret-exists.action: unknown value' ||
    fail "the refusal does not name the key: $(grep -F 'New policy refused' "$RUN/logs/secretgate.log" | tail -n 1)"
  # the last good policy, dev override included, still decides
  kc label namespace $ns env=dev --overwrite >/dev/null
  eventually 20 "the dev override still applies after the refused reload" admitted_now "$pod"

  # the good-practice rules through the real API server: a credential in a ConfigMap and a
  # legacy token Secret are admitted with a warning that names the key, never the value
  local good="$E2E_DIR/manifests/t-configmap-credentials.yaml"
  expect_admitted 'Warning: [configmap-credentials] data[DATABASE_URL]: looks like a URL with a password' \
    'Warning: [secret-legacy-token] type: a service-account-token Secret' -- apply --dry-run=server -f "$good"
  ! grep -q 'e2e-fake-password' "$RUN/err" || fail "the ConfigMap's password is in kubectl's output"
  ! grep -rq 'e2e-fake-password' "$RUN/logs/secretgate.log" || fail "the ConfigMap's password is in the server's log"
  # an UPDATE that leaves the credential as it was (a label) is not judged again
  expect_admitted 'Warning: [configmap-credentials] data[DATABASE_URL]' -- create -f "$good"
  kubectl_run label configmap t-settings -n t-shop e2e.secretgate.io/relabelled=yes --dry-run=server
  [ "$(cat "$RUN/rc")" = 0 ] || fail "relabelling the ConfigMap failed: $(cat "$RUN/err")"
  ! grep -qF 'configmap-credentials' "$RUN/err" || fail "a label change was judged for the credential already there: $(cat "$RUN/err")"
  kc delete -f "$good" --wait=false >/dev/null

  # back to the chart's default policy
  helm_install || fail "helm upgrade back to the default policy"
  reloads=$(metric_value 'secretgate_config_reloads_total{outcome="success"}')
  sync_policy secretgate "$SG_NAME" "$RELEASE_NS"
  eventually 20 "the default policy is back" reloaded "$reloads"
  kc delete namespace $ns --wait=false >/dev/null
}
