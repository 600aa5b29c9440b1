#!/usr/bin/env bash
# Makes sure the resource plugins the npm packages ask for are installed, the ordinary way
# (`pulumi plugin install`, which downloads them where the internet is reachable), and says in one
# line per missing piece what is missing and how to install it. Never builds anything.
#
#   check-plugins.sh            try to install what is missing, then report; exit 1 if any is missing
#   check-plugins.sh --check    report only
# Prints lines `ok <kind> <name> <version>` / `missing <kind> <name> <version>: <how>` on stdout.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mode=${1:-install}
plugins_dir=${PULUMI_HOME:-$HOME/.pulumi}/plugins
missing=0

pkg_version() { node -p "require('$root/node_modules/@pulumi/$1/package.json').version" 2>/dev/null; }

for name in command tls random; do
  version=$(pkg_version "$name")
  if [[ -z $version ]]; then echo "missing npm @pulumi/$name: run 'npm ci' in $root"; missing=1; continue; fi
  dir=$plugins_dir/resource-$name-v$version
  if [[ ! -x $dir/pulumi-resource-$name && $mode == install ]] && command -v pulumi >/dev/null; then
    echo "installing plugin resource $name $version ..." >&2
    timeout 60 pulumi plugin install resource "$name" "$version" >/dev/null 2>&1 || true
  fi
  if [[ -x $dir/pulumi-resource-$name ]]; then
    echo "ok plugin resource-$name $version"
  else
    echo "missing plugin resource-$name $version: 'pulumi plugin install resource $name $version' (needs the internet) or '... --file <binary>'"
    missing=1
  fi
done

# Every run of the program needs the nodejs language host (normal Pulumi installs ship it next to
# the CLI): it runs this package's own provider plugin (provider/, the drift watch's), for plain
# `pulumi up` and the Automation API path (scripts/deploy-dev.ts, the tests) alike, and the
# component package for other languages. Missing, it counts as a missing plugin. A Python program
# using the package (examples/python) needs the python language host and its
# pulumi-language-python-exec script beside it, and the `pulumi` package from PyPI (pinned in
# examples/python/requirements.txt); that one does not count.
cli_dir=$(dirname "$(command -v pulumi 2>/dev/null || echo /x)")
if command -v pulumi-language-nodejs >/dev/null || [[ -x $cli_dir/pulumi-language-nodejs ]]; then
  echo "ok language-host nodejs"
else
  echo "missing language-host pulumi-language-nodejs: comes with a normal Pulumi install (https://www.pulumi.com/docs/install/); every run of the program needs it (it starts this package's own provider plugin, the drift watch), as do plain 'pulumi up' and the component package"
  missing=1
fi
if { command -v pulumi-language-python >/dev/null || [[ -x $cli_dir/pulumi-language-python ]]; } &&
   { command -v pulumi-language-python-exec >/dev/null || [[ -x $cli_dir/pulumi-language-python-exec ]]; }; then
  echo "ok language-host python"
else
  echo "missing language-host pulumi-language-python: comes with a normal Pulumi install (with pulumi-language-python-exec beside it); only Python programs using the package (examples/python) need it"
fi
exit $missing
