#!/usr/bin/env bash
# Sandbox test hosts: real Debian hosts with a real systemd, each in its own network namespace,
# on which JupyterHub already runs the way a user would have set it up. Tests and the dev
# deployment reach them over SSH exactly as they would reach a user's server.
#
#   host.sh prepare [--suite trixie|bookworm|all] [--rebuild]
#   host.sh create NAME [--suite trixie|bookworm] [--index N]   -> prints $STATE/hosts/NAME/host.env
#   host.sh remove NAME | remove-all | list | ssh NAME [cmd...]
#
# See README.md beside this file for the layout and the figures measured. Needs root.
#
# Each job is a script of its own in host/ (host/<job>.sh); what they share is in host/common.sh
# (settings, a host's state, SSH, teardown) and host/base.sh (the machine side, the base roots).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=host/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/host/common.sh"

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  need_root
  case $cmd in
    create | remove | remove-all | list | ssh | prepare) exec "$SANDBOX_DIR/host/$cmd.sh" "$@" ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd'" ;;
  esac
}

main "$@"
