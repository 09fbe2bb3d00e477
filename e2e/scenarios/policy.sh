# Scenario h: a stricter policy set through the chart's values, and which
# Secret checks the API server's own validation answers first.

scenario_h() {
  printf 'policy:\n  rules:\n    secret-size: {maxBytes: 1024}\n' > "$RUN/h-values.yaml"
  # an upgrade leaves the registered webhooks in place: Helm never owns that field
  # (the server is stopped so that it cannot register them again meanwhile)
  stop_secretgate
  helm_install -f "$RUN/h-values.yaml" || fail "helm upgrade with the stricter policy"
  registered "$SG_NAME" || fail "helm upgrade removed the registered webhooks"
  # as the Deployment's checksum/config annotation rolls the Pods, restart the server
  start_secretgate || fail "secretgate did not come back"
  grep -qF 'maxBytes: 1024' "$RUN/policy-secretgate.yaml" || fail "the chart's ConfigMap lacks the policy: $(cat "$RUN/policy-secretgate.yaml")"
  head -c 1500 /dev/zero | tr '\0' x > "$RUN/h-blob"
  kc create secret generic too-big -n $NS --from-file=blob="$RUN/h-blob" --dry-run=client -o yaml > "$RUN/h-secret.yaml"
  expect_refused 'admission webhook "secrets.validate.secretgate.io" denied the request' \
    '[secret-size] data: Too long: may not be more than 1024 bytes (got 1500)' \
    -- create secret generic too-big -n $NS --from-file=blob="$RUN/h-blob"
  same_in_review "$RUN/h-secret.yaml"
  expect_admitted -- create secret generic small-enough -n $NS --from-literal=blob=xxxx
  # invalid keys never reach a webhook: the API server's validation refuses them first
  printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: bad-keys, namespace: %s}\nstringData: {"..hidden": x}\n' $NS > "$RUN/h-bad-keys.yaml"
  expect_refused 'is invalid' 'data[..hidden]' -- apply -f "$RUN/h-bad-keys.yaml"
  ! grep -q secretgate "$RUN/err" || fail "secretgate answered before the API server's validation"
  helm_install || fail "helm upgrade back to the default policy"
  restart_secretgate
}
