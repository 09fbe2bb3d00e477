# Scenario e: the mutating webhook through the real API server, reinvoked.

scenario_e() {
  sed -e "s/LABELER_PORT/$LABELER_PORT/" -e "s/CA_BUNDLE/$(base64 -w0 "$RUN/pki/webhook-ca.crt")/" \
    "$M/labeler-webhook.yaml.in" > "$RUN/labeler-webhook.yaml"
  expect_admitted -- apply -f "$RUN/labeler-webhook.yaml"
  expect_admitted -- apply -f "$M/e-pod-injected.yaml"
  same_in_review "$M/e-pod-injected.yaml" --webhook mutate
  kc delete -f "$RUN/labeler-webhook.yaml" >/dev/null
  kc get pod injected -n $NS -o json > "$RUN/e-pod.json"
  json_check "$RUN/e-pod.json" \
    '[s["name"] for s in o["spec"]["imagePullSecrets"]] == ["own-registry", "regcred"]' \
    "imagePullSecrets are not the Pod's own followed by the ServiceAccount's"
  json_check "$RUN/e-pod.json" \
    'o["metadata"]["annotations"].get("secretgate.io/injected-secrets") == "db-creds,api-token"' \
    "the injected-secrets annotation is missing or wrong"
  json_check "$RUN/e-pod.json" \
    'o["metadata"]["labels"].get("e2e.secretgate.io/labeled") == "true"' "the second webhook did not run"
  # the ServiceAccount admission plugin's token volume and mounts are intact
  json_check "$RUN/e-pod.json" '
    [v["name"].split("-")[0:3] for v in o["spec"]["volumes"] if v.get("projected") and
      any("serviceAccountToken" in s for s in v["projected"]["sources"])] == [["kube", "api", "access"]]' \
    "the kube-api-access token volume is not there once"
  json_check "$RUN/e-pod.json" '
    all(sum(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" for m in c["volumeMounts"]) == 1
        for c in o["spec"]["containers"] + o["spec"]["initContainers"])' \
    "a container lost (or got twice) the ServiceAccount token mount"
  # the Secrets are mounted PodPreset-style, once each, in every container
  json_check "$RUN/e-pod.json" '
    all(sorted(m["mountPath"] for m in c["volumeMounts"] if m["mountPath"].startswith("/var/run/secrets/secretgate.io/"))
        == ["/var/run/secrets/secretgate.io/api-token", "/var/run/secrets/secretgate.io/db-creds"]
        for c in o["spec"]["containers"] + o["spec"]["initContainers"])' \
    "the injected mounts are not exactly db-creds and api-token in each container"
  json_check "$RUN/e-pod.json" '
    sorted(v["secret"]["secretName"] for v in o["spec"]["volumes"] if v.get("secret")) == ["api-token", "db-creds"]' \
    "the injected volumes are not exactly db-creds and api-token"
  # the audit log: secretgate mutated in round 0; reinvoked in round 1, it changed nothing
  python3 - "$RUN/logs/audit.log" > "$RUN/e-rounds.txt" <<'PY' || fail "webhook rounds in the audit log: $(cat "$RUN/e-rounds.txt")"
import json, sys
rounds = {}
for line in open(sys.argv[1]):
    event = json.loads(line)
    ref = event.get("objectRef", {})
    if event.get("stage") != "ResponseComplete" or ref.get("name") != "injected" or ref.get("namespace") != "e2e-apps":
        continue
    for key, value in event.get("annotations", {}).items():
        if key.startswith("mutation.webhook.admission.k8s.io/round_"):
            value = json.loads(value)
            if value["webhook"] == "pods.mutate.secretgate.io":
                rounds[int(key.split("round_")[1].split("_")[0])] = value.get("mutated", False)
print(rounds)
sys.exit(0 if rounds == {0: True, 1: False} else 1)
PY
  echo "secretgate's rounds (round: mutated): $(cat "$RUN/e-rounds.txt")" >&2
}
