# Shared by the sandbox scripts (sourced). Process hygiene for long-lived helpers.
# shellcheck shell=bash

# Runs "$@" holding an exclusive flock on FILE (created on demand). Not run as `cmd || …`, which
# would switch off set -e inside it: on failure the script exits and the lock goes with its fd.
with_lock() {
  local file=$1 fd
  shift
  mkdir -p "$(dirname "$file")"
  exec {fd}>"$file"
  flock "$fd"
  "$@"
  exec {fd}>&-
}

# Execs a long-lived process (a daemon, a host's nspawn) with every fd above 2 closed: an
# inherited lock fd would hold our flock for the daemon's whole life, and an inherited pipe of
# the caller (a test runner's stdout) would keep the caller waiting for EOF. Call in a subshell.
exec_clean() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) || continue
    { exec {fd}>&-; } 2>/dev/null || true
  done
  exec "$@"
}
