# Scenario f: workload templates warn; the controllers' Pods are checked.

rs_of() { kc get rs -n $NS -l "app=$1" -o json; }

scenario_f() {
  expect_admitted 'Warning: [pod-secret-exists] spec.template.spec.volumes[0].secret.secretName' \
    -- apply -f "$M/f-deployment-missing-secret.yaml"
  same_in_review "$M/f-deployment-missing-secret.yaml"
  refused_pods_shown() { rs_of missing-ref > "$RUN/f-rs.json" && json_true "$RUN/f-rs.json" '
    any(c["type"] == "ReplicaFailure" and "[pod-secret-exists] spec.volumes[0].secret.secretName" in c["message"]
        for rs in o["items"] for c in rs["status"].get("conditions", []))'; }
  eventually 60 "the ReplicaSet's ReplicaFailure condition naming [pod-secret-exists]" refused_pods_shown
  kc get pods -n $NS -l app=missing-ref -o json > "$RUN/f-pods.json"
  json_check "$RUN/f-pods.json" 'len(o["items"]) == 0' "a Pod of missing-ref was admitted"

  expect_admitted 'Warning: [pod-envfrom-names]' -- apply -f "$M/f-deployment-env-names.yaml"
  same_in_review "$M/f-deployment-env-names.yaml"
  pods_created() { kc get pods -n $NS -l app=env-names -o json > "$RUN/f-pods.json" &&
    json_true "$RUN/f-pods.json" 'len(o["items"]) >= 1'; }
  eventually 60 "the Pods of env-names" pods_created
  event_on_rs() { kc get events -n $NS --field-selector reason=InvalidEnvironmentVariableNames -o json > "$RUN/f-events.json" &&
    json_true "$RUN/f-events.json" '
      any(e["involvedObject"]["kind"] == "ReplicaSet" and e["involvedObject"]["name"].startswith("env-names-")
          and "[pod-envfrom-names]" in e["message"] for e in o["items"])'; }
  eventually 30 "an InvalidEnvironmentVariableNames Event on the ReplicaSet of env-names" event_on_rs
}
