#!/usr/bin/env bash
# The main job on a fresh machine: installs what is needed, starts the local sandbox host "dev"
# (Debian 13 + systemd + a running JupyterHub, at 10.213.200.2), deploys the dev stack to it with
# the real Pulumi engine, proves a kernel works through the proxy, and prints the URL.
#
#   scripts/deploy-dev.sh [up|preview|destroy]     (default: up)
#   scripts/deploy-dev.sh remove-host              (after destroy: stop and delete the sandbox host)
set -euo pipefail
# The commands printed at the end are relative to where the user is, not to the repository.
export JHE_CALLER_CWD=$PWD
cd "$(dirname "$0")/.."
action=${1:-up}
[[ $EUID -eq 0 ]] || { echo "deploy-dev: run as root (the sandbox host needs namespaces and systemd-nspawn)" >&2; exit 1; }
if [[ $action == remove-host ]]; then exec bash scripts/sandbox/host.sh remove dev; fi

[[ -d node_modules/@pulumi/pulumi ]] || npm ci --no-audit --no-fund --loglevel=error
# shellcheck source=toolchain/env.sh
source scripts/toolchain/env.sh
if ! bash scripts/toolchain/check-plugins.sh; then
  echo "deploy-dev: the Pulumi plugins above are missing; install them and run again" >&2
  exit 1
fi
if [[ $action == up ]]; then
  bash scripts/sandbox/host.sh prepare --suite trixie
  bash scripts/sandbox/host.sh create dev --suite trixie --index 200 >/dev/null
fi
exec node --import tsx scripts/deploy-dev.ts "$action"
