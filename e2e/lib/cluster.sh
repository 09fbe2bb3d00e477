# The control plane: etcd, kube-apiserver (RBAC, ServiceAccount issuer, the
# ServiceAccount admission plugin on, an audit log of webhook rounds) and
# kube-controller-manager, all upstream binaries on 127.0.0.1 with free ports.
# Needs $RUN, $K8S_BIN (from build-k8s.sh) and pki_cluster done.

start_etcd() {
  ETCD_PORT=$(free_port); local peer; peer=$(free_port)
  mkdir -p "$RUN/etcd"
  start etcd "$RUN/logs/etcd.log" "$K8S_BIN/etcd" --name=e2e --data-dir="$RUN/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
    --initial-cluster="e2e=http://127.0.0.1:$peer" --unsafe-no-fsync --log-level=warn
  wait_for etcd "$RUN/logs/etcd.log" 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

# Which writes the audit log records: one Metadata entry per Pod create, which
# carries the mutating webhooks' round/index annotations (scenario e).
write_audit_policy() {
  cat > "$RUN/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources: [{group: "", resources: ["pods"]}]
    verbs: ["create"]
  - level: None
POLICY
}

start_apiserver() {
  local d=$RUN/pki
  : "${APISERVER_PORT:=$(free_port)}"
  [ -f "$RUN/audit-policy.yaml" ] || write_audit_policy
  mkdir -p "$RUN/apiserver-certs"
  start kube-apiserver "$RUN/logs/kube-apiserver.log" "$K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --cert-dir="$RUN/apiserver-certs" --client-ca-file="$d/ca.crt" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --audit-policy-file="$RUN/audit-policy.yaml" --audit-log-path="$RUN/logs/audit.log" \
    --audit-log-mode=blocking --profiling=false --v=1 ${APISERVER_EXTRA_FLAGS:-}
  wait_for kube-apiserver "$RUN/logs/kube-apiserver.log" 180 \
    curl -sf --cacert "$d/ca.crt" --cert "$d/admin.crt" --key "$d/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

# kube-apiserver finishes its graceful termination in well under a second here
# but then lingers; after 5 s it is killed (also what scenario j's outage is).
stop_apiserver() { stop kube-apiserver 5; }

start_controller_manager() {
  local d=$RUN/pki
  write_kubeconfig "$RUN/kcm.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" cert kcm
  local port; port=$(free_port)
  start kube-controller-manager "$RUN/logs/kube-controller-manager.log" "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$RUN/kcm.kubeconfig" --authentication-kubeconfig="$RUN/kcm.kubeconfig" \
    --authorization-kubeconfig="$RUN/kcm.kubeconfig" \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$d/sa.key" --root-ca-file="$d/ca.crt" \
    --controllers=serviceaccount-controller,serviceaccount-token-controller,deployment-controller,replicaset-controller,job-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller \
    --bind-address=127.0.0.1 --secure-port="$port" --cert-dir="$RUN/kcm-certs" --v=1
  wait_for kube-controller-manager "$RUN/logs/kube-controller-manager.log" 120 \
    curl -sfk "https://127.0.0.1:$port/healthz"
  # the ServiceAccount controller is running once `default` exists
  wait_for kube-controller-manager "$RUN/logs/kube-controller-manager.log" 60 \
    "$K8S_BIN/kubectl" --kubeconfig="$RUN/admin.kubeconfig" get serviceaccount default -n default
}

# The whole control plane, an admin kubeconfig in $RUN/admin.kubeconfig.
cluster_up() {
  mkdir -p "$RUN/logs"
  pki_cluster
  local t0=$SECONDS
  start_etcd || die "etcd did not come up"
  start_apiserver || die "kube-apiserver did not come up"
  write_kubeconfig "$RUN/admin.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" cert admin
  start_controller_manager || die "kube-controller-manager did not come up"
  log "control plane up in $((SECONDS - t0)) s: https://127.0.0.1:$APISERVER_PORT"
}
