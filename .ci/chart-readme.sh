#!/usr/bin/env bash
# The chart README's values table, generated from values.yaml's `# --` comments
# by helm-docs (pinned; `go install` verifies it against the Go checksum
# database). `bash .ci/chart-readme.sh` rewrites charts/secretgate/README.md;
# `--check` fails when the committed file is not what helm-docs generates.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.14.2
BIN=.tools/bin/helm-docs
if [ ! -x "$BIN" ] || [ "$(cat "$BIN.version" 2>/dev/null)" != "$VERSION" ]; then
  command -v go >/dev/null || { echo "chart-readme: go is required to build helm-docs $VERSION" >&2; exit 1; }
  echo "installing helm-docs $VERSION"
  GOBIN="$PWD/.tools/bin" go install "github.com/norwoodj/helm-docs/cmd/helm-docs@$VERSION"
  echo "$VERSION" > "$BIN.version"
fi
args=(--chart-search-root charts --template-files README.md.gotmpl --log-level warning)
if [ "${1:-}" = --check ]; then
  want=$(mktemp); trap 'rm -f "$want"' EXIT
  "$BIN" "${args[@]}" --dry-run > "$want"
  if ! diff -u charts/secretgate/README.md "$want" > /dev/null; then
    diff -u charts/secretgate/README.md "$want" | head -40 >&2
    echo "chart-readme: charts/secretgate/README.md is stale: run bash .ci/chart-readme.sh and commit it" >&2
    exit 1
  fi
  # every value is in the table with a description (a `# --` comment in values.yaml)
  if grep -E '^\| [^|]+ \| [^|]+ \| .* \|  ?\|$' charts/secretgate/README.md >&2; then
    echo "chart-readme: the values above have no description: add a \`# --\` comment in values.yaml" >&2
    exit 1
  fi
  echo "chart-readme: charts/secretgate/README.md is current; every value has a description"
else
  "$BIN" "${args[@]}"
fi
