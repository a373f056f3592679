#!/usr/bin/env bash
# Creates the webhook's TLS certificate (a CA of its own, 10 years, with openssl), stores it
# as the Secret apm-inject-webhook-tls and puts the CA into the MutatingWebhookConfiguration
# apm-inject. Run after `kubectl apply -f deploy/`; run again to rotate (the webhook re-reads
# the files when the Secret changes). Extra arguments go to kubectl (e.g. --kubeconfig F).
set -euo pipefail
namespace=apm-inject
service=apm-inject-webhook
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=apm-inject webhook CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$service.$namespace.svc" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\n' \
    "$service" "$service" "$namespace" "$service" "$namespace" > "$dir/san.ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 3650 -extfile "$dir/san.ext" -out "$dir/tls.crt" 2>/dev/null
kubectl "$@" -n "$namespace" create secret tls "$service-tls" \
    --cert="$dir/tls.crt" --key="$dir/tls.key" --dry-run=client -o yaml | kubectl "$@" apply -f -
ca=$(base64 -w0 < "$dir/ca.crt")
kubectl "$@" patch mutatingwebhookconfiguration apm-inject --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca\"}]"
