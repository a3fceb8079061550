#!/bin/sh
# The private CA and the certificates of the TLS between agents and the indexer, made with the
# openssl CLI (EC P-256). Idempotent: what DIR holds and is still good is kept; a certificate
# is issued anew when it is missing, expires within --renew-days, does not match its key, no
# longer chains to the CA, or lacks one of the names asked for. The docker-compose `certs`
# service runs it into named volumes; the Kubernetes procflow-certs Job runs it in a scratch
# directory filled from the Secrets it then writes back (deploy/tls/kubernetes-secrets.ts).
#
#   make-certs.sh [options] DIR NAME...
#
# NAME: the DNS names and IP addresses the indexer is reached at (its subjectAltNames), e.g.
#   indexer procflow-indexer.procflow.svc localhost 127.0.0.1
# Options, anywhere on the line:
#   --days N          validity of the indexer and agent certificates, in days (365)
#   --renew-days N    issue a certificate anew when it expires within N days (30)
#   --ca-days N       validity of a new CA, in days (3650); certificates follow a new CA
#   --agent-name CN   common name of the agents' client certificate (procflow-agent)
#   --owner UID:GID   give the indexer, agent and token files to this user (run as root)
#   --token-file F    also install F as DIR/token/token, the bearer token (compose)
#
# DIR afterwards (the keys of the Secrets procflow-ca, procflow-indexer-tls, procflow-agent-tls):
#   ca/tls.crt ca/tls.key                    the CA; its key never leaves this directory
#   indexer/tls.crt indexer/tls.key ca.crt   the indexer's server certificate. It is valid for
#                                            clientAuth too, so the indexer's own health check
#                                            can present it to a listener that requires client
#                                            certificates (--tls-client-ca-file).
#   agent/tls.crt agent/tls.key ca.crt       the agents' client certificate (clientAuth)
# Keys are 0600, certificates 0644. Every file is replaced by a rename in its own directory, so
# a service that re-reads it never sees half a file; unchanged files are not touched.
set -eu
# No pathname expansion: names such as *.example.com are split from a list, never globbed.
set -f

days=365 renew_days=30 ca_days=3650 agent_name=procflow-agent owner='' token_file='' dir='' names=''

usage() {
  echo 'usage: make-certs.sh [--days N] [--renew-days N] [--ca-days N] [--agent-name CN] [--owner UID:GID] [--token-file F] DIR NAME...' >&2
  exit 2
}
die() { echo "make-certs: $*" >&2; exit 1; }
say() { echo "make-certs: $*"; }
number() { case $2 in '' | *[!0-9]*) die "$1 needs a whole number of days, not '$2'" ;; esac; }

while [ $# -gt 0 ]; do
  case $1 in
    --days | --renew-days | --ca-days | --agent-name | --owner | --token-file)
      [ $# -ge 2 ] || usage
      case $1 in
        --days) number "$1" "$2"; days=$2 ;;
        --renew-days) number "$1" "$2"; renew_days=$2 ;;
        --ca-days) number "$1" "$2"; ca_days=$2 ;;
        --agent-name) agent_name=$2 ;;
        --owner) owner=$2 ;;
        --token-file) token_file=$2 ;;
      esac
      shift 2 ;;
    -h | --help) usage ;;
    -*) echo "make-certs: unknown option $1" >&2; usage ;;
    *)
      if [ -z "$dir" ]; then dir=$1
      else
        case $1 in '' | *[!A-Za-z0-9.:*-]*) die "not a DNS name or IP address: '$1'" ;; esac
        names="$names $1"
      fi
      shift ;;
  esac
