#!/usr/bin/env bash
# Build the unmodified upstream control plane (kube-apiserver, kube-controller-manager,
# kubectl, etcd) from the Go tools module in e2e/k8s-tools into
# .tools/k8s/<version>/bin/. Skips every binary that is already there at the right
# version. Prints the bin directory on stdout (last line); progress goes to stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MOD="$ROOT/e2e/k8s-tools"
KUBE_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$MOD/go.mod")
ETCD_VERSION=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$MOD/go.mod")
BIN="$ROOT/.tools/k8s/$KUBE_VERSION/bin"
mkdir -p "$BIN"
log() { echo "build-k8s: $*" >&2; }

command -v go >/dev/null || { log "go is not installed (need Go >= 1.26 with the module proxy)"; exit 2; }

major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN=local

version_of() { # binary
  case $(basename "$1") in
    kubectl) "$1" version --client 2>/dev/null ;;
    *) "$1" --version 2>/dev/null ;;
  esac
}

build() { # name package expected-version-substring ldflags
  local name=$1 pkg=$2 want=$3 flags=$4
  if [ -x "$BIN/$name" ] && version_of "$BIN/$name" | grep -qF -- "$want"; then
    log "$name $want present"; return
  fi
  log "building $name ($pkg)"
  local t0=$SECONDS
  (cd "$MOD" && go build -pgo=off -ldflags="-s -w $flags" -o "$BIN/$name.tmp" "$pkg")
  mv "$BIN/$name.tmp" "$BIN/$name"
  log "$name built in $((SECONDS - t0)) s"
}

build etcd go.etcd.io/etcd/server/v3 "${ETCD_VERSION#v}" ""
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_VERSION" "$stamp"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$KUBE_VERSION" "$stamp"
build kubectl k8s.io/kubernetes/cmd/kubectl "$KUBE_VERSION" "$stamp"
echo "$BIN"
