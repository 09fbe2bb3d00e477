#!/usr/bin/env bash
# Lint the chart and validate its rendered manifests offline, for every TLS
# mode and a few value combinations, against the oldest and newest Kubernetes
# versions kubernetes-validate knows at or above 1.30.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/helm/helm
KV=.tools/venv/bin/kubernetes-validate
CHART=charts/secretgate
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

combos=(
  "default|"
  "selfsigned-metadata|--set secretView=metadata --set replicaCount=3"
  "certmanager|--set tls.mode=certManager"
  "certmanager-issuer|--set tls.mode=certManager --set tls.certManager.issuerRef.name=corp-ca --set tls.certManager.issuerRef.kind=ClusterIssuer"
  "external|--set tls.mode=external --set tls.external.secretName=secretgate-tls --set tls.external.caBundle=Zm9v"
  "monitoring|--set serviceMonitor.enabled=true --set prometheusRule.enabled=true"
  "warn-first|--set policy.rules.pod-secret-exists.action=warn --set policy.rules.pod-mountable-secrets.action=warn --set webhook.failurePolicy=Ignore"
  "minimal|--set webhook.mutating.enabled=false --set podDisruptionBudget.enabled=false --set topologySpread.enabled=false --set replicaCount=1"
  "no-events-no-workloads|--set events.enabled=false --set webhook.workloads.enabled=false --set policy.workloads.action=off"
)

for combo in "${combos[@]}"; do
  name=${combo%%|*}
  args=${combo#*|}
  # shellcheck disable=SC2086
  "$HELM" lint --strict --quiet "$CHART" -n secretgate $args >/dev/null
  # shellcheck disable=SC2086
  "$HELM" template secretgate "$CHART" -n secretgate $args > "$OUT/$name.yaml"
  for k8s in 1.30.0 1.37.0; do
    "$KV" --strict --quiet --no-warn -k "$k8s" "$OUT/$name.yaml"
  done
  echo "chart: $name: lint ok, valid for Kubernetes 1.30.0 and 1.37.0 ($(grep -c '^kind:' "$OUT/$name.yaml") objects)"
done

# a typo in the values must fail
if "$HELM" lint --strict --quiet "$CHART" --set webhook.timeoutSecond=5 >/dev/null 2>&1; then
  echo "chart: values.schema.json accepted an unknown key" >&2
  exit 1
fi
echo "chart: values.schema.json refuses unknown keys"
