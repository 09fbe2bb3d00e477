# secretgate on the control plane: the chart installed with real helm in its
# external-server (URL) mode, and `secretgate serve` as a host process that
# authenticates with a token of the chart's own ServiceAccount, so the chart's
# RBAC is exactly what it gets. The server runs the chart's default TLS mode,
# the managed CA (its CA lives in the chart's Secret), and registers the
# webhooks from the chart's spec ConfigMap once ready, as in a cluster.
# Needs $RUN, $K8S_BIN, $HELM, $SECRETGATE.

RELEASE=secretgate
RELEASE_NS=secretgate-system
SG_NAME=secretgate   # the chart's fullname for this release

kc() { "$K8S_BIN/kubectl" --kubeconfig="$RUN/admin.kubeconfig" "$@"; }

# release_install RELEASE NAMESPACE PORT [helm args...]: install or upgrade a
# release whose webhooks call https://127.0.0.1:PORT.
release_install() {
  local release=$1 ns=$2 port=$3; shift 3
  "$HELM" upgrade --install "$release" "$ROOT/charts/secretgate" --kubeconfig "$RUN/admin.kubeconfig" \
    -n "$ns" --create-namespace --reset-values \
    --set externalServer.url="https://127.0.0.1:$port" \
    --set events.dedupWindow=1s "$@" >>"$RUN/logs/helm-$release.log" 2>&1 || {
    tail -n 20 "$RUN/logs/helm-$release.log" >&2; return 1; }
}

# helm_install [helm args...]: the main release; extra args (e.g. -f values.yaml,
# --set secretView=metadata) are passed on.
helm_install() {
  : "${WEBHOOK_PORT:=$(free_port)}"
  release_install "$RELEASE" "$RELEASE_NS" "$WEBHOOK_PORT" "$@"
}

# sync_policy NAME CONFIGMAP NAMESPACE: what the kubelet does for a ConfigMap
# volume: the policy under $RUN/policy-NAME.d/ as config.yaml -> ..data/config.yaml,
# ..data -> ..<version>, the new version swapped in with one rename.
# $RUN/policy-NAME.yaml points at it (what `secretgate review` is given).
sync_policy() {
  local name=$1 cm=$2 ns=$3 dir="$RUN/policy-$1.d"
  mkdir -p "$dir"
  kc get configmap "$cm" -n "$ns" -o jsonpath='{.data.config\.yaml}' > "$dir/incoming" || return 1
  swap_policy "$name" "$dir/incoming"
}

# swap_policy NAME FILE: swap FILE in as the policy of server NAME (see sync_policy).
swap_policy() {
  local name=$1 file=$2 dir="$RUN/policy-$1.d" version old
  version="..$(date +%s%N)"
  mkdir -p "$dir/$version"
  cp "$file" "$dir/$version/config.yaml"
  old=$(readlink "$dir/..data" 2>/dev/null || true)
  ln -sfn "$version" "$dir/..data_tmp" && mv -T "$dir/..data_tmp" "$dir/..data"
  [ -z "$old" ] || rm -rf "${dir:?}/$old"
  [ -L "$dir/config.yaml" ] || ln -s ..data/config.yaml "$dir/config.yaml"
  ln -sfn "$dir/config.yaml" "$RUN/policy-$name.yaml"
}

# release_serve NAME RELEASE NAMESPACE PORT ADMIN_PORT [serve flags...]: run the
# server of a release as process NAME, with the release's policy and a token of
# its ServiceAccount, and wait until it is ready.
release_serve() {
  local name=$1 release=$2 ns=$3 port=$4 admin=$5; shift 5
  local fullname=$release
  [[ "$release" == *secretgate* ]] || fullname="$release-secretgate"
  sync_policy "$name" "$fullname" "$ns" || return 1
  local token
  token=$(kc create token "$fullname" -n "$ns" --duration=24h)
  write_kubeconfig "$RUN/$name.kubeconfig" "https://127.0.0.1:$APISERVER_PORT" token "$token"
  # TLS: the managed CA, unless TLS_FILES names a directory with tls.crt and tls.key
  # signed by the e2e webhook CA (then registered from --webhook-ca-file)
  local tls=(--tls-ca-secret="$fullname-ca" --tls-hosts=127.0.0.1 --tls-ca-overlap=3s)
  [ -z "${TLS_FILES:-}" ] || tls=(--tls-cert-file="$TLS_FILES/tls.crt" --tls-key-file="$TLS_FILES/tls.key"
    --tls-reload-interval=1s --webhook-ca-file="$RUN/pki/webhook-ca.crt")
  KUBECONFIG="$RUN/$name.kubeconfig" start "$name" "$RUN/logs/$name.log" "$SECRETGATE" serve \
    --listen="127.0.0.1:$port" --admin-listen="127.0.0.1:$admin" --namespace="$ns" "${tls[@]}" \
    --webhook-configmap="$fullname-webhooks" --resync-interval=1s \
    --config="$RUN/policy-$name.d/config.yaml" --config-reload-interval=1s --reporting-instance=e2e-host \
    --audit-interval="${E2E_AUDIT_INTERVAL:-3s}" --audit-lease="$fullname-audit" --audit-report-name="$fullname" \
    --audit-report-owner="$fullname" \
    --audit-skip-namespace="$ns,kube-system,kube-public,kube-node-lease" \
    --shutdown-grace-period=5s --log-level="${SECRETGATE_E2E_LOG:-info}" "$@"
  wait_for "$name" "$RUN/logs/$name.log" 60 curl -sf "http://127.0.0.1:$admin/readyz"
}

# registered NAME: whether both webhook configurations NAME carry webhooks.
registered() {
  local v m
  v=$(kc get validatingwebhookconfiguration "$1" -o jsonpath='{.webhooks[*].name}' 2>/dev/null) || return 1
  m=$(kc get mutatingwebhookconfiguration "$1" -o jsonpath='{.webhooks[*].name}' 2>/dev/null) || return 1
  [ -n "$v" ] && [ -n "$m" ]
}

# The API server calls the webhooks with the caBundle it has: wait until the
# registered bundle holds the CA that signs the serving certificate now.
bundle_current() { # NAME NAMESPACE
  local ca bundle
  ca=$(kc get secret "$1-ca" -n "$2" -o jsonpath='{.data.ca\.crt}' | base64 -d | tr -d '\n') || return 1
  bundle=$(kc get validatingwebhookconfiguration "$1" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' |
    base64 -d | tr -d '\n') || return 1
  [ -n "$ca" ] && [[ "$bundle" == *"${ca:30:200}"* ]]
}

# start_secretgate [serve flags...]: the main release's server, ready and registered.
start_secretgate() {
  : "${ADMIN_PORT:=$(free_port)}"
  release_serve secretgate "$RELEASE" "$RELEASE_NS" "$WEBHOOK_PORT" "$ADMIN_PORT" "$@" || return 1
  wait_for secretgate "$RUN/logs/secretgate.log" 30 registered "$SG_NAME" || return 1
  wait_for secretgate "$RUN/logs/secretgate.log" 30 bundle_current "$SG_NAME" "$RELEASE_NS"
}

stop_secretgate() { stop secretgate; }

readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz"; }
metrics() { curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics"; }

# Restart the server (as a rollout would), with the flags in SECRETGATE_FLAGS.
restart_secretgate() {
  stop_secretgate
  start_secretgate "${SECRETGATE_FLAGS[@]}" || fail "secretgate did not come back"
}
SECRETGATE_FLAGS=()
