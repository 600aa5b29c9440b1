#!/usr/bin/env bash
# An authoritative DNS server for DNS-01 tests: Debian's BIND 9 (`named`) as a daemon of its own on
# the machine, serving one zone that takes RFC 2136 dynamic updates signed with TSIG. certbot's
# dns-rfc2136 plugin (on the machine or inside a sandbox host) writes its _acme-challenge TXT records
# there, and pebble (acme-server.sh with JHE_ACME_DNS_UPSTREAM=127.0.0.1:PORT) validates against it.
#
#   dns-server.sh start               start (idempotent); prints dns.env (shell-sourceable) on stdout
#   dns-server.sh stop                stop named (idempotent); the zone is kept for the next start
#   dns-server.sh status              prints dns.env and exits 0 if running, else exits 3
#   dns-server.sh reset               stop, and remove the zone's file and journal (fresh zone next start)
#   dns-server.sh add-name NAME IPV4  NAME gets this A record (replacing its A records); admin key
#   dns-server.sh remove-name NAME    NAME's A records go
#   dns-server.sh records [TYPE]      the zone's records (AXFR), sorted, without the SOA
#   dns-server.sh txt NAME            the TXT values of NAME, one a line, sorted
#
# Layout and choices (see scripts/sandbox/README.md):
#   - State in ${JHE_DNS_DIR:-${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}/dns}/: named.conf,
#     the zone file and its journal, the TSIG keys, named.pid, named.log, dns.env.
#   - named runs as root from our own config (`named -4 -g -c named.conf`): it never touches
#     /etc/bind, has no rndc control channel, no recursion, and its lock file is in the state dir,
#     so it runs beside a distro named (which this script never starts: bind9 is installed with
#     daemons held off, and on a systemd machine named.service is disabled right after).
#   - Port ${JHE_DNS_PORT:-5300} UDP and TCP on every IPv4 address of the machine (BIND binds each
#     address; addresses that appear later, such as a new host's veth 10.213.N.1, are picked up
#     through its automatic interface scan). A host reaches it at its MACHINE_ADDR.
#   - Zone ${JHE_DNS_ZONE:-dns01.test}: SOA and NS (ns1.<zone>, 127.0.0.1), TTL 120.
#   - Two TSIG keys, HMAC-SHA512, made once and kept (also by reset): `certbot-key.` may change TXT
#     records only (update-policy zonesub TXT); `admin-key.` (this script's add-name/remove-name)
#     any record. AXFR only from 127.0.0.1.
# Needs root (named, and apt when bind9 is missing).
set -euo pipefail

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
DIR="${JHE_DNS_DIR:-$STATE/dns}"
PORT="${JHE_DNS_PORT:-5300}"
ZONE="${JHE_DNS_ZONE:-dns01.test}"
NAME_TTL="${JHE_DNS_NAME_TTL:-60}"
START_TIMEOUT="${JHE_DNS_START_TIMEOUT:-30}"
STOP_TIMEOUT="${JHE_DNS_STOP_TIMEOUT:-10}"
NAMED=/usr/sbin/named
CERTBOT_KEY=certbot-key.
ADMIN_KEY=admin-key.
ALGORITHM=hmac-sha512

ZONE=${ZONE%.}
ZONE=${ZONE,,}

