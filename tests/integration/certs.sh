#!/bin/sh
# certs.sh DIR - makes the certificates the TLS tests use, in DIR, with the
# openssl command. Every run makes fresh keys, so nothing secret or
# time-limited is stored in the repository.
#
#   ca.pem / ca.key               a CA ("netd test CA")
#   server.pem / server.key       localhost, 127.0.0.1, ::1; signed by the CA
#   wrongname.pem / wrongname.key wrong.example only; signed by the CA
#   expired.pem / expired.key     localhost, 127.0.0.1; signed by the CA, ended in 2021
#   self.pem / self.key           localhost, 127.0.0.1; self-signed
#   client.pem / client.key       "netd test client" (clientAuth); signed by the CA
#   other-ca.pem                  an unrelated CA (for "unknown CA" checks)
#   empty/                        an empty directory (a trust store with no CA)
set -eu
dir=$1
mkdir -p "$dir" "$dir/empty"
cd "$dir"

# EC P-256 keys: quick to make and to use, and both wolfSSL and OpenSSL take them.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # ca NAME SUBJECT
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

ca ca "/O=netd test/CN=netd test CA"
ca other-ca "/O=elsewhere/CN=some other CA"

# `openssl ca` is used for the leaves because it can set any validity
# period, including one that ended long ago.
mkdir -p db
: >db/index.txt
echo 1000 >db/serial
cat >db/ca.cnf <<'EOF'
[ca]
default_ca = test
[test]
database = db/index.txt
serial = db/serial
new_certs_dir = db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[any]
organizationName = optional
commonName = supplied
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $ENV::SAN
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF

leaf() { # leaf NAME SUBJECT EXTENSIONS SAN [START END]
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "db/$1.csr"
    if [ $# -ge 6 ]; then
        dates="-startdate $5 -enddate $6"
    else
        dates="-days 825"
    fi
    # shellcheck disable=SC2086 # $dates is two options
    SAN=$4 openssl ca -batch -notext -config db/ca.cnf -extensions "$3" $dates \
        -in "db/$1.csr" -out "$1.pem" 2>/dev/null
}

leaf server "/O=netd test/CN=localhost" server "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wrongname "/O=netd test/CN=wrong.example" server "DNS:wrong.example"
leaf expired "/O=netd test/CN=localhost" server "DNS:localhost,IP:127.0.0.1" \
    20200101000000Z 20210101000000Z
leaf client "/O=netd test/CN=netd test client" client "DNS:client.invalid"

key self.key
openssl req -x509 -new -key self.key -subj "/O=netd test/CN=localhost" -days 3650 -out self.pem \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
