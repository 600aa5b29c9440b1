#!/usr/bin/env bash
# Which stacks a change touches, for the CI workflow (.github/workflows/pulumi.yml): prints
# `stacks=["a","b"]` (a JSON list, for a job matrix) for $GITHUB_OUTPUT.
#
#   scripts/ci/changed-stacks.sh BASE HEAD        (commits; BASE may be empty or all zeros)
#
# - A changed Pulumi.<stack>.yaml that still exists at HEAD: that stack.
# - A change to the program (anything but docs, tests, *.md and .github/): every stack — each
#   stack's preview then shows what the upgrade does on its server (often: nothing).
# - No usable BASE (a new branch, a force push): every stack.
# Stacks whose file has a line `# jupyterhub-edge-ci: off` (e.g. the local sandbox stack dev) are
# never listed. A deleted stack file lists nothing: tearing a stack down is `pulumi destroy`, by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:-} head=${2:-HEAD}

all_stacks() {
  git ls-tree --name-only "$head" | sed -n 's/^Pulumi\.\(.*\)\.yaml$/\1/p'
}
ci_enabled() {
  local text
  text=$(git show "$head:Pulumi.$1.yaml")
  ! grep -qx '# jupyterhub-edge-ci: off' <<<"$text"
}

if [[ -z $base || $base =~ ^0+$ ]] || ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  candidates=$(all_stacks)
else
  changed=$(git diff --name-only "$base" "$head")
  if grep -v -E '^(Pulumi\.[^/]+\.yaml|docs/.*|test/.*|\.github/.*|.*\.md)$' <<<"$changed" | grep -q .; then
    candidates=$(all_stacks)
  else
    candidates=$(sed -n 's/^Pulumi\.\([^/]*\)\.yaml$/\1/p' <<<"$changed" | while read -r s; do
      if git cat-file -e "$head:Pulumi.$s.yaml" 2>/dev/null; then echo "$s"; fi; done)
  fi
fi

list=()
for stack in $candidates; do
  [[ $stack =~ ^[A-Za-z0-9._-]+$ ]] || { echo "changed-stacks: stack name '$stack' is not [A-Za-z0-9._-]" >&2; exit 1; }
  ci_enabled "$stack" && list+=("\"$stack\"")
done
printf 'stacks=[%s]\n' "$(IFS=,; echo "${list[*]}")"
