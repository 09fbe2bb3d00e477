# Scenarios a-d and g: Pod validation through the real API server.
M=$E2E_DIR/manifests
NS=e2e-apps

scenario_a() { # a Pod referencing a missing Secret
  expect_refused 'admission webhook "pods.validate.secretgate.io" denied the request' \
    '[pod-secret-exists] spec.volumes[0].secret.secretName' 'does-not-exist' \
    -- apply -f "$M/a-pod-missing-secret.yaml"
  same_in_review "$M/a-pod-missing-secret.yaml"
  kubectl_run get pod missing-ref -n $NS
  [ "$(cat "$RUN/rc")" != 0 ] || fail "the refused Pod exists"
}

scenario_b() { # a Secret and a Pod using it in one apply, Secret first
  expect_admitted -- apply -f "$M/b-secret-then-pod.yaml"
  grep -qF 'pod/uses-fresh created' "$RUN/out" || fail "pod not created: $(cat "$RUN/out")"
  same_in_review "$M/b-pod.yaml"
}

scenario_c() { # enforce-mountable-secrets through a projected volume
  expect_refused 'admission webhook "pods.validate.secretgate.io" denied the request' \
    '[pod-mountable-secrets] spec.volumes[0].projected.sources[0].secret.name' 'api-token' \
    -- apply -f "$M/c-pod-projected-unlisted.yaml"
  same_in_review "$M/c-pod-projected-unlisted.yaml"
}

# ephemeral_update POD SECRET: write $RUN/POD-new.json (the Pod plus an ephemeral
# container whose envFrom names SECRET) and $RUN/POD-review.json (the same
# request as the API server sends it, for `secretgate review`).
ephemeral_update() {
  kc get pod "$1" -n $NS -o json > "$RUN/$1-old.json"
  python3 - "$RUN/$1-old.json" "$RUN/$1-new.json" "$RUN/$1-review.json" "$2" <<'PY'
import json, sys
old = json.load(open(sys.argv[1]))
new = json.loads(json.dumps(old))
new["spec"]["ephemeralContainers"] = [{
    "name": "debugger", "image": "registry.example/debug:1",
    "envFrom": [{"secretRef": {"name": sys.argv[4]}}],
}]
json.dump(new, open(sys.argv[2], "w"))
gvk = {"group": "", "version": "v1", "kind": "Pod"}
gvr = {"group": "", "version": "v1", "resource": "pods"}
json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "e2e-d", "kind": gvk, "resource": gvr, "subResource": "ephemeralcontainers",
    "requestKind": gvk, "requestResource": gvr, "requestSubResource": "ephemeralcontainers",
    "name": old["metadata"]["name"], "namespace": old["metadata"]["namespace"], "operation": "UPDATE",
    "userInfo": {"username": "e2e-admin", "groups": ["system:masters"]},
    "object": new, "oldObject": old, "dryRun": False}}, open(sys.argv[3], "w"))
PY
}

no_ephemeral_containers() {
  kc get pod "$1" -n $NS -o json > "$RUN/$1-after.json"
  json_check "$RUN/$1-after.json" 'not o["spec"].get("ephemeralContainers")' "the ephemeral container was added to $1"
}

scenario_d() { # ephemeral containers added through the ephemeralcontainers subresource
  expect_admitted -- apply -f "$M/d-pods-debug-targets.yaml"
  # envFrom naming a Secret the restricted ServiceAccount does not list: since
  # Kubernetes 1.37 the in-tree ServiceAccount plugin refuses it before any webhook
  ephemeral_update debug-restricted api-token
  expect_refused 'ephemeral container debugger with envFrom referencing secret.secretName="api-token" is not allowed' \
    -- replace --raw "/api/v1/namespaces/$NS/pods/debug-restricted/ephemeralcontainers" -f "$RUN/debug-restricted-new.json"
  same_in_review "$RUN/debug-restricted-review.json" --decision-only
  no_ephemeral_containers debug-restricted
  # envFrom naming a Secret that does not exist: only secretgate refuses it
  ephemeral_update debug-open no-such-secret
  expect_refused 'admission webhook "pods.validate.secretgate.io" denied the request' \
    '[pod-secret-exists] spec.ephemeralContainers[0].envFrom[0].secretRef.name' \
    -- replace --raw "/api/v1/namespaces/$NS/pods/debug-open/ephemeralcontainers" -f "$RUN/debug-open-new.json"
  same_in_review "$RUN/debug-open-review.json"
  no_ephemeral_containers debug-open
}

scenario_g() { # a server-side dry run of a denied Pod: the same denial, and no Event
  expect_admitted -- apply -f "$M/g-owner.yaml"
  local uid; uid=$(kc get rs g-owner -n $NS -o jsonpath='{.metadata.uid}')
  sed "s/OWNER_UID/$uid/" "$M/g-pod.yaml.in" > "$RUN/g-pod.yaml"
  expect_refused '[pod-secret-exists] spec.volumes[0].secret.secretName' -- apply --dry-run=server -f "$RUN/g-pod.yaml"
  same_in_review "$RUN/g-pod.yaml"
  local dry_message; dry_message=$(grep -o '\[pod-secret-exists\].*' "$RUN/err")
  sleep 3   # longer than the Event queue takes to send (and than the 1 s dedup window)
  g_events() { kc get events -n $NS --field-selector involvedObject.name=g-owner -o json; }
  g_events > "$RUN/g-events.json"
  json_check "$RUN/g-events.json" 'len(o["items"]) == 0' "a dry run recorded an Event"
  # the control: the same Pod for real is denied alike and records the Event
  expect_refused "$dry_message" -- apply -f "$RUN/g-pod.yaml"
  has_event() { g_events > "$RUN/g-events.json" && json_true "$RUN/g-events.json" \
    'any(e["reason"] == "InvalidEnvironmentVariableNames" for e in o["items"])'; }
  eventually 20 "the Event of the real create" has_event
}
