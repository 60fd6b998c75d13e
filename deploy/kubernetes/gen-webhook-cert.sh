#!/usr/bin/env bash
# Webhook TLS without cert-manager: makes a private CA and a serving certificate for the
# webhook Service with openssl, stores them in the Secret the controller mounts
# (mulambda-system/mulambda-webhook-tls: tls.crt, tls.key, ca.crt) and writes the CA into the
# MutatingWebhookConfiguration's caBundle.
#
#   deploy/kubernetes/gen-webhook-cert.sh                 # after kubectl apply -k .../overlays/minimal
#   deploy/kubernetes/gen-webhook-cert.sh --dry-run --out-dir /tmp/certs   # no cluster: files only
#
# Run it again to renew (default validity: 365 days); the controller reloads the files when the
# kubelet updates the mounted Secret (within about a minute). Needs openssl (1.1.1 or later) and,
# unless --dry-run, kubectl with access to the cluster.
set -euo pipefail

namespace=mulambda-system
service=mulambda-webhook
secret=mulambda-webhook-tls
webhook_config=mulambda-sidecar-injector
days=365
out_dir=
dry_run=0

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  cat <<USAGE
Options:
  --namespace NS        namespace of the controller and its Service  [$namespace]
  --service NAME        webhook Service name                          [$service]
  --secret NAME         TLS Secret mounted by the controller          [$secret]
  --webhook-config NAME MutatingWebhookConfiguration to patch          [$webhook_config]
  --days N              validity of the certificates in days          [$days]
  --out-dir DIR         keep the generated files in DIR (default: a temporary directory)
  --dry-run             do not touch the cluster; print the Secret and the patch instead
  -h, --help            this help
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --namespace) namespace=$2; shift 2 ;;
    --service) service=$2; shift 2 ;;
    --secret) secret=$2; shift 2 ;;
    --webhook-config) webhook_config=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gen-webhook-cert.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

[[ "$days" =~ ^[1-9][0-9]*$ ]] || { echo "gen-webhook-cert.sh: --days must be a positive integer, got '$days'" >&2; exit 2; }
command -v openssl >/dev/null || { echo "gen-webhook-cert.sh: openssl not found" >&2; exit 1; }
if [[ $dry_run -eq 0 ]]; then
  command -v kubectl >/dev/null || { echo "gen-webhook-cert.sh: kubectl not found (or use --dry-run)" >&2; exit 1; }
fi

if [[ -z "$out_dir" ]]; then
  out_dir=$(mktemp -d)
  trap 'rm -rf "$out_dir"' EXIT
else
  mkdir -p "$out_dir"
fi
umask 077

dns="${service}.${namespace}.svc"
cat >"$out_dir/server.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:${dns}, DNS:${dns}.cluster.local, DNS:${service}.${namespace}, DNS:${service}
EXT

# CA (ECDSA P-256), then the serving key (PKCS#8) and certificate signed by it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out_dir/ca.key" 2>/dev/null
openssl req -x509 -new -key "$out_dir/ca.key" -sha256 -days "$days" \
  -subj "/O=mulambda/CN=mulambda webhook CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$out_dir/ca.crt"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out_dir/tls.key" 2>/dev/null
openssl req -new -key "$out_dir/tls.key" -subj "/O=mulambda/CN=${dns}" -out "$out_dir/server.csr"
openssl x509 -req -in "$out_dir/server.csr" -CA "$out_dir/ca.crt" -CAkey "$out_dir/ca.key" \
  -CAcreateserial -sha256 -days "$days" -extfile "$out_dir/server.ext" -out "$out_dir/tls.crt" 2>/dev/null
openssl verify -CAfile "$out_dir/ca.crt" "$out_dir/tls.crt" >/dev/null

ca_bundle=$(base64 <"$out_dir/ca.crt" | tr -d '\n')
patch="[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"${ca_bundle}\"}]"

secret_manifest() {
  cat <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: ${secret}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: mulambda
data:
  tls.crt: $(base64 <"$out_dir/tls.crt" | tr -d '\n')
  tls.key: $(base64 <"$out_dir/tls.key" | tr -d '\n')
  ca.crt: ${ca_bundle}
YAML
}

if [[ $dry_run -eq 1 ]]; then
  secret_manifest >"$out_dir/secret.yaml"
  printf '%s\n' "$patch" >"$out_dir/webhook-patch.json"
  echo "dry run: wrote $out_dir/{ca.crt,tls.crt,tls.key,secret.yaml,webhook-patch.json}"
  echo "apply with: kubectl apply -f $out_dir/secret.yaml && kubectl patch mutatingwebhookconfiguration $webhook_config --type=json --patch-file $out_dir/webhook-patch.json"
  exit 0
fi

secret_manifest | kubectl apply -f -
kubectl patch mutatingwebhookconfiguration "$webhook_config" --type=json -p "$patch"
echo "webhook certificate for ${dns} installed (valid ${days} days); caBundle patched in ${webhook_config}"
