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

# --- daemons kept by pid files in $DIR (acme-server.sh, dns-server.sh) ---------------------------
# The caller defines DIR, STOP_TIMEOUT (seconds) and log().

pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# The pid in $DIR/NAME.pid if that process is alive and still runs BINARY.
daemon_pid() {
  local name=$1 bin=$2 pid
  pid=$(cat "$DIR/$name.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$bin" ]] || return 1
  printf '%s' "$pid"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops NAME (TERM, then KILL after STOP_TIMEOUT) and forgets its pid file.
stop_daemon() {
  local name=$1 bin=$2 pid i
  if pid=$(daemon_pid "$name" "$bin"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then
      log "$name did not stop in ${STOP_TIMEOUT}s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "$name stopped (pid $pid)"
  fi
  rm -f "$DIR/$name.pid"
}

wait_until() { # TIMEOUT WHAT CMD...
  local timeout=$1 deadline
  shift 2  # $2 names what is awaited, for the reader
  deadline=$((SECONDS + timeout))
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
