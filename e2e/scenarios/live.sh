# Scenarios i and j: the live view under the chart's RBAC, and an API server restart.

secret_count() { metrics | awk '$1 == "secretgate_cluster_objects{kind=\"Secret\"}" {print $2}'; }
confirmed_found() { metrics | awk '/^secretgate_cluster_confirmations_total\{/ && /result="found"/ {n += $2} END {print n + 0}'; }

deleted_secret_denies() {
  expect_admitted -- create secret generic ephemeral -n $NS --from-literal=k=v
  expect_admitted -- apply --dry-run=server -f "$M/i-pod-uses-ephemeral.yaml"
  expect_admitted -- delete secret ephemeral -n $NS
  expect_refused '[pod-secret-exists] spec.volumes[0].secret.secretName' 'ephemeral' \
    -- apply --dry-run=server -f "$M/i-pod-uses-ephemeral.yaml"
  same_in_review "$M/i-pod-uses-ephemeral.yaml"
}

scenario_i() {
  deleted_secret_denies
  # the same with --secret-view metadata and the chart's RBAC for that mode
  helm_install --set secretView=metadata || fail "helm upgrade to secretView=metadata"
  SECRETGATE_FLAGS=(--secret-view=metadata)
  restart_secretgate
  deleted_secret_denies
  # in metadata mode no Secret value reaches the process; key checks report unknown, not missing
  expect_admitted -- apply --dry-run=server -f "$M/b-pod.yaml"
  helm_install || fail "helm upgrade back to secretView=keys"
  SECRETGATE_FLAGS=()
  restart_secretgate
}

scenario_j() {
  local before found_before
  before=$(secret_count); found_before=$(confirmed_found)
  [ -n "$before" ] || fail "no secretgate_cluster_objects{kind=\"Secret\"} metric"
  stop_apiserver
  not_ready() { [ "$(readyz)" = 503 ]; }
  eventually 30 "/readyz answering 503 while the API server is down" not_ready
  curl -s "http://127.0.0.1:$ADMIN_PORT/readyz" > "$RUN/j-readyz.txt"
  grep -q 'watch failed' "$RUN/j-readyz.txt" || fail "/readyz does not say why: $(cat "$RUN/j-readyz.txt")"
  sleep 2
  start_apiserver || fail "kube-apiserver did not come back"
  # created while secretgate's watch is still down (it retries with a backoff)
  expect_admitted -- create secret generic after-restart -n $NS --from-literal=k=v
  ready() { [ "$(readyz)" = 200 ]; }
  eventually 60 "/readyz answering 200 once the view re-listed" ready
  seen() { [ "$(secret_count)" = $((before + 1)) ]; }
  eventually 30 "the Secret created during the outage in the view's count ($before + 1)" seen
  expect_admitted -- apply --dry-run=server -f "$M/j-pod-after-restart.yaml"
  same_in_review "$M/j-pod-after-restart.yaml"
  [ "$(confirmed_found)" = "$found_before" ] || fail "the Pod was admitted by a confirming GET, not by the resynced view"
  grep -q 'Re-listed after a watch failure' "$RUN/logs/secretgate.log" || fail "no re-list logged"
}
