#!/usr/bin/env bash
# Ensures versitygw (github.com/versity/versitygw, an S3-compatible gateway that serves a plain
# directory: its `posix` backend) and prints the directory that holds it. The engine tier runs the
# workflow's S3 state backend against it (test/engine/s3-backend.test.ts, test/support/s3-server.ts).
#
# 1. `versitygw` already on PATH at the pinned version is used as is.
# 2. Otherwise it is built once with `go install …@vVERSION` from the Go module proxy (tagged
#    releases are there; its go.mod has no replace, so no wrapper module is needed) into a cache
#    outside the repository keyed by version. Needs Go ≥ 1.25; cold: 315 s on a loaded 2-core machine
#    (2 min of CPU, the downloads included; then free).
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-1.8.0}"
cache_root="${JHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-edge}"
bin_dir="$cache_root/versitygw/v$VERSITYGW_VERSION/bin"

log() { printf 'versitygw: %s\n' "$*" >&2; }

if existing=$(command -v versitygw 2>/dev/null) && [[ "$existing" != "$bin_dir/versitygw" ]] \
   && "$existing" --version 2>/dev/null | grep -q "Version *: *v\?$VERSITYGW_VERSION\$"; then
  log "using $existing"
  dirname "$existing"
  exit 0
fi

if [[ -x "$bin_dir/versitygw" ]]; then
  echo "$bin_dir"
  exit 0
fi

# One build at a time per cache: a second caller waits for the first one's binary.
mkdir -p "$cache_root"
exec 9>"$cache_root/.versitygw-build.lock"
if ! flock -n 9; then
  log "another build of versitygw is running; waiting for it"
  flock 9
fi
if [[ -x "$bin_dir/versitygw" ]]; then
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "no Go toolchain to build versitygw v$VERSITYGW_VERSION (https://go.dev/dl/)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building versitygw v$VERSITYGW_VERSION from the Go module proxy (cold: ~5 min) in $work"
t0=$SECONDS
(
  cd "$work"
  # No go.mod here: `go install pkg@version` builds the release's own module graph (go.sum checked).
  export GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$work/bin" GO111MODULE=on
  go install -trimpath \
    -ldflags "-s -w -X=main.Version=v$VERSITYGW_VERSION -X=main.Build=proxy.golang.org -X=main.BuildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION" >&2
)
mkdir -p "$bin_dir"
mv "$work/bin/versitygw" "$bin_dir/versitygw.tmp" && mv "$bin_dir/versitygw.tmp" "$bin_dir/versitygw"
log "built $bin_dir/versitygw v$VERSITYGW_VERSION in $((SECONDS - t0)) s"
echo "$bin_dir"