START_US=${EPOCHREALTIME//[!0-9]/}
log() {
  local us=$((${EPOCHREALTIME//[!0-9]/} - START_US))
  printf 'dns [%3d.%ds]: %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() { printf 'dns: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then die "bad JHE_DNS_PORT '$PORT'"; fi
[[ $ZONE =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]] || die "bad JHE_DNS_ZONE '$ZONE'"
[[ $NAME_TTL =~ ^[0-9]+$ ]] || die "bad JHE_DNS_NAME_TTL '$NAME_TTL'"

# Local DNS tools, always against our own server on loopback.
ldig() { dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 "$@"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# bind9's install would start the distro's named (port 53, /etc/bind). A policy-rc.d that exits 101
# holds every daemon off while apt runs (an existing one is left as it is); on a systemd machine
# named.service is then disabled, so it does not come up at the next boot either.
ensure_packages() {
  local missing=() p guard=/usr/sbin/policy-rc.d made_guard=0 rc=0
  for p in bind9 bind9-utils bind9-dnsutils; do installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  [[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}); install them as root"
  log "installing on the machine: ${missing[*]}"
  if [[ ! -e $guard ]]; then
    printf '#!/bin/sh\n# dns-server.sh: no daemon starts while it installs bind9\nexit 101\n' >"$guard"
    chmod 0755 "$guard"
    made_guard=1
  fi
  {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
  } || rc=$?
  if ((made_guard)); then rm -f "$guard"; fi
  ((rc == 0)) || die "apt-get install ${missing[*]} failed"
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now named.service >&2 2>/dev/null || true
    log "the distro's named.service is disabled (this script runs its own named)"
  fi
}

# --- processes ---------------------------------------------------------------------------------

named_pid() { daemon_pid named "$NAMED"; }
stop_named() { stop_daemon named "$NAMED"; }

# The zone answers authoritatively with its SOA.
zone_up() { [[ -n $(ldig +norec +short SOA "$ZONE.") ]]; }

# named answers for a zone before its startup is over, and right after that a query may still get
# SERVFAIL or no answer. Ready: named has logged "running" (in the log after byte OFFSET), then the
# SOA answers over UDP and TCP.
named_ready() { # OFFSET
  tail -c +$(($1 + 1)) "$DIR/named.log" | grep -q ' running$' &&
    zone_up && [[ -n $(ldig +tcp +norec +short SOA "$ZONE.") ]]
}

# --- keys, zone, config ------------------------------------------------------------------------

key_file() { printf '%s/%s.key' "$DIR" "${1%.}"; }
secret_file() { printf '%s/%s.secret' "$DIR" "${CERTBOT_KEY%.}"; }

# Made once: hosts and tests may hold copies of the certbot secret.
ensure_keys() {
  local k f secret
  for k in "$CERTBOT_KEY" "$ADMIN_KEY"; do
    f=$(key_file "$k")
    [[ -s $f ]] && continue
    log "making TSIG key $k ($ALGORITHM)"
    (umask 077 && tsig-keygen -a "$ALGORITHM" "$k" >"$f.tmp")
    mv "$f.tmp" "$f"
  done
  f=$(secret_file)
  secret=$(sed -n 's/^[[:space:]]*secret "\([^"]*\)";.*/\1/p' "$(key_file "$CERTBOT_KEY")")
  [[ -n $secret ]] || die "no secret in $(key_file "$CERTBOT_KEY")"
  if [[ ! -s $f || "$(cat "$f")" != "$secret" ]]; then
    (umask 077 && printf '%s\n' "$secret" >"$f.tmp")
    mv "$f.tmp" "$f"
  fi
  chmod 0600 "$f" "$(key_file "$CERTBOT_KEY")" "$(key_file "$ADMIN_KEY")"
}

zone_file() { printf '%s/%s.db' "$DIR" "$ZONE"; }

# Written only when missing: after that the zone lives in this file plus named's journal.
ensure_zone() {
  local f
  f=$(zone_file)
  [[ -s $f ]] && return 0
  rm -f "$f.jnl"
  cat >"$f.tmp" <<ZONEFILE
\$ORIGIN $ZONE.
\$TTL 120
@     IN SOA ns1.$ZONE. hostmaster.$ZONE. ( 1 3600 600 86400 120 )
@     IN NS  ns1.$ZONE.
ns1   IN A   127.0.0.1
ZONEFILE
  named-checkzone -q "$ZONE" "$f.tmp" || die "the new zone file does not check (named-checkzone $ZONE $f.tmp)"
  mv "$f.tmp" "$f"
  log "new zone $ZONE"
}

write_config() {
  cat >"$DIR/named.conf.tmp" <<CONF
// scripts/sandbox/dns-server.sh: generated on every start
options {
  directory "$DIR";
  pid-file none;
  lock-file "$DIR/named.lock";
  session-keyfile none;
  dump-file "$DIR/named_dump.db";
  statistics-file "$DIR/named.stats";
  listen-on port $PORT { any; };
  listen-on-v6 { none; };
  automatic-interface-scan yes;
  interface-interval 1;
  recursion no;
  allow-recursion { none; };
  allow-query { any; };
  allow-transfer { 127.0.0.1; };
  notify no;
  dnssec-validation no;
  version none;
  hostname none;
  server-id none;
};
controls { };
include "$(key_file "$CERTBOT_KEY")";
include "$(key_file "$ADMIN_KEY")";
zone "$ZONE" {
  type primary;
  file "$(zone_file)";
  update-policy {
    grant $CERTBOT_KEY zonesub TXT;
    grant $ADMIN_KEY zonesub ANY;
  };
};
CONF
  named-checkconf "$DIR/named.conf.tmp" || die "generated config does not check ($DIR/named.conf.tmp)"
  mv "$DIR/named.conf.tmp" "$DIR/named.conf"
}

write_env() {
  {
    echo "# authoritative DNS for DNS-01 (scripts/sandbox/dns-server.sh); shell-sourceable"
    echo "DNS_SERVER='127.0.0.1'"
    echo "DNS_SERVER_FOR_HOST='{MACHINE_ADDR}'"
    echo "DNS_PORT='$PORT'"
    echo "DNS_ZONE='$ZONE'"
    echo "DNS_TSIG_NAME='$CERTBOT_KEY'"
    echo "DNS_TSIG_ALGORITHM='$ALGORITHM'"
    echo "DNS_TSIG_SECRET_FILE='$(secret_file)'"
    echo "DNS_TSIG_KEY_FILE='$(key_file "$CERTBOT_KEY")'"
    echo "DNS_STATE_DIR='$DIR'"
  } >"$DIR/dns.env.tmp"
  mv "$DIR/dns.env.tmp" "$DIR/dns.env"
}

# Port and zone the running named was started with.
running_settings() { cat "$DIR/named.settings" 2>/dev/null || true; }
wanted_settings() { printf 'port=%s zone=%s\n' "$PORT" "$ZONE"; }

# AppArmor in enforce mode on /usr/sbin/named (Ubuntu) denies writes outside /var/lib/bind & co.
warn_apparmor() {
  local profiles=/sys/kernel/security/apparmor/profiles
  if [[ -r $profiles ]] && grep -q '^/usr/sbin/named (enforce)' "$profiles" 2>/dev/null; then
    log "warning: AppArmor enforces a profile on named; it may refuse the journal in $DIR (aa-complain /usr/sbin/named)"
  fi
}

# --- commands ----------------------------------------------------------------------------------

start_locked() {
  local t0=$SECONDS pid offset
  ensure_packages
  mkdir -p "$DIR"
  ensure_keys
  if pid=$(named_pid); then
    [[ "$(running_settings)" == "$(wanted_settings)" ]] ||
      die "named (pid $pid) runs with other settings ($(running_settings)); stop it first"
    zone_up || die "named (pid $pid) runs but zone $ZONE does not answer on 127.0.0.1:$PORT (log: $DIR/named.log)"
    log "named already running (pid $pid)"
  else
    port_free "$PORT" || die "port $PORT is taken by another process (JHE_DNS_PORT)"
    ensure_zone
    write_config
    warn_apparmor
    wanted_settings >"$DIR/named.settings"
    offset=$(stat -c %s "$DIR/named.log" 2>/dev/null || echo 0)
    (cd "$DIR" && exec_clean setsid "$NAMED" -4 -g -c "$DIR/named.conf" </dev/null >>"$DIR/named.log" 2>&1) &
    printf '%s\n' "$!" >"$DIR/named.pid"
    wait_until "$START_TIMEOUT" named named_ready "$offset" || {
      tail -n 20 "$DIR/named.log" >&2
      stop_named
      die "zone $ZONE did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s (log: $DIR/named.log)"
    }
    log "named up (pid $(cat "$DIR/named.pid")) in $((SECONDS - t0)) s: zone $ZONE on port $PORT"
  fi
  write_env
  cat "$DIR/dns.env"
}

stop_locked() {
  stop_named
  rm -f "$DIR/dns.env" "$DIR/named.settings"
}

reset_locked() {
  stop_locked
  rm -f "$DIR"/*.db "$DIR"/*.db.jnl "$DIR"/*.db.tmp "$DIR/managed-keys.bind" "$DIR/managed-keys.bind.jnl" \
    "$DIR/named.lock" "$DIR/named_dump.db" "$DIR/named.stats"
  log "zone state removed (the TSIG keys are kept)"
}

cmd_status() {
  local pid
  pid=$(named_pid) || pid=""
  if [[ -n $pid && -f $DIR/dns.env ]] && zone_up; then
    log "running: named pid $pid, zone $ZONE on port $PORT"
    cat "$DIR/dns.env"
    return 0
  fi
  log "not running (named: ${pid:+pid }${pid:-down})"
  return 3
}

# NAME: a name in the zone (or the zone itself), optionally with a leading "*." label.
norm_name() {
  local n=${1%.}
  n=${n,,}
  [[ $n =~ ^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$ ]] ||
    die "bad DNS name '$1'"
  ((${#n} <= 253)) || die "bad DNS name '$1' (too long)"
  [[ $n == "$ZONE" || $n == *".$ZONE" ]] || die "'$1' is not in zone $ZONE"
  printf '%s' "$n"
}
valid_ipv4() {
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "bad IPv4 address '$1'"
  local o
  for o in "${BASH_REMATCH[@]:1}"; do ((10#$o <= 255)) || die "bad IPv4 address '$1'"; done
}

require_running() { named_pid >/dev/null || die "not running (dns-server.sh start first)"; }

admin_update() { # nsupdate lines...
  local out
  out=$({
    printf 'server 127.0.0.1 %s\n' "$PORT"
    printf 'zone %s.\n' "$ZONE"
    printf '%s\n' "$@"
    printf 'send\n'
  } | nsupdate -t 5 -k "$(key_file "$ADMIN_KEY")" 2>&1) || die "nsupdate failed: $out"
}

add_name_locked() {
  local name=$1 addr=$2
  require_running
  admin_update "update delete $name. A" "update add $name. $NAME_TTL A $addr"
  log "$name -> $addr"
}

remove_name_locked() {
  local name=$1
  require_running
  admin_update "update delete $name. A"
  log "$name removed"
}

cmd_records() {
  local type=${1:-} out
  require_running
  out=$(ldig +nocmd +nostats +nocomments +onesoa AXFR "$ZONE.") || die "AXFR of $ZONE failed"
  if grep -q '^;' <<<"$out" || ! grep -q . <<<"$out"; then die "AXFR of $ZONE failed: $out"; fi
  # The SOA (its serial changes on every update) is left out, so equal dumps mean equal zones.
  awk -v t="$type" '$4 != "SOA" && (t == "" || $4 == t) { $1 = $1; print }' <<<"$out" | LC_ALL=C sort
}

cmd_txt() {
  local name=$1 out
  require_running
  out=$(ldig +norec +short TXT "$name.") || die "TXT query for $name failed"
  # One record a line; its character-strings joined as an ACME client would read them.
  [[ -z $out ]] || sed -e 's/" "//g' -e 's/^"//' -e 's/"$//' <<<"$out" | LC_ALL=C sort
}

main() {
  local cmd=${1:-} name
  (($#)) && shift
  case $cmd in
    start) [[ $# -eq 0 ]] || usage; with_lock "$DIR/.lock" start_locked ;;
    stop) [[ $# -eq 0 ]] || usage; with_lock "$DIR/.lock" stop_locked ;;
    reset) [[ $# -eq 0 ]] || usage; with_lock "$DIR/.lock" reset_locked ;;
    status) [[ $# -eq 0 ]] || usage; cmd_status ;;
    add-name)
      [[ $# -eq 2 ]] || usage
      name=$(norm_name "$1"); valid_ipv4 "$2"
      with_lock "$DIR/.lock" add_name_locked "$name" "$2" ;;
    remove-name)
      [[ $# -eq 1 ]] || usage
      name=$(norm_name "$1")
      with_lock "$DIR/.lock" remove_name_locked "$name" ;;
    records)
      [[ $# -le 1 ]] || usage
      local type=${1:-}
      type=${type^^}
      [[ -z $type || $type =~ ^[A-Z0-9]+$ ]] || die "bad record type '$1'"
      cmd_records "$type" ;;
    txt)
      [[ $# -eq 1 ]] || usage
      name=$(norm_name "$1")
      cmd_txt "$name" ;;
    *) usage ;;
  esac
}

main "$@"
