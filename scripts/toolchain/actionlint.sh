#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, which also runs
# shellcheck on their `run:` scripts when shellcheck is installed.
#
# actionlint comes from PATH, or is built once with `go install` from the Go module proxy into a
# cache outside the repository keyed by version (~1 min cold, then instant).
#
#   scripts/toolchain/actionlint.sh [actionlint args…]      (default: every workflow of the repo)
set -euo pipefail
cd "$(dirname "$0")/../.."

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.7}"
cache_root="${JHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-edge}"
bin_dir="$cache_root/actionlint/v$ACTIONLINT_VERSION"

log() { printf 'actionlint: %s\n' "$*" >&2; }

if existing=$(command -v actionlint 2>/dev/null); then
  bin=$existing
elif [[ -x $bin_dir/actionlint ]]; then
  bin=$bin_dir/actionlint
else
  command -v go >/dev/null || { log "neither actionlint nor Go (to build it) is installed"; exit 2; }
  mkdir -p "$bin_dir"
  exec 9>"$bin_dir/.build.lock"
  flock 9
  if [[ ! -x $bin_dir/actionlint ]]; then
    log "building actionlint v$ACTIONLINT_VERSION from the Go module proxy into $bin_dir"
    t0=$SECONDS
    GOBIN=$bin_dir CGO_ENABLED=0 go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" >&2
    log "built in $((SECONDS - t0)) s"
  fi
  bin=$bin_dir/actionlint
fi

log "$("$bin" -version | head -n 1), shellcheck: $(command -v shellcheck >/dev/null && shellcheck --version | sed -n 's/^version: //p' || echo 'not installed (run: scripts not checked)')"
exec "$bin" "$@"
