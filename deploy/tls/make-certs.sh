#!/usr/bin/env bash
# Make a CA and certificates for the scheduler, workers and clients (for a test cluster;
# use your organisation's CA in production). Usage: deploy/tls/make-certs.sh OUTDIR [CADIR]
#
# OUTDIR gets ca.pem and each role's certificate and key, what the cluster's machines need, and
# dask-tls.yaml: Dask's settings that use them (copy it into ~/.config/dask/).
# The CA's key goes to CADIR (default OUTDIR-ca), kept apart: whoever holds it can sign a
# certificate the cluster accepts, so it is never copied where the certificates go.
set -euo pipefail
umask 077  # every file and directory made here is the owner's alone, from the moment it exists
out=${1:-tls}
cadir=${2:-$out-ca}
mkdir -p "$out" "$cadir"
chmod 700 "$out" "$cadir"  # directories that existed before keep no wider mode
openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=aerdask-ca" \
  -keyout "$cadir/ca-key.pem" -out "$out/ca.pem" 2>/dev/null
for who in scheduler worker client; do
  openssl req -newkey rsa:3072 -nodes -subj "/CN=aerdask-$who" -keyout "$out/$who-key.pem" \
    -out "$cadir/$who.csr" 2>/dev/null
  openssl x509 -req -in "$cadir/$who.csr" -CA "$out/ca.pem" -CAkey "$cadir/ca-key.pem" \
    -CAserial "$cadir/ca.srl" -CAcreateserial -days 365 -out "$out/$who.pem" 2>/dev/null
  rm "$cadir/$who.csr"
done
# Dask's TLS settings for these files (absolute paths: Dask does not expand ~ or $HOME), to put in
# ~/.config/dask/ (or DASK_CONFIG) wherever a scheduler, worker or client runs.
dir=$(cd "$out" && pwd)
cat > "$out/dask-tls.yaml" <<YAML
distributed:
  comm:
    require-encryption: true
    tls:
      ca-file: $dir/ca.pem
      scheduler: {cert: $dir/scheduler.pem, key: $dir/scheduler-key.pem}
      worker: {cert: $dir/worker.pem, key: $dir/worker-key.pem}
      client: {cert: $dir/client.pem, key: $dir/client-key.pem}
  scheduler:
    dashboard:
      tls: {ca-file: $dir/ca.pem, cert: $dir/scheduler.pem, key: $dir/scheduler-key.pem}
YAML
echo "certificates in $out (Dask's settings for them: $out/dask-tls.yaml); the CA's key in $cadir (keep it off the cluster)"
