# Shared by the jobs of scripts/sandbox/host.sh (sourced by host/<job>.sh): the settings, the
# messages, a host's state on this machine (its directory, host.env, its nspawn), SSH to it, and
# its teardown, which create, remove and remove-all all use.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings are read by the job scripts that source this file

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
DEFAULT_SUITE=trixie
MIRROR="${JHE_SANDBOX_MIRROR:-http://deb.debian.org/debian}"
# "Current from PyPI / npm" on purpose: the hosts stand for what users install today. The cached
# base keeps the versions it was built with; `prepare --rebuild` (or a change of these specs)
# refreshes them.
HUB_PIP_SPEC="${JHE_HUB_PIP_SPEC:-jupyterhub jupyterlab}"
CHP_NPM_SPEC="${JHE_CHP_NPM_SPEC:-configurable-http-proxy}"
HUB_USER=learner
SUBNET=10.213                     # host N gets $SUBNET.N.0/24: .1 machine side, .2 the host
AUTO_INDEX_MAX=199                # 200..254 are for fixed hosts such as "dev"
DEV_INDEX=200
BOOT_TIMEOUT="${JHE_SANDBOX_BOOT_TIMEOUT:-60}"
HUB_TIMEOUT="${JHE_SANDBOX_HUB_TIMEOUT:-90}"
STOP_TIMEOUT="${JHE_SANDBOX_STOP_TIMEOUT:-30}"

# What the machine itself needs (Debian package names).
MACHINE_PACKAGES=(debootstrap systemd-container apt-cacher-ng iproute2 openssh-client zstd
  curl ca-certificates util-linux procps tar debian-archive-keyring)
# What debootstrap puts into a host root (minbase + this). npm is not here: on trixie it depends
# on virtual packages debootstrap cannot resolve, so it is installed by apt-get afterwards.
BASE_INCLUDE=(systemd systemd-sysv dbus libpam-systemd openssh-server python3 python3-venv
  ca-certificates iproute2 procps curl nodejs less netbase)
BASE_APT_EXTRA=(npm)
# No unit needs masking: trixie's and bookworm's systemd reach "running" in nspawn as they are.

ACNG_BACKEND='http://deb.debian.org/debian/'
ACNG_PORT=3142
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
NSPAWN_RUN=/run/systemd/nspawn

