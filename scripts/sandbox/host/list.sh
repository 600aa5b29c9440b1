#!/usr/bin/env bash
# host.sh list: the hosts of this state dir and whether they are up.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd_list() {
  local d n state
  printf '%-16s %5s %-14s %-9s %s\n' NAME INDEX HOST_ADDR SUITE STATE
  for d in "$STATE"/hosts/*/; do
    [[ -d $d ]] || continue
    n=$(basename "$d")
    if nspawn_pid "$n" >/dev/null; then
      if [[ -f $d/ready ]]; then state=up; else state=booting; fi
    else
      state=stopped
    fi
    printf '%-16s %5s %-14s %-9s %s\n' "$n" "$(cat "$d/index" 2>/dev/null || echo -)" \
      "$SUBNET.$(cat "$d/index" 2>/dev/null || echo '?').2" "$(cat "$d/suite" 2>/dev/null || echo -)" "$state"
  done
}

need_root
cmd_list "$@"
