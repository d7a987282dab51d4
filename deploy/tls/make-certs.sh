#!/usr/bin/env bash
# Make a CA and certificates for the scheduler, workers and clients (for a test cluster;
# use your organisation's CA in production). Usage: deploy/tls/make-certs.sh OUTDIR
set -euo pipefail
out=${1:-tls}
mkdir -p "$out"
openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=aerdask-ca" \
  -keyout "$out/ca-key.pem" -out "$out/ca.pem"
for who in scheduler worker client; do
  openssl req -newkey rsa:3072 -nodes -subj "/CN=aerdask-$who" -keyout "$out/$who-key.pem" -out "$out/$who.csr"
  openssl x509 -req -in "$out/$who.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
    -days 365 -out "$out/$who.pem"
  rm "$out/$who.csr"
done
chmod 600 "$out"/*-key.pem
echo "certificates in $out"
