#!/usr/bin/env bash
# Ensures a Pulumi CLI and prints the directory that holds it (put it first on PATH).
#
# 1. `pulumi` already on PATH (a normal install from get.pulumi.com, Homebrew, …) is used as is.
# 2. Otherwise the CLI is built once from the Go module proxy — the only place this project's
#    machines can get it — into a cache outside the repository keyed by version, so later runs
#    cost nothing. Building needs Go ≥ 1.24 and ~2 GB of memory; it takes ~6.5 min on 2 cores.
#
# Plugins and the nodejs language host are NOT built here: see scripts/toolchain/check-plugins.sh.
set -euo pipefail

PULUMI_CLI_VERSION="${PULUMI_CLI_VERSION:-3.259.0}"
cache_root="${JHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-edge}"
bin_dir="$cache_root/pulumi-cli/v$PULUMI_CLI_VERSION/bin"

log() { printf 'pulumi-cli: %s\n' "$*" >&2; }

if [[ "${JHE_FORCE_CLI_BUILD:-}" != 1 ]] && existing=$(command -v pulumi 2>/dev/null) \
   && [[ "$existing" != "$bin_dir/pulumi" ]]; then
  log "using $existing ($("$existing" version 2>/dev/null || echo 'version unknown'))"
  dirname "$existing"
  exit 0
fi

if [[ -x "$bin_dir/pulumi" ]]; then
  log "cached $bin_dir/pulumi ($("$bin_dir/pulumi" version))"
  echo "$bin_dir"
  exit 0
fi

# One build at a time per cache: a second caller (another test run, another checkout) waits for
# the first one's binary instead of starting a second 1.7 GB, 6-minute build beside it.
mkdir -p "$cache_root"
exec 9>"$cache_root/.pulumi-cli-build.lock"
if ! flock -n 9; then
  log "another build of the Pulumi CLI is running; waiting for it"
  flock 9
fi
if [[ -x "$bin_dir/pulumi" ]]; then
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "no 'pulumi' on PATH and no Go toolchain to build it; install Pulumi: https://www.pulumi.com/docs/install/"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building Pulumi CLI v$PULUMI_CLI_VERSION from the Go module proxy (cold: ~6.5 min) in $work"
cat >"$work/go.mod" <<GOMOD
module jupyterhub-edge/pulumi-cli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_CLI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_CLI_VERSION
)

// pkg/v3's own go.mod carries this replace; replaces are not inherited, so repeat it.
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
(
  cd "$work"
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  go mod tidy >&2
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION" \
    -o "$work/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
)
mkdir -p "$bin_dir"
mv "$work/pulumi" "$bin_dir/pulumi.tmp" && mv "$bin_dir/pulumi.tmp" "$bin_dir/pulumi"
log "built $bin_dir/pulumi ($("$bin_dir/pulumi" version))"
echo "$bin_dir"
