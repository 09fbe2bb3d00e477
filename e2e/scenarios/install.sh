# Scenarios n and o: a second release ("side", namespace sg-side) whose server
# is not running, then running, then gone: what blocks writes and what does not.

SIDE=side
SIDE_NS=sg-side
SIDE_NAME=side-secretgate

side_configurations() {
  kc get validatingwebhookconfigurations,mutatingwebhookconfigurations -o json | python3 -c '
import json, sys
items = [o for o in json.load(sys.stdin)["items"] if o["metadata"]["name"] == sys.argv[1]]
print(" ".join(sorted("%s/%s:%d" % (o["kind"], o["metadata"]["name"], len(o.get("webhooks") or [])) for o in items)))
' "$SIDE_NAME"
}

# Writes that any registered, unanswered Fail webhook of the side release would refuse.
valid_writes_admitted() {
  expect_admitted -- run "side-$1" -n $NS --image=registry.example/app:1 --restart=Never --dry-run=server
  expect_admitted -- create secret generic "side-$1" -n $NS --from-literal=k=v --dry-run=server
}

# Whether every side webhook configuration is gone or empty.
side_blocks_nothing() { ! side_configurations | grep -qE ':[1-9]'; }

side_up() {
  SIDE_PORT=$(free_port); SIDE_ADMIN=$(free_port)
  release_install "$SIDE" "$SIDE_NS" "$SIDE_PORT" || fail "helm install of the side release"
}