START_US=${EPOCHREALTIME//[!0-9]/}
# Messages carry the time since the script started, which is where the README's figures come from.
log() {
  local us=$((${EPOCHREALTIME//[!0-9]/} - START_US))
  printf 'sandbox [%3d.%ds]: %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() { printf 'sandbox: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '6,8p' "$SANDBOX_DIR/host.sh" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_root() { [[ $EUID -eq 0 ]] || die "must run as root (namespaces, nspawn, debootstrap)"; }

SANDBOX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SANDBOX_DIR/lib.sh"

# --- small helpers ----------------------------------------------------------------------------

host_dir() { printf '%s/hosts/%s' "$STATE" "$1"; }

valid_name() {
  # The name becomes the machine name, the hostname and part of the namespace name.
  [[ $1 =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad host name '$1' (want [a-z][a-z0-9-]{0,30})"
}

valid_suite() {
  case $1 in trixie | bookworm) ;; *) die "unsupported suite '$1' (trixie or bookworm)" ;; esac
}

# Values go into host.env single-quoted, so none may contain a single quote.
env_line() {
  [[ $2 != *"'"* ]] || die "value for $1 contains a single quote"
  printf "%s='%s'\n" "$1" "$2"
}

random_password() {
  # 20 chars of [A-Za-z0-9]; no tr on /dev/urandom directly, which SIGPIPEs under pipefail.
  local raw
  raw=$(head -c 48 /dev/urandom | base64 -w0)
  raw=${raw//[^A-Za-z0-9]/}
  printf '%s' "${raw:0:20}"
}

# Runs a command chrooted into ROOT with /proc, /dev and /sys mounted in a private mount
# namespace: the mounts vanish with the namespace, so an interrupted build leaves none behind.
# `env -i` keeps the machine's PIP_* / NODE_* / proxy variables from leaking into the root.
in_root() {
  local root=$1
  shift
  # shellcheck disable=SC2016  # the inner script expands its own arguments
  env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    unshare --mount --propagation private -- /bin/bash -c '
      set -e
      r=$1; shift
      mount -t proc proc "$r/proc"
      mount --rbind /dev "$r/dev"
      mount -t sysfs sysfs "$r/sys"
      exec chroot "$r" "$@"' in_root "$root" "$@"
}

# --- hosts ------------------------------------------------------------------------------------

# Loads host.env of NAME into the current shell (HOST_ADDR, SSH_KEY, ...).
load_env() {
  local env_file
  env_file="$(host_dir "$1")/host.env"
  [[ -f $env_file ]] || return 1
  # shellcheck disable=SC1090
  source "$env_file"
}

# pid_alive: lib.sh's (a zombie counts as gone: nobody may reap a detached nspawn on machines whose
# init does not, and the creating script does not wait for it).

nspawn_pid() {
  # The pid recorded at start, if that process is still our systemd-nspawn for this root.
  local dir pid
  dir=$(host_dir "$1")
  pid=$(cat "$dir/nspawn.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == systemd-nspawn ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-D $dir/root " || return 1
  printf '%s' "$pid"
}

ssh_opts() {
  # -F /dev/null: the caller's ~/.ssh/config and agent must not change what is tested.
  printf '%s\n' -F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR \
    -p "$SSH_PORT"
}

# Runs a command on the host whose env is loaded (by load_env: HOST_ADDR, SSH_* ...).
# shellcheck disable=SC2153,SC2029  # the variables come from host.env; commands run remotely
on_host() {
  local opts
  mapfile -t opts < <(ssh_opts)
  ssh "${opts[@]}" "$SSH_USER@$HOST_ADDR" "$@"
}

host_is_up() { nspawn_pid "$1" >/dev/null && load_env "$1" && [[ -f "$(host_dir "$1")/ready" ]] \
  && on_host true </dev/null 2>/dev/null; }

# Whether namespace NS has processes in it (a live host, whichever state dir it belongs to).
netns_busy() { [[ -n "$(ip netns pids "$1" 2>/dev/null)" ]]; }

# Whether index IDX is taken on this machine: its machine-side veth exists and the namespace at
# the other end is alive. Other state dirs (JHE_SANDBOX_DIR) share the machine's interfaces and
# addresses, so their hosts count too. A veth whose namespace is empty or gone is a leftover.
index_busy() {
  local ns
  ip link show "jhe${1}m" >/dev/null 2>&1 || return 1
  ns=$(ip -o link show "jhe${1}m" | sed -n 's/.* link-netns \([^ ]*\).*/\1/p')
  [[ -n $ns ]] && netns_busy "$ns"
}

# --- teardown ---------------------------------------------------------------------------------

# The cgroups a host's nspawn runs in, one per hierarchy that systemd uses: the cgroup2 one and,
# on hybrid machines like ours, the v1 name=systemd one. nspawn --keep-unit puts the container
# below its own cgroup; started from the machine's root cgroup, every host would share one
# /payload tree and each host's systemd would manage (and on stop, kill) the others' units.
host_cgroups() {
  local m
  m=$(findmnt -rn -t cgroup2 -o TARGET | head -n1)
  if [[ -n $m ]]; then printf '%s/jhe-sandbox/%s\n' "$m" "$1"; fi
  m=$(findmnt -rn -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /(^|,)name=systemd(,|$)/ {print $1; exit}')
  if [[ -n $m ]]; then printf '%s/jhe-sandbox/%s\n' "$m" "$1"; fi
}

# Kills whatever is left of host NAME: the processes in its cgroups and in its namespace (after
# a SIGKILLed nspawn the container's processes live on otherwise).
kill_host_processes() {
  local name=$1 ns="jhe-$1" cg i pids
  for ((i = 0; i < 50; i++)); do
    pids=()
    while read -r cg; do
      [[ -d $cg ]] || continue
      if [[ -f $cg/cgroup.kill ]]; then echo 1 >"$cg/cgroup.kill" 2>/dev/null || true; fi
      mapfile -t -O "${#pids[@]}" pids < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done < <(host_cgroups "$name")
    if [[ -e /run/netns/$ns ]]; then mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null); fi
    ((${#pids[@]})) || return 0
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  log "warning: processes of '$name' survive SIGKILL: ${pids[*]}"
}

remove_host_cgroups() {
  local cg
  while read -r cg; do
    [[ -d $cg ]] || continue
    # Depth first: a cgroup can only be removed once it has no children.
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || log "warning: cannot remove cgroup $cg"
    rmdir "${cg%/*}" 2>/dev/null || true   # jhe-sandbox itself, once no host uses it
  done < <(host_cgroups "$1")
}

teardown() {
  local name=$1 dir pid i idx="" ns="jhe-$1" nspawn_lock=""
  dir=$(host_dir "$name")
  idx=$(cat "$dir/index" 2>/dev/null) || true
  # nspawn's lock for this root, named by its inode; /run is no tmpfs on these machines, so it
  # would stay forever.
  if [[ -d $dir/root ]]; then nspawn_lock=$NSPAWN_RUN/locks/inode-$(stat -c '%d:%i' "$dir/root"); fi
  if pid=$(nspawn_pid "$name"); then
    # SIGTERM makes nspawn ask the host's systemd to halt: units stop cleanly.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
      pid_alive "$pid" || break
      sleep 0.2
    done
    if pid_alive "$pid"; then
      log "host '$name' did not halt in ${STOP_TIMEOUT}s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    else
      log "host '$name' halted"
    fi
  fi
  kill_host_processes "$name"
  remove_host_cgroups "$name"
  # nspawn refuses to remove its propagation dir when /run is not a tmpfs ("can't allow that").
  if [[ -d $NSPAWN_RUN/propagate/$name ]] && ! mountpoint -q "$NSPAWN_RUN/propagate/$name"; then
    rm -rf --one-file-system "${NSPAWN_RUN:?}/propagate/$name"
  fi
  if [[ -n $nspawn_lock ]]; then rm -f "$nspawn_lock"; fi
  if [[ -e /run/netns/$ns ]]; then ip netns del "$ns" 2>/dev/null || true; fi
  # Deleting the namespace deletes the veth pair; this covers a pair never moved into it.
  [[ -z $idx ]] || ip link del "jhe${idx}m" 2>/dev/null || true
  # The root is an overlay mount (nspawn's own mounts are in its namespace); an interrupted run
  # could have left more: unmount deepest first.
  if [[ -d $dir ]]; then
    local m
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$dir"
  fi
}
