#!/usr/bin/env bash
# shellcheck disable=SC2016  # backticks in the summary are Markdown, not command substitution
# The scheduled drift check of the CI workflow (.github/workflows/pulumi.yml, job `drift`): one
# stack's `pulumi preview --refresh --expect-no-changes`. Exit 0 when every server holds what the
# program put there; otherwise non-zero, with the per-server list of what differs (the ServerState
# resources' `drift`, diffs included) in the job summary ($GITHUB_STEP_SUMMARY) and on stdout.
# `pulumi up --refresh` repairs exactly those items (docs/ci.md §7).
#
#   scripts/ci/drift-check.sh STACK       (the backend and passphrase from the environment, as `pulumi` reads them)
set -uo pipefail
stack=${1:?usage: drift-check.sh STACK}
[[ $stack =~ ^[A-Za-z0-9._-]+$ ]] || { echo "drift-check: bad stack name" >&2; exit 2; }
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pulumi preview --refresh --expect-no-changes --diff --suppress-progress --non-interactive --stack "$stack" >"$out" 2>&1
rc=$?

# The refresh section's drift maps, each under its server: `[urn=…::edge-<server>-drift]` (a
# single-host stack: `edge-drift`), then `~ drift : {` … `}`.
drift=$(awk '
  /\[urn=[^]]*::edge(-[A-Za-z0-9._-]+)?-drift\]/ {
    server = $0; sub(/.*::edge-?/, "", server); sub(/-?drift\].*/, "", server); if (server == "") server = "(this stack'"'"'s server)"
  }
  /^[ ~]*~ drift *: \{$/ { on = 1; print "server " server ":"; next }
  on && /^ *\}$/ { on = 0; print ""; next }
  on { sub(/^ +/, "  "); print }
' "$out")

if ((rc == 0)); then
  echo "drift-check: stack $stack: every server holds what the program put there"
  printf '### Stack `%s`: no drift\n' "$stack" >>"$summary"
  exit 0
fi
if [[ -n $drift ]]; then
  echo "drift-check: stack $stack: hand edits on the servers (\`pulumi up --refresh\` puts back exactly these):"
  echo "$drift"
  {
    printf '### Stack `%s`: hand edits on the servers\n\n' "$stack"
    printf '`pulumi up --refresh --stack %s` re-applies exactly the steps that own these items.\n\n```\n%s\n```\n' "$stack" "$drift"
  } >>"$summary"
else
  # No drift listed: the preview failed for another reason (an unreachable server, config changed
  # without an `up`): its own last lines say which.
  echo "drift-check: stack $stack: the preview did not come out clean (exit $rc):"
  tail -n 40 "$out"
  {
    printf '### Stack `%s`: preview --refresh did not come out clean (exit %s)\n\n```\n' "$stack" "$rc"
    tail -n 40 "$out"
    printf '```\n'
  } >>"$summary"
fi
exit 1
