# The machine side and the base roots of scripts/sandbox/host.sh (sourced by host/create.sh and
# host/prepare.sh after common.sh): the machine's packages, apt-cacher-ng for the hosts, and the
# cached base root of each suite that every host starts from.
# shellcheck shell=bash

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
