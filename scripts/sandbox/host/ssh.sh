#!/usr/bin/env bash
# host.sh ssh NAME [cmd...]: a shell on the host, or a command run on it, with the pinned host key.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd_ssh() {
  [[ $# -ge 1 ]] || usage
  local name=$1 opts
  shift
  valid_name "$name"
  load_env "$name" || die "no host '$name'"
  mapfile -t opts < <(ssh_opts)
  # A terminal for an interactive shell; none when a command is given (like plain ssh).
  if (($# == 0)); then opts+=(-t); fi
  exec ssh "${opts[@]}" "$SSH_USER@$HOST_ADDR" "$@"
}

need_root
cmd_ssh "$@"
