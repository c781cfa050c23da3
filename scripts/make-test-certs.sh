#!/usr/bin/env bash
# A throwaway CA and a server certificate for 127.0.0.1/localhost in DIR (for the demo
# and benchmarks; tests make their own): ca.pem, server.pem, server.key.
set -euo pipefail
dir=${1:-.}
cd "$dir"
[ -f server.pem ] && exit 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 365 -subj "/CN=mrv throwaway CA" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
  -subj "/CN=localhost" 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 365 \
  -extfile server.ext 2> /dev/null
chmod 600 ca.key server.key
rm -f server.csr server.ext ca.srl
echo "certificates in $(pwd)"
