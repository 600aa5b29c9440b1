#!/usr/bin/env bash
# A local ACME CA for tests: Debian's `pebble`, with `pebble-challtestsrv` as its DNS server, on the
# machine. certbot inside a sandbox host (scripts/sandbox/host.sh) gets real certificates from it,
# validated over HTTP-01 against the host's own port 80, i.e. through the real proxy.
#
#   acme-server.sh start              start (idempotent); prints acme.env (shell-sourceable) on stdout
#   acme-server.sh stop               stop both daemons (idempotent); forgets the names
#   acme-server.sh status             prints acme.env and exits 0 if running, else exits 3
#   acme-server.sh ca                 prints pebble's current issuing root (changes on every start)
#   acme-server.sh add-name NAME ADDR       NAME resolves to ADDR for pebble's validation
#   acme-server.sh remove-name NAME
#
# Layout and choices (see test/support/README-acme-tls.md for more):
#   - State in ${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}/acme/: listener CA and cert,
#     pebble config, pid files, logs, names.
#   - pebble's ACME listener: 0.0.0.0:14000, so every host reaches it at its own MACHINE_ADDR
#     (https://10.213.N.1:14000/dir). Its certificate comes from a listener CA made here with openssl
#     and kept across restarts; it carries IP SANs for 127.0.0.1 and every possible machine-side
#     address 10.213.1.1 ... 10.213.254.1, and DNS SANs acme.jhe.test and localhost. So a host needs
#     no /etc/hosts line and no change at all besides a copy of the listener CA for certbot
#     (REQUESTS_CA_BUNDLE=<copy of ACME_LISTENER_CA>, for `certonly` and every later `renew`).
#   - pebble's management listener (roots, intermediates): 127.0.0.1:15000 only.
#   - Names: pebble resolves through `-dnsserver 127.0.0.1:8053`, which is pebble-challtestsrv with
#     only its DNS server on; its HTTP-01/HTTPS/TLS-ALPN servers are off (nothing on 80/443/5001-5003)
#     and its default A/AAAA answers are cleared, so an unknown name fails instead of resolving to
#     127.0.0.1 or ::1. add-name/remove-name go through its management API on 127.0.0.1:8055.
#     The machine's /etc/hosts is never touched.
#   - pebble validates HTTP-01 on port 80 and TLS-ALPN-01 on 443 of the named address;
#     PEBBLE_VA_NOSLEEP=1 and PEBBLE_WFE_NONCEREJECT=0 make it fast and deterministic;
#     PEBBLE_AUTHZREUSE=0 (default 50%) makes every order, renewals too, validate against the live
#     proxy again. Certificates last 90 days like Let's Encrypt's (JHE_ACME_CERT_VALIDITY seconds),
#     so certbot's own "renew within 30 days" logic behaves as in production.
# Ports can be moved with JHE_ACME_PORT, JHE_ACME_MGMT_PORT, JHE_ACME_DNS_PORT, JHE_ACME_CTS_PORT;
# with those and JHE_ACME_DIR, a second instance runs beside the shared one (its pebble.log counts
# only its own orders: "Added order").
# Opt-in, for DNS-01 and institutional CAs (both are fixed for the life of a running pebble: `start`
# with other values than the running instance's fails; stop it first):
#   JHE_ACME_DNS_UPSTREAM=HOST:PORT   no challtestsrv; pebble resolves through this DNS server instead
#     (`-dnsserver HOST:PORT`, e.g. dns-server.sh's BIND at 127.0.0.1:5300), so it validates DNS-01
#     (and HTTP-01 names) against the records there. add-name/remove-name refuse: names live in that
#     server (dns-server.sh add-name).
#   JHE_ACME_EAB_KEYS="KID=HMAC ..."   pebble requires External Account Binding on newAccount;
#     HMAC is the key as certbot's --eab-hmac-key takes it (base64url, padding optional). The keys go
#     into pebble-config.json (0600) only; acme.env and the logs name the key ids, never a key.
# Needs root only to install pebble when it is missing.
set -euo pipefail

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
# A second, private instance (its own state and ports) keeps a test's order count its own.
DIR="${JHE_ACME_DIR:-$STATE/acme}"
ACME_PORT="${JHE_ACME_PORT:-14000}"
MGMT_PORT="${JHE_ACME_MGMT_PORT:-15000}"
DNS_PORT="${JHE_ACME_DNS_PORT:-8053}"
CTS_PORT="${JHE_ACME_CTS_PORT:-8055}"
HOST_SUBNET="${JHE_ACME_HOST_SUBNET:-10.213}"   # host.sh: host N is $HOST_SUBNET.N.2, machine side .1
ACME_NAME=acme.jhe.test                          # DNS SAN of the listener, for hosts that prefer a name
START_TIMEOUT="${JHE_ACME_START_TIMEOUT:-30}"
STOP_TIMEOUT="${JHE_ACME_STOP_TIMEOUT:-10}"
CERT_VALIDITY="${JHE_ACME_CERT_VALIDITY:-7776000}"   # 90 days like Let's Encrypt (pebble's default: 5 years)
PEBBLE=/usr/bin/pebble
CTS=/usr/bin/pebble-challtestsrv
DNS_UPSTREAM="${JHE_ACME_DNS_UPSTREAM:-}"
EAB_SPEC="${JHE_ACME_EAB_KEYS:-}"