scenario_n() { # never ready blocks nothing; once ready it enforces; uninstall --no-hooks leaves nothing
  side_up
  # installed, no server: the configurations exist and are empty
  local configs; configs=$(side_configurations)
  echo "side release installed, no server: $configs" >&2
  [ "$configs" = "MutatingWebhookConfiguration/$SIDE_NAME:0 ValidatingWebhookConfiguration/$SIDE_NAME:0" ] ||
    fail "expected both side configurations, empty: $configs"
  valid_writes_admitted never-ready
  # ready: it registers, and a bad Pod is denied by it
  release_serve side "$SIDE" "$SIDE_NS" "$SIDE_PORT" "$SIDE_ADMIN" || fail "the side server did not start"
  eventually 30 "the side server registers its webhooks" registered "$SIDE_NAME"
  eventually 30 "the side caBundle holds its CA" bundle_current "$SIDE_NAME" "$SIDE_NS"
  expect_refused '"pods.validate.secretgate.io"' '[pod-secret-exists]' -- apply -f "$M/a-pod-missing-secret.yaml"
  local owner
  owner=$(kc get validatingwebhookconfiguration "$SIDE_NAME" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')
  [ "$owner" = "Namespace/$SIDE_NS" ] || fail "the side configuration is not owned by its namespace: $owner"
  # down after ready: fails closed
  stop side
  expect_refused "failed calling webhook \"secrets.validate.secretgate.io\"" \
    -- create secret generic side-down -n $NS --from-literal=k=v --dry-run=server
  # helm uninstall --no-hooks: nothing refuses a write within 60 s
  local t0=$SECONDS
  "$HELM" uninstall "$SIDE" -n "$SIDE_NS" --no-hooks --kubeconfig "$RUN/admin.kubeconfig" >&2 ||
    fail "helm uninstall --no-hooks"
  eventually 60 "no side webhook configuration after helm uninstall --no-hooks" side_blocks_nothing
  echo "helm uninstall --no-hooks: nothing blocking after $((SECONDS - t0)) s ($(side_configurations))" >&2
  valid_writes_admitted after-uninstall
  kc delete namespace "$SIDE_NS" --wait=false >&2 || true
  eventually 60 "namespace $SIDE_NS gone" bash -c "! '$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get namespace $SIDE_NS"
}

scenario_o() { # deleting the release namespace: withdrawn by a running server, collected with a stopped one
  local how t0
  for how in running stopped; do
    side_up
    release_serve side "$SIDE" "$SIDE_NS" "$SIDE_PORT" "$SIDE_ADMIN" || fail "the side server did not start"
    eventually 30 "the side server registers its webhooks" registered "$SIDE_NAME"
    [ "$how" = running ] || stop side
    t0=$SECONDS
    kc delete namespace "$SIDE_NS" --wait=false >&2 || fail "delete namespace $SIDE_NS"
    eventually 60 "nothing of the side release blocks writes after its namespace was deleted (server $how)" \
      side_blocks_nothing
    echo "namespace deleted, server $how: nothing blocking after $((SECONDS - t0)) s ($(side_configurations))" >&2
    valid_writes_admitted "ns-$how"
    stop side
    eventually 60 "namespace $SIDE_NS gone" bash -c "! '$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get namespace $SIDE_NS"
    # the garbage collector removes the configurations once the namespace is gone
    eventually 60 "the side configurations collected with their namespace" \
      bash -c "[ -z \"\$('$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get validatingwebhookconfigurations,mutatingwebhookconfigurations -o name | grep '/$SIDE_NAME\$')\" ]"
  done
}

scenario_p() { # helm test's probe: the hook's own RBAC, dry runs answered by secretgate
  # the test hook's ServiceAccount, Role and RoleBinding as the chart renders them (no kubelet
  # here to run its Pod: the probe runs as a host process with that ServiceAccount's token)
  "$HELM" template "$RELEASE" "$ROOT/charts/secretgate" -n "$RELEASE_NS" --set image.repository=unused \
    --set test.namespace=$NS --show-only templates/tests/probe.yaml > "$RUN/p-hook.yaml" ||
    fail "rendering the test hook"
  python3 - "$RUN/p-hook.yaml" > "$RUN/p-rbac.yaml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
print("\n---\n".join(d for d in docs if "\nkind: Pod\n" not in d))
PY
  kc apply -f "$RUN/p-rbac.yaml" >&2 || fail "applying the test hook's RBAC"
  local token; token=$(kc create token "$SG_NAME-test" -n "$RELEASE_NS" --duration=1h)
  write_kubeconfig "$RUN/probe.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" token "$token"
  local rc=0
  KUBECONFIG="$RUN/probe.kubeconfig" "$SECRETGATE" probe --namespace=$NS > "$RUN/p-out.txt" 2>&1 || rc=$?
  cat "$RUN/p-out.txt" >&2
  [ "$rc" = 0 ] || fail "secretgate probe exited $rc: $(cat "$RUN/p-out.txt")"
  grep -qF 'denied by secretgate: admission webhook "pods.validate.secretgate.io" denied the request' "$RUN/p-out.txt" ||
    fail "the Pod dry run was not denied by secretgate"
  grep -qF "admitted with secretgate's warning: [secret-hygiene]" "$RUN/p-out.txt" ||
    fail "the Secret dry run carried no [secret-hygiene] warning"
  # in a skipped namespace nothing answers: the probe says so and fails
  rc=0
  KUBECONFIG="$RUN/admin.kubeconfig" "$SECRETGATE" probe --namespace=kube-system > "$RUN/p-skipped.txt" 2>&1 || rc=$?
  cat "$RUN/p-skipped.txt" >&2
  [ "$rc" = 1 ] || fail "probe in a skipped namespace exited $rc, not 1"
  grep -qF 'admitted without a [pod-secret-exists] warning or denial from secretgate' "$RUN/p-skipped.txt" ||
    fail "the probe did not explain the unanswered dry run"
  kc delete -f "$RUN/p-rbac.yaml" >&2
}

scenario_q() { # certificate files (as with cert-manager): caBundle from --webhook-ca-file, rotated under load
  side_up
  pki_webhook_pair "$RUN/side-tls"
  TLS_FILES="$RUN/side-tls" release_serve side "$SIDE" "$SIDE_NS" "$SIDE_PORT" "$SIDE_ADMIN" ||
    fail "the side server did not start with certificate files"
  eventually 30 "the side server registers its webhooks" registered "$SIDE_NAME"
  local want got
  want=$(base64 -w0 "$RUN/pki/webhook-ca.crt")
  got=$(kc get validatingwebhookconfiguration "$SIDE_NAME" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [ "$got" = "$want" ] || fail "the registered caBundle is not the --webhook-ca-file"
  curl -sf "http://127.0.0.1:$SIDE_ADMIN/metrics" | grep -qx 'secretgate_webhooks_registered 1' ||
    fail "secretgate_webhooks_registered is not 1"
  # eight rotations of the files (the kubelet's ..data swap) during 200 dry runs
  ( for i in $(seq 8); do sleep 1; pki_webhook_pair "$RUN/side-tls"; done ) &
  local rotator=$! failures=0 i
  for i in $(seq 200); do
    kc create secret generic "files-$i" -n $NS --from-literal=k=v --dry-run=server -o name \
      >/dev/null 2>>"$RUN/q-errors.txt" || failures=$((failures + 1))
  done
  wait "$rotator"
  local reloads
  reloads=$(curl -sf "http://127.0.0.1:$SIDE_ADMIN/metrics" | awk '/^secretgate_tls_reloads_total\{outcome="success"\}/ {print $2}')
  echo "200 dry runs during 8 rotations of the files: $failures failures, $reloads reloads so far" >&2
  [ "$failures" = 0 ] || fail "$failures of 200 dry runs failed: $(head -c 2000 "$RUN/q-errors.txt")"
  stop side
  "$HELM" uninstall "$SIDE" -n "$SIDE_NS" --kubeconfig "$RUN/admin.kubeconfig" >&2 || fail "helm uninstall"
  kc delete namespace "$SIDE_NS" --wait=false >&2 || true
  eventually 60 "namespace $SIDE_NS gone" bash -c "! '$K8S_BIN/kubectl' --kubeconfig='$RUN/admin.kubeconfig' get namespace $SIDE_NS"
}
