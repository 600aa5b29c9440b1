#!/usr/bin/env bash
# Sandbox test hosts: real Debian hosts with a real systemd, each in its own network namespace,
# on which JupyterHub already runs the way a user would have set it up. Tests and the dev
# deployment reach them over SSH exactly as they would reach a user's server.
#
#   host.sh prepare [--suite trixie|bookworm|all] [--rebuild]
#   host.sh create NAME [--suite trixie|bookworm] [--index N]   -> prints $STATE/hosts/NAME/host.env
#   host.sh remove NAME | remove-all | list | ssh NAME [cmd...]
#
# See README.md beside this file for the layout and the figures measured. Needs root.
set -euo pipefail

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
  sed -n '6,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_root() { [[ $EUID -eq 0 ]] || die "must run as root (namespaces, nspawn, debootstrap)"; }

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

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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

# --- machine side -----------------------------------------------------------------------------

ensure_machine_packages() {
  local p missing=()
  for p in "${MACHINE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing on the machine: ${missing[*]}"
  # An old or missing package list makes the first try fail; update once and retry.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

acng_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$ACNG_PORT") 2>/dev/null; }

# apt inside the hosts goes through apt-cacher-ng on the machine: the namespaces have no route
# to the mirror, and the cache makes every later `apt-get install nginx` fast. It listens on all
# of the machine's addresses (its default), so every host's MACHINE_ADDR reaches it without a
# restart when a veth appears. Machines without systemd (and with a docker-style policy-rc.d)
# never start it on their own, so it is started here.
ensure_apt_proxy_locked() {
  local conf=/etc/apt-cacher-ng/backends_debian changed=0 i
  if [[ "$(cat "$conf" 2>/dev/null)" != "$ACNG_BACKEND" ]]; then
    printf '%s\n' "$ACNG_BACKEND" >"$conf"
    changed=1
  fi
  if acng_listening && ((changed)); then
    (exec_clean /etc/init.d/apt-cacher-ng restart </dev/null >/dev/null 2>&1) || true
  elif ! acng_listening; then
    (exec_clean /etc/init.d/apt-cacher-ng start </dev/null >/dev/null 2>&1) || true
  fi
  for ((i = 0; i < 50; i++)); do
    acng_listening && return 0
    sleep 0.2
  done
  die "apt-cacher-ng does not listen on :$ACNG_PORT (see /var/log/apt-cacher-ng/)"
}
ensure_apt_proxy() { with_lock "$STATE/.lock" ensure_apt_proxy_locked; }

# --- base roots -------------------------------------------------------------------------------

# Writes the files that make the base a user's JupyterHub server. Per-host values (password,
# hostname, keys, proxy address) are written by personalize_root instead.
write_base_files() {
  local root=$1
  mkdir -p "$root/etc/jupyterhub" "$root/etc/systemd/system" "$root/etc/ssh/sshd_config.d"
  install -d -m 0700 "$root/var/lib/jupyterhub"
  cat >"$root/etc/systemd/system/jupyterhub.service" <<'UNIT'
[Unit]
Description=JupyterHub
After=network.target

[Service]
User=root
# The spawner finds jupyterhub-singleuser and the hub finds configurable-http-proxy on PATH.
Environment=PATH=/opt/jupyterhub/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WorkingDirectory=/var/lib/jupyterhub
ExecStart=/opt/jupyterhub/bin/jupyterhub -f /etc/jupyterhub/jupyterhub_config.py
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
  # Keys only, and only the ed25519 host key, so every client (OpenSSH, Go's x/crypto/ssh in
  # Pulumi) negotiates the one key that host.env pins.
  cat >"$root/etc/ssh/sshd_config.d/sandbox.conf" <<'SSHD'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
SSHD
  # As the installer leaves it (pam_env complains on every SSH login otherwise).
  printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"
  # Users' servers have updates and security in their sources too.
  cat >"$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $2 main
deb http://deb.debian.org/debian $2-updates main
deb http://deb.debian.org/debian-security $2-security main
SOURCES
}

# Runs one build step with its output in the build log; on failure shows the log's tail.
bstep() {
  "$@" >>"$BUILD_LOG" 2>&1 || {
    tail -n 40 "$BUILD_LOG" >&2
    die "base build step failed: $* (full log: $BUILD_LOG)"
  }
}

# Builds the base root for SUITE and packs it into OUT (.tar.zst). The code of this function
# and of the ones it calls is part of the cache key (base_key), so a change rebuilds the base.
build_base() {
  local suite=$1 out=$2 work root t0
  t0=$SECONDS
  work=$(mktemp -d "$STATE/build/$suite.XXXXXX")
  root=$work/root
  BUILD_LOG=$STATE/build/$suite.log
  : >"$BUILD_LOG"
  # Mounts live in private namespaces (in_root), so removing the work dir is all the cleanup.
  # shellcheck disable=SC2064  # expand now: the locals are gone when the trap fires
  trap "rm -rf --one-file-system '$work'" EXIT
  mkdir -p "$root"

  log "base $suite: debootstrap (first stage)"
  bstep env -i PATH="$CHROOT_PATH" unshare --mount --propagation private -- \
    debootstrap --foreign --variant=minbase --include="$(IFS=,; echo "${BASE_INCLUDE[*]}")" \
    "$suite" "$root" "$MIRROR"
  # Package scripts run in a chroot would start sshd (and later nginx...) on the machine's own
  # network: forbid service starts for the whole build. Removed again before packing.
  mkdir -p "$root/usr/sbin"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  log "base $suite: debootstrap (second stage)"
  bstep in_root "$root" /debootstrap/debootstrap --second-stage

  write_base_files "$root" "$suite"
  # The build talks to the mirror and registries over the machine's network and resolver.
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  log "base $suite: apt-get (updates, ${BASE_APT_EXTRA[*]})"
  bstep in_root "$root" apt-get update
  bstep in_root "$root" apt-get -y dist-upgrade
  bstep in_root "$root" apt-get install -y --no-install-recommends "${BASE_APT_EXTRA[@]}"

  # pip and npm talk to the registries through a TLS-intercepting proxy whose CA only the
  # machine trusts: hand them the machine's bundle for the install, then take it away again.
  cp /etc/ssl/certs/ca-certificates.crt "$root/tmp/machine-ca.crt"
  log "base $suite: JupyterHub from PyPI ($HUB_PIP_SPEC)"
  bstep in_root "$root" python3 -m venv /opt/jupyterhub
  # shellcheck disable=SC2086  # HUB_PIP_SPEC is a list of requirement specs
  bstep in_root "$root" env PIP_CERT=/tmp/machine-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /opt/jupyterhub/bin/pip install --no-cache-dir $HUB_PIP_SPEC
  log "base $suite: configurable-http-proxy from npm ($CHP_NPM_SPEC)"
  # shellcheck disable=SC2086
  bstep in_root "$root" env npm_config_cafile=/tmp/machine-ca.crt NODE_EXTRA_CA_CERTS=/tmp/machine-ca.crt \
    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    npm install -g $CHP_NPM_SPEC
  rm -f "$root/tmp/machine-ca.crt"
  rm -rf "$root/root/.npm" "$root/root/.cache"

  bstep in_root "$root" useradd --create-home --shell /bin/bash "$HUB_USER"
  bstep in_root "$root" systemctl enable jupyterhub.service

  # What was installed, for the logs and the README.
  {
    echo "suite=$suite"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    # shellcheck disable=SC2016  # a dpkg-query format, not a shell expansion
    echo "systemd=$(in_root "$root" dpkg-query -W -f='${Version}' systemd)"
    echo "python=$(in_root "$root" python3 -c 'import platform; print(platform.python_version())')"
    echo "node=$(in_root "$root" node --version)"
    in_root "$root" /opt/jupyterhub/bin/pip list --format=freeze 2>/dev/null \
      | grep -iE '^(jupyterhub|jupyterlab|jupyter_server|ipykernel)==' || true
    echo "configurable-http-proxy=$(in_root "$root" configurable-http-proxy --version)"
  } >"$work/versions"

  # Per-host things must not be shared: host keys (ssh-keygen -A per host), the machine id,
  # and the build's service ban, which would stop nginx/apache from starting inside the host.
  rm -f "$root"/etc/ssh/ssh_host_*
  : >"$root/etc/machine-id"
  rm -f "$root/usr/sbin/policy-rc.d"
  # dbus keeps a copy (or, on trixie, a symlink to /etc/machine-id): only a copy must go.
  [[ -L $root/var/lib/dbus/machine-id ]] || rm -f "$root/var/lib/dbus/machine-id"
  bstep in_root "$root" apt-get clean
  rm -rf "$root/debootstrap"

  log "base $suite: packing"
  tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" -cf - . \
    | zstd -q -T0 -3 -o "$work/base.tar.zst"
  mv "$work/versions" "${out%.tar.zst}.versions"
  mv "$work/base.tar.zst" "$out"
  rm -rf --one-file-system "$work"
  trap - EXIT
  log "base $suite: built in $((SECONDS - t0)) s: $out"
}

# The cache key: the suite plus everything that decides the base's content.
base_key() {
  {
    printf '%s\n' "$1" "$MIRROR" "$HUB_PIP_SPEC" "$CHP_NPM_SPEC" "$HUB_USER" \
      "${BASE_INCLUDE[@]}" -- "${BASE_APT_EXTRA[@]}"
    declare -f build_base write_base_files in_root
  } | sha256sum | cut -c1-16
}

base_tarball() { printf '%s/bases/%s-%s.tar.zst' "$STATE" "$1" "$(base_key "$1")"; }

ensure_base_locked() {
  local suite=$1 rebuild=$2 out old
  out=$(base_tarball "$suite")
  if [[ -s $out && $rebuild != 1 ]]; then return 0; fi
  mkdir -p "$STATE/build"
  build_base "$suite" "$out"
  # Only the current base of a suite is worth its disk space.
  for old in "$STATE/bases/$suite"-*.tar.zst; do
    [[ $old == "$out" || ! -e $old ]] || rm -f "$old" "${old%.tar.zst}.versions"
  done
}
ensure_base() { with_lock "$STATE/bases/.$1.lock" ensure_base_locked "$1" "${2:-0}"; }

# The base unpacked once, the read-only lower layer of every host of the suite (overlayfs): a host
# starts from it in no time and takes only what it writes (unpacking it per host took ~11 s, and
# removing it ~7 s). Older bases' copies go when no host uses them any more.
base_root() { printf '%s/bases/%s-%s.root' "$STATE" "$1" "$(base_key "$1")"; }
ensure_base_root_locked() {
  local root old
  root=$(base_root "$1")
  if [[ ! -d $root ]]; then
    rm -rf --one-file-system "$root.partial" && mkdir -p "$root.partial"
    zstd -q -dc "$(base_tarball "$1")" | tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root.partial" -xpf -
    mv "$root.partial" "$root"
  fi
  for old in "$STATE/bases/$1"-*.root; do
    [[ $old == "$root" ]] || findmnt -rn -o OPTIONS | grep -qF "lowerdir=$old" || rm -rf --one-file-system "$old"
  done
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

# Whether PID runs (a zombie does not: nobody may reap a detached nspawn on machines whose
# init does not, and the creating script does not wait for it).
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

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

allocate_index_locked() {
  local name=$1 want=$2 dir idx other
  dir=$(host_dir "$name")
  mkdir -p "$STATE/hosts"
  local -A used=()
  for other in "$STATE"/hosts/*/index; do
    [[ -e $other ]] || continue
    [[ $other == "$dir/index" ]] && continue
    used[$(cat "$other")]=$(basename "$(dirname "$other")")
  done
  if [[ -n $want ]]; then
    [[ -z ${used[$want]:-} ]] || die "index $want is taken by host '${used[$want]}'"
    ! index_busy "$want" || die "index $want is taken by a host of another state dir (veth jhe${want}m)"
    idx=$want
  else
    for ((idx = 1; idx <= AUTO_INDEX_MAX; idx++)); do
      [[ -n ${used[$idx]:-} ]] || index_busy "$idx" || break
    done
    ((idx <= AUTO_INDEX_MAX)) || die "no free host index (1..$AUTO_INDEX_MAX)"
  fi
  mkdir -p "$dir"
  printf '%s\n' "$idx" >"$dir/index"
}

# Per-host files written straight into the host's root before it boots: nothing of this is in
# the shared base.
personalize_root() {
  local name=$1 root=$2 idx=$3 password=$4 machine_addr host_addr
  machine_addr=$SUBNET.$idx.1
  host_addr=$SUBNET.$idx.2
  printf '%s\n' "$name" >"$root/etc/hostname"
  cat >"$root/etc/hosts" <<HOSTS
127.0.0.1	localhost
127.0.1.1	$name
$host_addr	$name
::1	localhost ip6-localhost ip6-loopback
HOSTS
  # No nameserver: names outside the host do not resolve here, and failing fast beats waiting
  # on a resolver the namespace cannot reach.
  printf '# sandbox host: no DNS (apt goes through the machine'"'"'s apt-cacher-ng by address)\n' \
    >"$root/etc/resolv.conf"
  # A machine id of its own (systemd would otherwise treat the empty one as first boot).
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  printf '%s\n' "${uuid//-/}" >"$root/etc/machine-id"
  printf 'Acquire::http::Proxy "http://%s:%s";\n' "$machine_addr" "$ACNG_PORT" \
    >"$root/etc/apt/apt.conf.d/01proxy"
  in_root "$root" ssh-keygen -A >/dev/null
  install -d -m 0700 "$root/root/.ssh"
  install -m 0600 "$(host_dir "$name")/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
  install -m 0640 /dev/null "$root/etc/jupyterhub/jupyterhub_config.py"
  cat >"$root/etc/jupyterhub/jupyterhub_config.py" <<CONFIG
# JupyterHub for our course: one shared password, notebooks run as local users.
c = get_config()  # noqa

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "$password"
c.Authenticator.allowed_users = {"$HUB_USER"}

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.default_url = "/lab"

# Only local for now; the web server in front will come later.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"

# Answer the spawn request at once and let the page follow the progress.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

c.JupyterHub.cookie_secret_file = "/var/lib/jupyterhub/jupyterhub_cookie_secret"
c.JupyterHub.db_url = "sqlite:////var/lib/jupyterhub/jupyterhub.sqlite"
CONFIG
}

setup_network() {
  local ns=$1 idx=$2 veth_m="jhe${2}m" veth_h="jhe${2}h"
  ip netns add "$ns"
  ip link add "$veth_m" type veth peer name "$veth_h"
  ip link set "$veth_h" netns "$ns"
  ip -n "$ns" link set "$veth_h" name eth0
  ip addr add "$SUBNET.$idx.1/24" dev "$veth_m"
  ip -n "$ns" addr add "$SUBNET.$idx.2/24" dev eth0
  ip link set "$veth_m" up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  # Deliberately no default route: the only thing a host may reach is the machine's side of
  # its veth (apt-cacher-ng); anything else fails at once instead of leaving the machine.
}

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

start_nspawn() {
  local name=$1 ns=$2 dir cgroups
  dir=$(host_dir "$name")
  mapfile -t cgroups < <(host_cgroups "$name")
  # In the background and in a session of its own, so the host outlives this script. Without
  # --console=passive and stdin from /dev/null nspawn dies at once ("Parent died too early").
  # Started from a non-interactive shell, setsid does not fork, so $! is nspawn's own pid.
  (
    for cg in "${cgroups[@]}"; do
      if ! { mkdir -p "$cg" && echo "$BASHPID" >"$cg/cgroup.procs"; }; then
        log "warning: cannot use cgroup $cg; hosts may share one cgroup tree"
      fi
    done
    # CAP_NET_ADMIN: fail2ban's bans are nftables rules in the host's own firewall. The host has
    # a network namespace of its own, so the capability reaches only that namespace's rules.
    exec_clean setsid systemd-nspawn -D "$dir/root" -b --register=no --keep-unit --console=passive \
      --network-namespace-path="/run/netns/$ns" --machine="$name" --capability=CAP_NET_ADMIN \
      --link-journal=no --resolv-conf=off --timezone=off \
      </dev/null >>"$dir/nspawn.log" 2>&1
  ) &
  printf '%s\n' "$!" >"$dir/nspawn.pid"
}

fail_with_log() {
  local name=$1 msg=$2 dir
  dir=$(host_dir "$name")
  log "$msg; last lines of $dir/nspawn.log:"
  tail -n 20 "$dir/nspawn.log" >&2 || true
  # systemd inside logs to its persistent journal, which the machine can read without SSH.
  if [[ -d $dir/root/var/log/journal ]]; then
    log "last lines of the host's journal:"
    journalctl -D "$dir/root/var/log/journal" -n 40 --no-pager >&2 2>/dev/null || true
  fi
  if [[ ${JHE_SANDBOX_KEEP_FAILED:-0} == 1 ]]; then
    log "JHE_SANDBOX_KEEP_FAILED=1: leaving '$name' as it is"
  else
    teardown "$name"
  fi
  die "$msg"
}

wait_boot() {
  local name=$1 deadline state
  deadline=$((SECONDS + BOOT_TIMEOUT))
  until on_host true </dev/null 2>/dev/null; do
    # The recorded pid, not nspawn_pid: for a moment it is still the shell about to exec nspawn.
    pid_alive "$(cat "$(host_dir "$name")/nspawn.pid")" || fail_with_log "$name" "host '$name' stopped while booting"
    ((SECONDS < deadline)) || fail_with_log "$name" "host '$name' did not answer SSH within ${BOOT_TIMEOUT}s"
    sleep 0.3
  done
  log "ssh answers"
  # `--wait` returns once boot is finished: running, or degraded when some unit failed.
  state=$(on_host "timeout $BOOT_TIMEOUT systemctl is-system-running --wait" </dev/null 2>/dev/null) || true
  SYSTEM_STATE=$state
  log "systemd: $state"
  if [[ $state != running ]]; then
    log "warning: systemd in '$name' is '$state'; failed units:"
    on_host 'systemctl --failed --no-legend --plain' </dev/null >&2 || true
  fi
}

wait_hub() {
  local name=$1 deadline
  deadline=$((SECONDS + HUB_TIMEOUT))
  until on_host 'curl -fsS -o /dev/null http://127.0.0.1:8000/hub/health' </dev/null 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "hub in '$name' not healthy within ${HUB_TIMEOUT}s; journal:"
      on_host 'journalctl -u jupyterhub --no-pager -n 40' </dev/null >&2 || true
      fail_with_log "$name" "JupyterHub in '$name' did not become healthy"
    fi
    sleep 0.5
  done
}

write_env() {
  local name=$1 suite=$2 idx=$3 password=$4 dir host_key
  dir=$(host_dir "$name")
  host_key=$(awk '{print $1" "$2}' "$dir/root/etc/ssh/ssh_host_ed25519_key.pub")
  printf '%s\n' "$host_key" >"$dir/host_ed25519.pub"
  printf '%s %s\n' "$SUBNET.$idx.2" "$host_key" >"$dir/known_hosts"
  {
    echo "# sandbox host '$name' (scripts/sandbox/host.sh); shell-sourceable"
    env_line HOST_NAME "$name"
    env_line HOST_INDEX "$idx"
    env_line HOST_ADDR "$SUBNET.$idx.2"
    env_line MACHINE_ADDR "$SUBNET.$idx.1"
    env_line NETNS "jhe-$name"
    env_line SUITE "$suite"
    env_line SSH_PORT 22
    env_line SSH_USER root
    env_line SSH_KEY "$dir/id_ed25519"
    env_line HOST_KEY "$host_key"
    env_line HOST_KEY_FILE "$dir/host_ed25519.pub"
    env_line KNOWN_HOSTS "$dir/known_hosts"
    env_line HUB_USER "$HUB_USER"
    env_line HUB_PASSWORD "$password"
    env_line HUB_CONFIG /etc/jupyterhub/jupyterhub_config.py
    env_line HUB_SERVICE jupyterhub
  } >"$dir/host.env.tmp"
  chmod 0600 "$dir/host.env.tmp"
  mv "$dir/host.env.tmp" "$dir/host.env"
}

cmd_create() {
  local name="" suite="" index=""
  while (($#)); do
    case $1 in
      --suite) suite=${2:?--suite needs a value}; shift 2 ;;
      --index) index=${2:?--index needs a value}; shift 2 ;;
      -*) die "unknown option $1" ;;
      *) [[ -z $name ]] || die "one NAME only"; name=$1; shift ;;
    esac
  done
  [[ -n $name ]] || usage
  valid_name "$name"
  [[ -n $index || $name != dev ]] || index=$DEV_INDEX   # the dev stack's address is fixed
  if [[ -n $index ]]; then
    [[ $index =~ ^[0-9]+$ ]] || die "--index must be a number 1..254"
    index=$((10#$index))
    ((index >= 1 && index <= 254)) || die "--index must be 1..254"
  fi
  local dir
  dir=$(host_dir "$name")

  # Idempotent: a host that is up and answers SSH is reused as it is.
  # shellcheck disable=SC2153  # SUITE, HOST_INDEX, HOST_ADDR come from host.env
  if host_is_up "$name"; then
    [[ -z $suite || $suite == "$SUITE" ]] || die "host '$name' is up with suite $SUITE; remove it first"
    [[ -z $index || $index == "$HOST_INDEX" ]] || die "host '$name' is up with index $HOST_INDEX; remove it first"
    log "host '$name' is already up ($HOST_ADDR)"
    printf '%s\n' "$dir/host.env"
    return 0
  fi
  suite=${suite:-$DEFAULT_SUITE}
  valid_suite "$suite"
  # A namespace of this name with processes in it but no state here is a host of another state
  # dir, which is not ours to remove.
  if [[ ! -e $dir ]] && netns_busy "jhe-$name"; then
    die "namespace jhe-$name is in use (a host '$name' of another JHE_SANDBOX_DIR?)"
  fi
  [[ ! -e $dir ]] || log "host '$name' exists but is not up: recreating it"
  # Whatever a crashed run left under this name (state, namespace, cgroups) goes first.
  teardown "$name"

  local t0=$SECONDS
  ensure_machine_packages
  mkdir -p "$STATE/hosts" "$STATE/bases"
  ensure_apt_proxy
  ensure_base "$suite"
  with_lock "$STATE/.lock" allocate_index_locked "$name" "$index"
  local idx password
  idx=$(cat "$dir/index")
  printf '%s\n' "$suite" >"$dir/suite"
  password=$(random_password)
  with_lock "$STATE/bases/.$suite.lock" ensure_base_root_locked "$suite"
  # A stale veth from a crashed run with the same index would block this one.
  ip link del "jhe${idx}m" 2>/dev/null || true

  log "creating '$name' ($suite, $SUBNET.$idx.2)"
  mkdir -p "$dir/root" "$dir/upper" "$dir/work"
  mount -t overlay overlay -o "lowerdir=$(base_root "$suite"),upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  log "root mounted (overlay on the $suite base)"
  ssh-keygen -q -t ed25519 -N '' -C "jhe-sandbox-$name" -f "$dir/id_ed25519"
  personalize_root "$name" "$dir/root" "$idx" "$password"
  write_env "$name" "$suite" "$idx" "$password"
  setup_network "jhe-$name" "$idx"
  start_nspawn "$name" "jhe-$name"
  log "nspawn started"
  load_env "$name"
  wait_boot "$name"
  wait_hub "$name"
  log "hub healthy"
  touch "$dir/ready"
  log "host '$name' up in $((SECONDS - t0)) s: systemd $SYSTEM_STATE, hub healthy, ssh root@$HOST_ADDR"
  printf '%s\n' "$dir/host.env"
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

cmd_remove() {
  [[ $# -eq 1 ]] || usage
  valid_name "$1"
  local t0=$SECONDS
  teardown "$1"
  log "removed '$1' ($((SECONDS - t0)) s)"
}

cmd_remove_all() {
  local d n
  for d in "$STATE"/hosts/*/; do
    [[ -d $d ]] || continue
    n=$(basename "$d")
    teardown "$n"
    log "removed '$n'"
  done
  # nspawn lock files nobody holds any more (left by hosts that were killed, not removed).
  # nspawn takes OFD locks, which flock(1) cannot see: look them up in /proc/locks by inode.
  local f ino
  for f in "$NSPAWN_RUN"/locks/inode-*; do
    ino=$(stat -c %i "$f" 2>/dev/null) || continue
    grep -q ":$ino " /proc/locks || rm -f "$f"
  done
  # Orphans of crashed runs whose state is gone: empty jhe-* namespaces and dangling veths.
  # Busy ones belong to hosts of other state dirs and are left alone.
  for n in $(ip netns list 2>/dev/null | awk '$1 ~ /^jhe-/ {print $1}'); do
    netns_busy "$n" && continue
    log "removing orphan namespace $n"
    ip netns del "$n" 2>/dev/null || true
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^jhe[0-9]+m$' || true); do
    n=${n#jhe}
    index_busy "${n%m}" && continue
    log "removing orphan veth jhe$n"
    ip link del "jhe$n" 2>/dev/null || true
  done
}

cmd_list() {
  local d n state
  printf '%-16s %5s %-14s %-9s %s\n' NAME INDEX HOST_ADDR SUITE STATE
  for d in "$STATE"/hosts/*/; do
    [[ -d $d ]] || continue
    n=$(basename "$d")
    if nspawn_pid "$n" >/dev/null; then
      if [[ -f $d/ready ]]; then state=up; else state=booting; fi
    else
      state=stopped
    fi
    printf '%-16s %5s %-14s %-9s %s\n' "$n" "$(cat "$d/index" 2>/dev/null || echo -)" \
      "$SUBNET.$(cat "$d/index" 2>/dev/null || echo '?').2" "$(cat "$d/suite" 2>/dev/null || echo -)" "$state"
  done
}

cmd_ssh() {
  [[ $# -ge 1 ]] || usage
  local name=$1 opts
  shift
  valid_name "$name"
  load_env "$name" || die "no host '$name'"
  mapfile -t opts < <(ssh_opts)
  # A terminal for an interactive shell; none when a command is given (like plain ssh).
  if (($# == 0)); then opts+=(-t); fi
  exec ssh "${opts[@]}" "$SSH_USER@$HOST_ADDR" "$@"
}

cmd_prepare() {
  local suites=("$DEFAULT_SUITE") rebuild=0 s
  while (($#)); do
    case $1 in
      --suite)
        [[ ${2:?--suite needs a value} == all ]] && suites=(trixie bookworm) || suites=("$2")
        shift 2 ;;
      --rebuild) rebuild=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  for s in "${suites[@]}"; do valid_suite "$s"; done
  local t0=$SECONDS
  ensure_machine_packages
  mkdir -p "$STATE/hosts" "$STATE/bases" "$STATE/build"
  ensure_apt_proxy
  for s in "${suites[@]}"; do
    ensure_base "$s" "$rebuild"
    log "base $s: $(base_tarball "$s")"
    sed 's/^/  /' "$(base_tarball "$s" | sed 's/\.tar\.zst$//').versions" >&2 || true
  done
  log "prepared in $((SECONDS - t0)) s"
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  need_root
  case $cmd in
    create) cmd_create "$@" ;;
    remove) cmd_remove "$@" ;;
    remove-all) cmd_remove_all "$@" ;;
    list) cmd_list "$@" ;;
    ssh) cmd_ssh "$@" ;;
    prepare) cmd_prepare "$@" ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd'" ;;
  esac
}

main "$@"
