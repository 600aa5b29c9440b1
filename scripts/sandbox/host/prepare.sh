#!/usr/bin/env bash
# host.sh prepare [--suite trixie|bookworm|all] [--rebuild]: the machine's packages, apt-cacher-ng and
# the base root of each suite, built once and cached.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source-path=SCRIPTDIR source=base.sh
source "$(dirname "${BASH_SOURCE[0]}")/base.sh"

cmd_prepare() {
  local suites=("$DEFAULT_SUITE") rebuild=0 s
  while (($#)); do
    case $1 in
      --suite)
        [[ ${2:?--suite needs a value} == all ]] && suites=(trixie bookworm) || suites=("$2")
        shift 2 ;;
      --rebuild) rebuild=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  for s in "${suites[@]}"; do valid_suite "$s"; done
  local t0=$SECONDS
  ensure_machine_packages
  mkdir -p "$STATE/hosts" "$STATE/bases" "$STATE/build"
  ensure_apt_proxy
  for s in "${suites[@]}"; do
    ensure_base "$s" "$rebuild"
    log "base $s: $(base_tarball "$s")"
    sed 's/^/  /' "$(base_tarball "$s" | sed 's/\.tar\.zst$//').versions" >&2 || true
  done
  log "prepared in $((SECONDS - t0)) s"
}

need_root
cmd_prepare "$@"
