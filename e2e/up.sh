#!/usr/bin/env bash
# Leave a real control plane with secretgate installed running on loopback:
# upstream etcd, kube-apiserver and kube-controller-manager, the chart
# installed with helm, `secretgate serve` as a host process. No kind, no Docker.
# Stop it with `bash e2e/down.sh`. State and logs: .tools/e2e/up/.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
for f in pki cluster secretgate check setup; do source "$E2E_DIR/lib/$f.sh"; done

RUN=$ROOT/.tools/e2e/up
for f in "$RUN"/pids/*; do
  if [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    die "a control plane from e2e/up.sh is already running; stop it with: bash e2e/down.sh"
  fi
done
rm -rf "$RUN" && mkdir -p "$RUN"
prepare_tools
trap 'log "start-up failed; tearing down"; stop_all' ERR
bring_up
kc delete mutatingwebhookconfiguration zz-e2e-labeler --ignore-not-found >/dev/null
stop labeler
trap - ERR
cat <<MSG

secretgate is serving a real kube-apiserver $(basename "$(dirname "$K8S_BIN")") on 127.0.0.1 (logs: $RUN/logs/).
  export KUBECONFIG=$RUN/admin.kubeconfig PATH=${K8S_BIN%/}:\$PATH

Try it (namespace e2e-apps has Secrets and ServiceAccounts from e2e/manifests/base.yaml):
  kubectl apply -f $E2E_DIR/manifests/a-pod-missing-secret.yaml      # refused: [pod-secret-exists]
  kubectl apply -f $E2E_DIR/manifests/e-pod-injected.yaml && kubectl get pod injected -n e2e-apps -o yaml
  curl -s http://127.0.0.1:$ADMIN_PORT/metrics | grep ^secretgate_
Stop it: bash e2e/down.sh
MSG
