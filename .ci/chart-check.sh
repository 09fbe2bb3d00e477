#!/usr/bin/env bash
# Lint the chart and validate its rendered manifests offline, for every values
# file in charts/secretgate/ci/ (each TLS mode and every extra value), against
# every Kubernetes minor from 1.30 to 1.37 (kubernetes-validate, strict):
# - helm lint --strict;
# - two renders of the same values must be byte-identical (GitOps tools diff them);
# - the webhooks the server registers (the spec ConfigMap) are validated as the
#   ValidatingWebhookConfiguration and MutatingWebhookConfiguration it writes;
# - no fixed runAsUser with the OpenShift values; a typo in the values fails;
#   a null list does not crash the render.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/helm/helm
KV=.tools/venv/bin/kubernetes-validate
CHART=charts/secretgate
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
VERSIONS=(1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0 1.36.0 1.37.0)

# The registered configurations, from the spec ConfigMap of a render.
registered() {
  .tools/venv/bin/python - "$1" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "ConfigMap" and "webhooks.yaml" in (doc.get("data") or {}):
        for c in yaml.safe_load(doc["data"]["webhooks.yaml"])["configurations"]:
            print("---")
            print(yaml.safe_dump({"apiVersion": "admissionregistration.k8s.io/v1", "kind": c["kind"],
                                  "metadata": {"name": c["name"]}, "webhooks": c["webhooks"]}))
PY
}

files=()
for values in "$CHART"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  "$HELM" lint --strict --quiet "$CHART" -n secretgate -f "$values" >/dev/null
  "$HELM" template secretgate "$CHART" -n secretgate --include-crds -f "$values" > "$OUT/$name.yaml"
  "$HELM" template secretgate "$CHART" -n secretgate --include-crds -f "$values" > "$OUT/$name.again.yaml"
  cmp -s "$OUT/$name.yaml" "$OUT/$name.again.yaml" || {
    diff "$OUT/$name.yaml" "$OUT/$name.again.yaml" | head -20; echo "chart: $name: two renders differ" >&2; exit 1; }
  registered "$OUT/$name.yaml" > "$OUT/$name.registered.yaml"
  files+=("$OUT/$name.yaml")
  [ -s "$OUT/$name.registered.yaml" ] && files+=("$OUT/$name.registered.yaml")
  echo "chart: $name: lint ok, two renders identical ($(grep -c '^kind:' "$OUT/$name.yaml") objects, $(grep -c '^kind:' "$OUT/$name.registered.yaml") registered configurations)"
done
for k8s in "${VERSIONS[@]}"; do
  "$KV" --strict --quiet --no-warn -k "$k8s" "${files[@]}"
done
echo "chart: every render and registered configuration valid for Kubernetes ${VERSIONS[0]} to ${VERSIONS[-1]}"

if grep -q 'runAsUser' "$OUT/openshift.yaml"; then
  echo "chart: the OpenShift values still render a fixed runAsUser" >&2; exit 1
fi
echo "chart: openshift: no fixed runAsUser"

# a typo in the values must fail
if "$HELM" lint --strict --quiet "$CHART" -f "$CHART/ci/default-values.yaml" --set webhook.timeoutSecond=5 >/dev/null 2>&1; then
  echo "chart: values.schema.json accepted an unknown key" >&2
  exit 1
fi
echo "chart: values.schema.json refuses unknown keys"
# null lists render (they used to crash in prepend while lint passed)
for list in webhook.skipNamespaces webhook.extraSkipNamespaces webhook.namespaceSelectorExpressions webhook.matchConditions; do
  "$HELM" lint --strict --quiet "$CHART" -f "$CHART/ci/default-values.yaml" --set "$list=null" >/dev/null
  "$HELM" template secretgate "$CHART" -f "$CHART/ci/default-values.yaml" --set "$list=null" >/dev/null
done
echo "chart: null lists render"