done
[ -n "$dir" ] && [ -n "$names" ] || usage
[ "$renew_days" -lt "$days" ] && [ "$renew_days" -lt "$ca_days" ] || die "--renew-days ($renew_days) must be less than --days ($days) and --ca-days ($ca_days)"
case $agent_name in '' | */* | *[!A-Za-z0-9._\ -]*) die "--agent-name may hold letters, digits, spaces and . _ - only" ;; esac
command -v openssl >/dev/null || die 'openssl is not installed'

# subjectAltName entries; the first DNS name is also the common name.
san='' server_cn=''
for n in $names; do
  case $n in
    *:*) entry="IP:$n" ;;
    *[!0-9.]*) entry="DNS:$n"; [ -n "$server_cn" ] || server_cn=$n ;;
    *) entry="IP:$n" ;;
  esac
  san="${san:+$san,}$entry"
done
[ -n "$server_cn" ] || server_cn=procflow-indexer

renew_secs=$((renew_days * 86400))
ca_crt=$dir/ca/tls.crt ca_key=$dir/ca/tls.key
mkdir -p "$dir/ca" "$dir/indexer" "$dir/agent"
chmod 0700 "$dir/ca"
umask 077
tmp=$(mktemp -d "$dir/.make-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

cat >"$tmp/openssl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[indexer_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[agent_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

ssl() { openssl "$@" 2>"$tmp/err" || die "openssl $1 failed: $(cat "$tmp/err")"; }
new_key() { ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
# The certificate exists, is not expiring within the renewal window, and belongs to its key.
usable() {
  [ -s "$1" ] && [ -s "$2" ] || return 1
  openssl x509 -in "$1" -noout -checkend "$renew_secs" >/dev/null 2>&1 || return 1
  [ "$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$2" -pubout 2>/dev/null)" ]
}
chains() { openssl verify -CAfile "$ca_crt" "$1" >/dev/null 2>&1; }
has_names() {
  for n in $names; do
    case $n in *:*) check=-checkip ;; *[!0-9.]*) check=-checkhost ;; *) check=-checkip ;; esac
    openssl x509 -in "$1" -noout "$check" "$n" 2>/dev/null | grep -q 'does match' || return 1
  done
}
until_date() { openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//'; }
# own FILE MODE [OWNER]
own() { chmod "$2" "$1"; [ -z "${3:-}" ] || chown "$3" "$1"; }
# put SRC DEST MODE [OWNER]: DEST gets SRC's bytes (by a rename beside it, only when they differ).
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then own "$2" "$3" "${4:-}"; return; fi
  cp "$1" "$2.new"
  own "$2.new" "$3" "${4:-}"
  mv -f "$2.new" "$2"
}

if usable "$ca_crt" "$ca_key"; then
  say "CA kept (valid until $(until_date "$ca_crt"))"
else
  new_key "$tmp/ca.key"
  ssl req -x509 -new -config "$tmp/openssl.cnf" -extensions ca_ext -key "$tmp/ca.key" -subj '/CN=procflow CA' -days "$ca_days" -sha256 -out "$tmp/ca.crt"
  put "$tmp/ca.key" "$ca_key" 0600
  put "$tmp/ca.crt" "$ca_crt" 0644
  say "CA created (valid until $(until_date "$ca_crt"))"
fi

# issue NAME CN EXTENSIONS [CHECK]: DIR/NAME/{tls.crt,tls.key,ca.crt}, kept while still good.
issue() {
  crt=$dir/$1/tls.crt key=$dir/$1/tls.key
  if usable "$crt" "$key" && chains "$crt" && { [ -z "${4:-}" ] || "$4" "$crt"; }; then
    own "$key" 0600 "$owner"
    own "$crt" 0644 "$owner"
    say "$1 certificate kept (valid until $(until_date "$crt"))"
  else
    new_key "$tmp/$1.key"
    ssl req -new -config "$tmp/openssl.cnf" -key "$tmp/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
    ssl x509 -req -in "$tmp/$1.csr" -CA "$ca_crt" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
      -extfile "$tmp/openssl.cnf" -extensions "$3" -out "$tmp/$1.crt"
    # The key first: a reader that sees the new certificate then also finds its key.
    put "$tmp/$1.key" "$key" 0600 "$owner"
    put "$tmp/$1.crt" "$crt" 0644 "$owner"
    say "$1 certificate issued for CN=$2${4:+ $san} (valid until $(until_date "$crt"))"
  fi
  put "$ca_crt" "$dir/$1/ca.crt" 0644 "$owner"
}
issue indexer "$server_cn" indexer_ext has_names
issue agent "$agent_name" agent_ext

if [ -n "$token_file" ]; then
  [ -r "$token_file" ] || die "cannot read the token file $token_file"
  grep -qv '^[[:space:]]*\(#.*\)\{0,1\}$' "$token_file" || die "the token file $token_file holds no token"
  mkdir -p "$dir/token"
  put "$token_file" "$dir/token/token" 0600 "$owner"
  say 'token installed'
fi
