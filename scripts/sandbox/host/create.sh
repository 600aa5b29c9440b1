#!/usr/bin/env bash
# host.sh create NAME [--suite trixie|bookworm] [--index N]: a host up with its hub healthy (reused when
# it is up already); prints $STATE/hosts/NAME/host.env.
# Run through scripts/sandbox/host.sh, which names every job; see README.md beside it. Needs root.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source-path=SCRIPTDIR source=base.sh
source "$(dirname "${BASH_SOURCE[0]}")/base.sh"

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
  bring_up "$name" "$suite" "$index"
}

# Builds host NAME from nothing (what a crashed run left under the name is gone already) and
# waits until it answers SSH and its hub is healthy; prints the path of its host.env.
bring_up() {
  local name=$1 suite=$2 index=$3 dir
  dir=$(host_dir "$name")
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

need_root
cmd_create "$@"
