#!/usr/bin/env bash
# A second client network for a sandbox host: namespace jhs-NAME, linked straight to the host's own
# namespace by a veth pair, with addresses of its own (IPv4 and IPv6). Requests from it reach the
# host's proxy from a source address other than the machine's — what an allow-listed classroom is.
#
#   source-ns.sh add NAME [SLOT]      -> prints shell-sourceable SOURCE_* lines (idempotent)
#   source-ns.sh remove NAME [SLOT]   (idempotent; the host's own removal takes its end of the link away)
#
# Addresses (N = the host's index, K = SLOT 0..3, default 0): source 10.214.N.(4K+2)/30 and
# fd6a:6865:K:N::2/64, the host's end 10.214.N.(4K+1) and fd6a:6865:K:N::1. Slot 0 is namespace
# jhs-NAME (host interface src0), slot K > 0 jhs-NAME-K (srcK): several sources, each its own
# address (an attacker and a classroom). Run a client there with `ip netns exec jhs-NAME …`. Needs root.
set -euo pipefail

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
die() { printf 'source-ns: error: %s\n' "$*" >&2; exit 1; }

(($# == 2 || $# == 3)) || die "usage: $0 add|remove NAME [SLOT]"
cmd=$1 name=$2 slot=${3:-0}
[[ $name =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad host name '$name'"
[[ $slot =~ ^[0-3]$ ]] || die "bad slot '$slot' (0..3)"
ns=jhs-$name host_ns=jhe-$name
((slot == 0)) || ns=$ns-$slot

case $cmd in
  remove)
    if [[ -e /run/netns/$ns ]]; then ip netns del "$ns"; fi
    exit 0 ;;
  add) ;;
  *) die "unknown command '$cmd'" ;;
esac

idx=$(cat "$STATE/hosts/$name/index" 2>/dev/null) || die "no sandbox host '$name'"
[[ -e /run/netns/$host_ns ]] || die "host '$name' has no namespace $host_ns (is it up?)"
v4=10.214.$idx v6=fd6a:6865:$slot:$idx
src4=$v4.$((4 * slot + 2)) dst4=$v4.$((4 * slot + 1))
if ! ip -n "$host_ns" link show "src$slot" >/dev/null 2>&1; then
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  ip link add "jhs${idx}h$slot" type veth peer name "jhs${idx}s$slot"
  ip link set "jhs${idx}h$slot" netns "$host_ns"
  ip link set "jhs${idx}s$slot" netns "$ns"
  ip -n "$host_ns" link set "jhs${idx}h$slot" name "src$slot"
  ip -n "$ns" link set "jhs${idx}s$slot" name eth0
  # nodad: the addresses are usable at once, not after duplicate address detection.
  ip -n "$host_ns" addr add "$dst4/30" dev "src$slot"
  ip -n "$host_ns" addr add "$v6::1/64" dev "src$slot" nodad
  ip -n "$ns" addr add "$src4/30" dev eth0
  ip -n "$ns" addr add "$v6::2/64" dev eth0 nodad
  ip -n "$host_ns" link set "src$slot" up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
fi
printf "SOURCE_NETNS='%s'\nSOURCE_ADDR4='%s'\nSOURCE_ADDR6='%s'\nTARGET_ADDR4='%s'\nTARGET_ADDR6='%s'\n" \
  "$ns" "$src4" "$v6::2" "$dst4" "$v6::1"
