#!/usr/bin/env bash
# host.sh remove NAME: halts the host and removes everything of it on this machine.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd_remove() {
  [[ $# -eq 1 ]] || usage
  valid_name "$1"
  local t0=$SECONDS
  teardown "$1"
  log "removed '$1' ($((SECONDS - t0)) s)"
}

need_root
cmd_remove "$@"
