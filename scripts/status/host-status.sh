# shellcheck shell=bash
# host-status: the read-only facts the status board (scripts/status.ts) shows for one server.
# It changes nothing, takes no lock (a long `pulumi up` must not hide the board) and bounds every
# probe, so a sick server answers within seconds. Run as `bash -s`: this text, then its payload, on
# stdin (bash reads a script from a pipe no further than the command it runs, so `main` reads the
# rest). Payload lines (facts from the stack's model, never from this script):
#   proxy UNIT / config_test ARGV (the platform table's config test, as words) / hub UNIT / health URL [SOCKET]
#   cert DOMAIN FILE          a certificate the proxy serves
#   upstream PORT             the hub's port (websockets are long-lived connections to it)
#   split_auth FILE           the htpasswd file when split auth is on
#   drift_probe               last: the rest of stdin is the drift watch's own probe
#                             (drift-probe.sh, then its request), run in this same session
# Prints `key value…` lines; values never include file contents. The drift probe's answer follows
# between `drift_probe begin` and `drift_probe end STATUS` (its own format, drift-probe.sh).
set -uo pipefail
export LC_ALL=C

probe() { timeout 5 "$@"; }

config_test() {
  local out rc argv
  read -r -a argv <<<"$1"
  # Words of the platform table only (never an option first, never shell text): run as an argv.
  if ((${#argv[@]} == 0)) || [[ ${argv[0]} == -* ]] || grep -qv '^[A-Za-z0-9._=-]*$' < <(printf '%s\n' "${argv[@]}"); then
    echo "config_test unknown"; return
  fi
  out=$(probe "${argv[@]}" 2>&1); rc=$?
  if ((rc == 0)); then echo "config_test ok"; else echo "config_test failed $(grep -m1 -v '^$' <<<"$out" | tr -s ' ' | cut -c1-200)"; fi
}

health() {
  local url=$1 socket=${2:-}
  if [[ -n $socket ]]; then probe curl -gfsS -o /dev/null --max-time 3 --unix-socket "$socket" -- "$url" 2>/dev/null
  else probe curl -gfsS -o /dev/null --max-time 3 -- "$url" 2>/dev/null; fi && echo "hub_health ok" || echo "hub_health down"
}

cert_days() {
  local domain=$1 file=$2 end
  if ! end=$(probe openssl x509 -in "$file" -noout -enddate 2>/dev/null); then echo "cert $domain missing"; return; fi
  end=$(date -d "${end#notAfter=}" +%s 2>/dev/null) || { echo "cert $domain unreadable"; return; }
  echo "cert $domain $(((end - $(date +%s)) / 86400))"
}

main() {
  local kind a b
  echo "reachable yes"
  while read -r kind a b || [[ -n ${kind:-} ]]; do
    case $kind in
      proxy) echo "proxy_active $(systemctl is-active -- "$a" 2>/dev/null || true)" ;;
      config_test) config_test "$a${b:+ $b}" ;;
      hub) echo "hub_active $(systemctl is-active -- "$a" 2>/dev/null || true)" ;;
      health) health "$a" "${b:-}" ;;
      cert) cert_days "$a" "$b" ;;
      upstream) echo "websockets $(ss -Htn state established "( dport = :$a )" 2>/dev/null | wc -l)" ;;
      split_auth) if [[ -f $a ]]; then echo "split_auth on"; else echo "split_auth missing"; fi ;;
      drift_probe) return 0 ;;
      '') ;;
      *) echo "unknown $kind" ;;
    esac
  done
  return 1
}
# One line: bash has read it whole before main reads the rest of stdin, and `read` takes no byte
# past the `drift_probe` line, so the probe's bash reads its script and request from there.
main && { echo "drift_probe begin"; bash -s; echo "drift_probe end $?"; }; exit 0
