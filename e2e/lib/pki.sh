# The run's PKI, made fresh with openssl for every run and removed with it:
# a cluster CA (API server serving and client certificates), the
# ServiceAccount signing key, and a separate CA for the webhook's serving
# certificate, whose leaves scenario (l) rotates.

# ca DIR NAME: a self-signed CA (DIR/NAME.crt, DIR/NAME.key).
pki_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}

# leaf DIR CA NAME SUBJECT EXT: a certificate signed by DIR/CA, with the openssl
# extensions in EXT, separated by ';' (e.g. subjectAltName=IP:127.0.0.1;extendedKeyUsage=serverAuth).
pki_leaf() {
  local dir=$1 ca=$2 name=$3 subj=$4 ext=$5
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" | tr ';' '\n' | sed 's/^\([a-zA-Z]*\)=/\1 = /' > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 600 "$dir/$name.key"
}

pki_cluster() {
  local d=$RUN/pki
  mkdir -p "$d"
  pki_ca "$d" ca
  pki_leaf "$d" ca apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc;extendedKeyUsage=serverAuth"
  pki_leaf "$d" ca admin "/O=system:masters/CN=e2e-admin" "extendedKeyUsage=clientAuth"
  pki_leaf "$d" ca kcm "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  pki_ca "$d" webhook-ca
}

# A new webhook serving pair, signed by the webhook CA, written into DIR as
# tls.crt/tls.key by a kubelet-style atomic ..data symlink swap.
pki_webhook_pair() {
  local dir=$1 d=$RUN/pki gen
  gen=$(date +%s%N)
  pki_leaf "$d" webhook-ca "webhook-$gen" "/CN=secretgate-e2e" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost;extendedKeyUsage=serverAuth"
  mkdir -p "$dir/..$gen"
  mv "$d/webhook-$gen.crt" "$dir/..$gen/tls.crt"
  mv "$d/webhook-$gen.key" "$dir/..$gen/tls.key"
  ln -sfn "..$gen" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  [ -L "$dir/tls.crt" ] || ln -s ..data/tls.crt "$dir/tls.crt"
  [ -L "$dir/tls.key" ] || ln -s ..data/tls.key "$dir/tls.key"
  # the previous generation, as the kubelet does
  find "$dir" -maxdepth 1 -name '..[0-9]*' ! -name "..$gen" -exec rm -rf {} +
}

# kubeconfig FILE SERVER [cert NAME | token TOKEN]
write_kubeconfig() {
  local file=$1 server=$2 how=$3 what=$4 d=$RUN/pki user
  case $how in
    cert) user="    client-certificate-data: $(base64 -w0 "$d/$what.crt")
    client-key-data: $(base64 -w0 "$d/$what.key")" ;;
    token) user="    token: $what" ;;
  esac
  umask 077
  cat > "$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$d/ca.crt")
users:
- name: e2e
  user:
$user
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e}
current-context: e2e
KUBECONFIG
  umask 022
}
