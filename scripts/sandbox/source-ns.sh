#!/usr/bin/env bash
# A second client network for a sandbox host: namespace jhs-NAME, linked straight to the host's own
# namespace by a veth pair, with addresses of its own (IPv4 and IPv6). Requests from it reach the
# host's proxy from a source address other than the machine's — what an allow-listed classroom is.
#
#   source-ns.sh add NAME      -> prints shell-sourceable SOURCE_* lines (idempotent)
#   source-ns.sh remove NAME   (idempotent; the host's own removal takes its end of the link away)
#
# Addresses (N = the host's index): source 10.214.N.2/30 and fd6a:6865:0:N::2/64, the host's end
# 10.214.N.1 and fd6a:6865:0:N::1. Run a client there with `ip netns exec jhs-NAME …`. Needs root.
set -euo pipefail

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
die() { printf 'source-ns: error: %s\n' "$*" >&2; exit 1; }

(($# == 2)) || die "usage: $0 add|remove NAME"
cmd=$1 name=$2
[[ $name =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad host name '$name'"
ns=jhs-$name host_ns=jhe-$name

case $cmd in
  remove)
    if [[ -e /run/netns/$ns ]]; then ip netns del "$ns"; fi
    exit 0 ;;
  add) ;;
  *) die "unknown command '$cmd'" ;;
esac

idx=$(cat "$STATE/hosts/$name/index" 2>/dev/null) || die "no sandbox host '$name'"
[[ -e /run/netns/$host_ns ]] || die "host '$name' has no namespace $host_ns (is it up?)"
v4=10.214.$idx v6=fd6a:6865:0:$idx
if ! ip -n "$host_ns" link show src0 >/dev/null 2>&1; then
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  ip link add "jhs${idx}h" type veth peer name "jhs${idx}s"
  ip link set "jhs${idx}h" netns "$host_ns"
  ip link set "jhs${idx}s" netns "$ns"
  ip -n "$host_ns" link set "jhs${idx}h" name src0
  ip -n "$ns" link set "jhs${idx}s" name eth0
  # nodad: the addresses are usable at once, not after duplicate address detection.
  ip -n "$host_ns" addr add "$v4.1/30" dev src0
  ip -n "$host_ns" addr add "$v6::1/64" dev src0 nodad
  ip -n "$ns" addr add "$v4.2/30" dev eth0
  ip -n "$ns" addr add "$v6::2/64" dev eth0 nodad
  ip -n "$host_ns" link set src0 up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
fi
printf "SOURCE_NETNS='%s'\nSOURCE_ADDR4='%s'\nSOURCE_ADDR6='%s'\nTARGET_ADDR4='%s'\nTARGET_ADDR6='%s'\n" \
  "$ns" "$v4.2" "$v6::2" "$v4.1" "$v6::1"
