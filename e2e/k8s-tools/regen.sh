#!/usr/bin/env bash
# Regenerate go.mod/go.sum of the control-plane tools module from scratch.
# Run only to move to another Kubernetes or etcd version; the result is committed.
#
# k8s.io/kubernetes requires every staging module at v0.0.0 and maps them with
# `replace ... => ./staging/...`, which a dependent module does not inherit.
# The replace list is derived from that module's own go.mod, never written by hand.
set -euo pipefail
cd "$(dirname "$0")"
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"

rm -f go.mod go.sum
go mod init secretgate.dev/e2e/k8s-tools >/dev/null
go mod edit -go=1.26
mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$mod" | awk '{print $1}' | sort -u |
  while read -r m; do go mod edit -replace="$m=$m@$STAGING_VERSION"; done
go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION" -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
go get -tool k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
go mod tidy
go list -m all >/dev/null   # fails on any v0.0.0 left unreplaced
echo "go.mod: kubernetes $KUBE_VERSION, staging $STAGING_VERSION, etcd $ETCD_VERSION"
