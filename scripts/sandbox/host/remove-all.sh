#!/usr/bin/env bash
# host.sh remove-all: removes every host of this state dir and the orphans of crashed runs.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd_remove_all() {
  local d n
  for d in "$STATE"/hosts/*/; do
    [[ -d $d ]] || continue
    n=$(basename "$d")
    teardown "$n"
    log "removed '$n'"
  done
  # nspawn lock files nobody holds any more (left by hosts that were killed, not removed).
  # nspawn takes OFD locks, which flock(1) cannot see: look them up in /proc/locks by inode.
  local f ino
  for f in "$NSPAWN_RUN"/locks/inode-*; do
    ino=$(stat -c %i "$f" 2>/dev/null) || continue
    grep -q ":$ino " /proc/locks || rm -f "$f"
  done
  # Orphans of crashed runs whose state is gone: empty jhe-* namespaces and dangling veths.
  # Busy ones belong to hosts of other state dirs and are left alone.
  for n in $(ip netns list 2>/dev/null | awk '$1 ~ /^jhe-/ {print $1}'); do
    netns_busy "$n" && continue
    log "removing orphan namespace $n"
    ip netns del "$n" 2>/dev/null || true
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^jhe[0-9]+m$' || true); do
    n=${n#jhe}
    index_busy "${n%m}" && continue
    log "removing orphan veth jhe$n"
    ip link del "jhe$n" 2>/dev/null || true
  done
}

need_root
cmd_remove_all "$@"