START_US=${EPOCHREALTIME//[!0-9]/}
log() {
  local us=$((${EPOCHREALTIME//[!0-9]/} - START_US))
  printf 'acme [%3d.%ds]: %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() { printf 'acme: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# curl to our own loopback listeners only: never through a proxy from the environment.
lcurl() { curl --noproxy '*' -sS --max-time 5 "$@"; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages() {
  local missing=() p
  for p in pebble curl openssl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}); install them as root"
  log "installing on the machine: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

# --- certificates for pebble's own HTTPS listeners ---------------------------------------------

listener_sans() {
  local n
  printf 'DNS:%s,DNS:localhost,IP:127.0.0.1' "$ACME_NAME"
  for ((n = 1; n <= 254; n++)); do printf ',IP:%s.%d.1' "$HOST_SUBNET" "$n"; done
}

# The CA is made once and kept (hosts may hold a copy); the server certificate is remade when its
# SANs change or it is about to expire. Both satisfy strict X.509 checks (Python 3.13's default
# VERIFY_X509_STRICT: key usages, SKI/AKI, critical basic constraints).
ensure_listener_cert() {
  local sans
  sans=$(listener_sans)
  if [[ ! -s $DIR/listener-ca.pem || ! -s $DIR/listener-ca.key ]]; then
    log "making the listener CA"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$DIR/listener-ca.key" -out "$DIR/listener-ca.pem" -days 3650 \
      -subj "/O=jupyterhub-edge tests/CN=jupyterhub-edge ACME listener CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" 2>/dev/null
    chmod 0600 "$DIR/listener-ca.key"
    rm -f "$DIR/listener.pem"
  fi
  if [[ -s $DIR/listener.pem && -s $DIR/listener.key && "$(cat "$DIR/listener.sans" 2>/dev/null)" == "$sans" ]] &&
    openssl x509 -in "$DIR/listener.pem" -noout -checkend $((7 * 86400)) >/dev/null 2>&1; then
    return 0
  fi
  log "making the listener certificate"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DIR/listener.key" \
    -out "$DIR/listener.csr" -subj "/CN=$ACME_NAME" 2>/dev/null
  chmod 0600 "$DIR/listener.key"
  cat >"$DIR/listener.ext" <<EXT
subjectAltName=$sans
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EXT
  openssl x509 -req -in "$DIR/listener.csr" -CA "$DIR/listener-ca.pem" -CAkey "$DIR/listener-ca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days 825 -extfile "$DIR/listener.ext" \
    -out "$DIR/listener.pem" 2>/dev/null
  printf '%s' "$sans" >"$DIR/listener.sans"
  rm -f "$DIR/listener.csr"
}

# --- opt-in settings: DNS upstream, External Account Binding -----------------------------------

# Checked by start only, so that stop works whatever the environment holds.
check_upstream() {
  if [[ -n $DNS_UPSTREAM && ! $DNS_UPSTREAM =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]]; then
    die "bad JHE_ACME_DNS_UPSTREAM '$DNS_UPSTREAM' (HOST:PORT expected)"
  fi
}

# JHE_ACME_EAB_KEYS parsed into EAB_KIDS / EAB_HMACS (by start). pebble 2.x decodes each key with
# Go's base64.RawURLEncoding (url alphabet, no padding), so padding is stripped here. A key is never
# echoed: pebble's own error for a key it cannot decode would print it into pebble.log.
EAB_KIDS=()
EAB_HMACS=()
parse_eab() {
  local item kid hmac k
  for item in $EAB_SPEC; do
    [[ $item == *=* ]] || die "bad JHE_ACME_EAB_KEYS entry (KID=HMAC expected)"
    kid=${item%%=*}
    hmac=${item#*=}
    [[ $kid =~ ^[A-Za-z0-9._~-]+$ ]] || die "bad EAB key id in JHE_ACME_EAB_KEYS (letters, digits, . _ ~ - only)"
    while [[ $hmac == *= ]]; do hmac=${hmac%=}; done
    if ! [[ $hmac =~ ^[A-Za-z0-9_-]+$ ]] || ((${#hmac} % 4 == 1)); then
      die "bad EAB key for key id '$kid' (base64url expected)"
    fi
    for k in "${EAB_KIDS[@]}"; do [[ $k != "$kid" ]] || die "EAB key id '$kid' given twice"; done
    EAB_KIDS+=("$kid")
    EAB_HMACS+=("$hmac")
  done
}

# The DNS server pebble is started with.
pebble_dns() { if [[ -n $DNS_UPSTREAM ]]; then printf '%s' "$DNS_UPSTREAM"; else printf '127.0.0.1:%s' "$DNS_PORT"; fi; }

# What a running pebble cannot change: its DNS server and its EAB keys (ids, and a digest of the keys).
wanted_mode() {
  local kids="none" sum="" i
  if ((${#EAB_KIDS[@]})); then
    kids=$(IFS=,; printf '%s' "${EAB_KIDS[*]}")
    sum=$(for i in "${!EAB_KIDS[@]}"; do printf '%s=%s\n' "${EAB_KIDS[i]}" "${EAB_HMACS[i]}"; done | sha256sum)
    sum=" eab-digest=${sum:0:16}"
  fi
  printf 'dns=%s:%s eab=%s%s\n' "$([[ -n $DNS_UPSTREAM ]] && echo upstream || echo challtestsrv)" "$(pebble_dns)" "$kids" "$sum"
}
mode_file() { printf '%s/pebble.mode' "$DIR"; }
# A pebble started before pebble.mode existed ran with challtestsrv and without EAB.
running_mode() {
  if [[ -s $(mode_file) ]]; then cat "$(mode_file)"; else printf 'dns=challtestsrv:127.0.0.1:%s eab=none\n' "$DNS_PORT"; fi
}
upstream_mode() { [[ -n $DNS_UPSTREAM || "$(running_mode)" == dns=upstream:* ]]; }

write_config() {
  local eab_required=false eab_keys="" i sep=""
  if ((${#EAB_KIDS[@]})); then
    eab_required=true
    for i in "${!EAB_KIDS[@]}"; do
      eab_keys+=$(printf '%s\n      "%s": "%s"' "$sep" "${EAB_KIDS[i]}" "${EAB_HMACS[i]}")
      sep=,
    done
    eab_keys=$(printf ',\n    "externalAccountMACKeys": {%s\n    }' "$eab_keys")
  fi
  (umask 077 && cat >"$DIR/pebble-config.json.tmp") <<JSON
{
  "pebble": {
    "listenAddress": "0.0.0.0:$ACME_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$DIR/listener.pem",
    "privateKey": "$DIR/listener.key",
    "httpPort": 80,
    "tlsPort": 443,
    "ocspResponderURL": "",
    "certificateValidityPeriod": $CERT_VALIDITY,
    "externalAccountBindingRequired": $eab_required$eab_keys
  }
}
JSON
  chmod 0600 "$DIR/pebble-config.json.tmp"
  mv "$DIR/pebble-config.json.tmp" "$DIR/pebble-config.json"
}

write_env() {
  {
    echo "# local ACME CA (scripts/sandbox/acme-server.sh); shell-sourceable"
    echo "ACME_DIRECTORY='https://127.0.0.1:$ACME_PORT/dir'"
    echo "ACME_DIRECTORY_FOR_HOST='https://{MACHINE_ADDR}:$ACME_PORT/dir'"
    echo "ACME_DIRECTORY_BY_NAME='https://$ACME_NAME:$ACME_PORT/dir'"
    echo "ACME_PORT='$ACME_PORT'"
    echo "ACME_LISTENER_CA='$DIR/listener-ca.pem'"
    echo "ACME_MANAGEMENT='https://127.0.0.1:$MGMT_PORT'"
    echo "ACME_ROOT_URL='https://127.0.0.1:$MGMT_PORT/roots/0'"
    if [[ -n $DNS_UPSTREAM ]]; then
      echo "ACME_CHALLTESTSRV=''"
      echo "ACME_DNS_MODE='upstream'"
    else
      echo "ACME_CHALLTESTSRV='http://127.0.0.1:$CTS_PORT'"
      echo "ACME_DNS_MODE='challtestsrv'"
    fi
    echo "ACME_DNS='$(pebble_dns)'"
    if ((${#EAB_KIDS[@]})); then
      echo "ACME_EAB_REQUIRED='true'"
      echo "ACME_EAB_KIDS='${EAB_KIDS[*]}'"
    else
      echo "ACME_EAB_REQUIRED='false'"
      echo "ACME_EAB_KIDS=''"
    fi
    echo "ACME_STATE_DIR='$DIR'"
  } >"$DIR/acme.env.tmp"
  mv "$DIR/acme.env.tmp" "$DIR/acme.env"
}

# --- names -------------------------------------------------------------------------------------

valid_name() {
  [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]] || die "bad DNS name '$1'"
}
valid_ipv4() {
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "bad IPv4 address '$1'"
  local o
  for o in "${BASH_REMATCH[@]:1}"; do ((10#$o <= 255)) || die "bad IPv4 address '$1'"; done
}

cts_post() {
  local path=$1 body=$2 code
  code=$(lcurl -o /dev/null -w '%{http_code}' -X POST -d "$body" "http://127.0.0.1:$CTS_PORT$path") ||
    die "challtestsrv management API (127.0.0.1:$CTS_PORT$path) did not answer"
  [[ $code == 200 ]] || die "challtestsrv $path answered HTTP $code for $body"
}

apply_name() { # NAME ADDR
  cts_post /clear-a "{\"host\":\"$1\"}"
  cts_post /add-a "{\"host\":\"$1\",\"addresses\":[\"$2\"]}"
}

names_file() { printf '%s/names' "$DIR"; }

refuse_upstream() {
  if upstream_mode; then
    die "pebble resolves through $(pebble_dns) (JHE_ACME_DNS_UPSTREAM): names live in that DNS server (dns-server.sh add-name)"
  fi
}

add_name_locked() {
  local name=$1 addr=$2 f
  refuse_upstream
  f=$(names_file)
  daemon_pid challtestsrv "$CTS" >/dev/null || die "not running (acme-server.sh start first)"
  apply_name "$name" "$addr"
  if [[ -f $f ]]; then awk -v n="$name" '$1 != n' "$f" >"$f.tmp"; else : >"$f.tmp"; fi
  printf '%s %s\n' "$name" "$addr" >>"$f.tmp"
  mv "$f.tmp" "$f"
  log "$name -> $addr"
}

remove_name_locked() {
  local name=$1 f
  refuse_upstream
  f=$(names_file)
  if daemon_pid challtestsrv "$CTS" >/dev/null; then cts_post /clear-a "{\"host\":\"$name\"}"; fi
  if [[ -f $f ]]; then
    awk -v n="$name" '$1 != n' "$f" >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  log "$name removed"
}

# --- commands ----------------------------------------------------------------------------------

cts_up() { (exec 3<>"/dev/tcp/127.0.0.1/$CTS_PORT") 2>/dev/null; }
dir_up() { lcurl --cacert "$DIR/listener-ca.pem" -f -o /dev/null "https://127.0.0.1:$ACME_PORT/dir"; }

start_locked() {
  local t0=$SECONDS pid restarted_cts=0 mode
  check_upstream
  parse_eab
  ensure_packages
  mkdir -p "$DIR"
  ensure_listener_cert
  mode=$(wanted_mode)
  if pid=$(daemon_pid pebble "$PEBBLE") && [[ "$(running_mode)" != "$mode" ]]; then
    die "pebble (pid $pid) runs with other settings ($(running_mode)) than asked for ($mode); stop it first"
  fi
  write_config

  if [[ -n $DNS_UPSTREAM ]]; then
    # pebble is down here or runs in this mode already; a challtestsrv left from a run without the
    # upstream would answer nobody: it goes, with its names.
    if daemon_pid challtestsrv "$CTS" >/dev/null; then
      stop_daemon challtestsrv "$CTS"
      rm -f "$(names_file)"
    fi
  elif ! daemon_pid challtestsrv "$CTS" >/dev/null; then
    for p in "$DNS_PORT" "$CTS_PORT"; do
      port_free "$p" || die "port $p is taken by another process (JHE_ACME_DNS_PORT / JHE_ACME_CTS_PORT)"
    done
    (exec_clean setsid "$CTS" -dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$CTS_PORT" \
      -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 "" -defaultIPv6 "" \
      </dev/null >>"$DIR/challtestsrv.log" 2>&1) &
    printf '%s\n' "$!" >"$DIR/challtestsrv.pid"
    wait_until "$START_TIMEOUT" challtestsrv cts_up || {
      tail -n 20 "$DIR/challtestsrv.log" >&2
      die "pebble-challtestsrv did not answer on 127.0.0.1:$CTS_PORT within ${START_TIMEOUT}s (log: $DIR/challtestsrv.log)"
    }
    restarted_cts=1
    log "challtestsrv up (pid $(cat "$DIR/challtestsrv.pid"), DNS 127.0.0.1:$DNS_PORT)"
  fi
  # The names of this run survive a restart of challtestsrv alone.
  if ((restarted_cts)) && [[ -s $(names_file) ]]; then
    local n a
    while read -r n a; do [[ -n $n ]] && apply_name "$n" "$a"; done <"$(names_file)"
  fi

  if ! pid=$(daemon_pid pebble "$PEBBLE"); then
    for p in "$ACME_PORT" "$MGMT_PORT"; do
      port_free "$p" || die "port $p is taken by another process (JHE_ACME_PORT / JHE_ACME_MGMT_PORT)"
    done
    (cd "$DIR" && exec_clean env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 setsid "$PEBBLE" \
      -config "$DIR/pebble-config.json" -dnsserver "$(pebble_dns)" \
      </dev/null >>"$DIR/pebble.log" 2>&1) &
    printf '%s\n' "$!" >"$DIR/pebble.pid"
    printf '%s\n' "$mode" >"$(mode_file)"
    wait_until "$START_TIMEOUT" pebble dir_up || {
      tail -n 20 "$DIR/pebble.log" >&2
      die "pebble's directory did not answer within ${START_TIMEOUT}s (log: $DIR/pebble.log)"
    }
    local eab_note=""
    if ((${#EAB_KIDS[@]})); then eab_note="; EAB required (key ids: ${EAB_KIDS[*]})"; fi
    log "pebble up (pid $(cat "$DIR/pebble.pid")) in $((SECONDS - t0)) s; DNS $(pebble_dns)${DNS_UPSTREAM:+ (upstream)}$eab_note"
  else
    dir_up || die "pebble (pid $pid) runs but its directory does not answer (log: $DIR/pebble.log)"
    log "pebble already running (pid $pid)"
  fi
  write_env
  log "directory: https://127.0.0.1:$ACME_PORT/dir; from a host: https://<MACHINE_ADDR>:$ACME_PORT/dir (CA bundle: $DIR/listener-ca.pem)"
  cat "$DIR/acme.env"
}

stop_locked() {
  stop_daemon pebble "$PEBBLE"
  stop_daemon challtestsrv "$CTS"
  rm -f "$DIR/acme.env" "$(names_file)" "$(mode_file)"
}

cmd_status() {
  local p c
  p=$(daemon_pid pebble "$PEBBLE") || p=""
  c=$(daemon_pid challtestsrv "$CTS") || c=""
  # With a DNS upstream (as the running pebble was started) there is no challtestsrv.
  if [[ -n $p && -f $DIR/acme.env ]] && [[ -n $c || "$(running_mode)" == dns=upstream:* ]] && dir_up; then
    log "running: pebble pid $p, ${c:+challtestsrv pid }${c:-DNS $(running_mode)}"
    if [[ -s $(names_file) ]]; then log "names: $(tr '\n' ';' <"$(names_file)")"; fi
    cat "$DIR/acme.env"
    return 0
  fi
  log "not running (pebble: ${p:+pid }${p:-down}, challtestsrv: ${c:+pid }${c:-down})"
  return 3
}

cmd_ca() {
  daemon_pid pebble "$PEBBLE" >/dev/null || die "not running (acme-server.sh start first)"
  local pem
  pem=$(lcurl -f --cacert "$DIR/listener-ca.pem" "https://127.0.0.1:$MGMT_PORT/roots/0") ||
    die "cannot fetch pebble's root from https://127.0.0.1:$MGMT_PORT/roots/0"
  [[ $pem == *"BEGIN CERTIFICATE"* ]] || die "unexpected answer from /roots/0"
  printf '%s\n' "$pem"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    start) [[ $# -eq 0 ]] || usage; with_lock "$DIR/.lock" start_locked ;;
    stop) [[ $# -eq 0 ]] || usage; with_lock "$DIR/.lock" stop_locked ;;
    status) [[ $# -eq 0 ]] || usage; cmd_status ;;
    ca) [[ $# -eq 0 ]] || usage; cmd_ca ;;
    add-name)
      [[ $# -eq 2 ]] || usage
      valid_name "$1"; valid_ipv4 "$2"
      with_lock "$DIR/.lock" add_name_locked "$1" "$2" ;;
    remove-name)
      [[ $# -eq 1 ]] || usage
      valid_name "$1"
      with_lock "$DIR/.lock" remove_name_locked "$1" ;;
    *) usage ;;
  esac
}

main "$@"
