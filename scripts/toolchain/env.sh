# Sourced by the project's scripts: puts a Pulumi CLI on PATH and keeps it off the network.
# Respects what the user already set (their own PULUMI_HOME, backend, passphrase).
# shellcheck shell=bash

jhe_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export JHE_ROOT=$jhe_root
export JHE_STATE_HOME=${JHE_STATE_HOME:-${XDG_STATE_HOME:-$HOME/.local/state}/jupyterhub-edge}

pulumi_bin_dir=$(bash "$jhe_root/scripts/toolchain/pulumi-cli.sh")
export PATH="$pulumi_bin_dir:${PULUMI_HOME:-$HOME/.pulumi}/bin:$PATH"

export PULUMI_SKIP_UPDATE_CHECK=true
# Plugins are installed explicitly (scripts/toolchain/check-plugins.sh); an automatic download
# attempt on a machine without the internet would only hang.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
# (The Automation API runs set PULUMI_IGNORE_AMBIENT_PLUGINS themselves; it is not set here because
# it also hides the nodejs language host on PATH, which plain `pulumi up` needs.)
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-true}
