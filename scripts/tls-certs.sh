#!/usr/bin/env bash
# Makes the PEM files of Strom's TLS (security.ssl.internal.* / security.ssl.rest.*) with openssl:
# a CA, and a certificate it signs for the hosts given, usable by servers and clients alike.
#
#   scripts/tls-certs.sh DIR [SAN ...]     e.g. scripts/tls-certs.sh /etc/strom/tls IP:10.0.0.1 DNS:jm-1
#
#   DIR/ca.pem    the truststore (the CA's certificate; DIR/ca.key signs more certificates)
#   DIR/node.pem  the keystore (the certificate, then its unencrypted private key)
#
# Without SANs the certificate names 127.0.0.1 and localhost. A cluster may share one keystore
# (name every host in it, or set security.ssl.verify-hostname: false) or give each host its own,
# signed by the same CA (run again with CA=DIR/ca to reuse that CA).
set -euo pipefail
out=${1:?usage: tls-certs.sh DIR [SAN ...]}
shift
sans=("$@")
[ ${#sans[@]} -gt 0 ] || sans=(IP:127.0.0.1 DNS:localhost)
mkdir -p "$out"
cd "$out"
ca=${CA:-}
if [ -z "$ca" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Strom cluster CA" -keyout ca.key -out ca.pem 2>/dev/null
    ca=ca
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=strom" \
    -keyout node.key -out node.csr 2>/dev/null
ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
san_list=$(IFS=,; echo "${sans[*]}")
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$san_list" >"$ext"
openssl x509 -req -in node.csr -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 825 \
    -extfile "$ext" -out node.crt 2>/dev/null
cat node.crt node.key >node.pem
rm -f node.csr node.crt node.key
chmod 600 node.pem
echo "wrote $out/ca.pem (truststore) and $out/node.pem (keystore) for ${sans[*]}"
