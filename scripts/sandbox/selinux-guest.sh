#!/usr/bin/env bash
# An SELinux-enforcing Debian 12 guest under QEMU (software emulation: KVM does not boot guests on
# these machines), for proving the SELinux step on a real enforcing kernel. The guest has no
# network: a oneshot unit runs /opt/jhe-test/run.sh at boot, writes /var/lib/jhe-test/result.log
# and powers off; the harness reads the log out of the disk image with debugfs.
#
#   selinux-guest.sh root [--rebuild]       build (or reuse) the labelled guest root; prints its path
#   selinux-guest.sh run TESTDIR RESULT     boot a fresh image with TESTDIR as /opt/jhe-test, write
#                                           the guest's result.log to RESULT
#
# Facts behind the choices: ../../../shared/notes/selinux-guest-facts.md (bookworm's policy labels
# offline with setfiles; mkfs.ext4 -d keeps security.selinux; -accel tcg -cpu max). Needs root.
set -euo pipefail

STATE="${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}"
MIRROR="${JHE_SANDBOX_MIRROR:-http://deb.debian.org/debian}"
GUEST_DIR=$STATE/selinux-guest
ROOT=$GUEST_DIR/bookworm
SUITE=bookworm
RUN_TIMEOUT="${JHE_SELINUX_GUEST_TIMEOUT:-1500}"
MACHINE_PACKAGES=(debootstrap qemu-system-x86 e2fsprogs)
GUEST_PACKAGES=(linux-image-amd64 systemd-sysv udev netbase kmod procps selinux-basics
  selinux-policy-default auditd policycoreutils policycoreutils-python-utils
  nginx apache2 python3 curl)
FILE_CONTEXTS=/etc/selinux/default/contexts/files/file_contexts

source "$(dirname "$0")/lib.sh"
START_US=${EPOCHREALTIME//[!0-9]/}
log() {
  local us=$((${EPOCHREALTIME//[!0-9]/} - START_US))
  printf 'selinux-guest [%3d.%ds]: %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() { printf 'selinux-guest: error: %s\n' "$*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, chroot, labelling)"

machine_packages() {
  local missing=() p
  for p in "${MACHINE_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "apt-get install ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# setfiles needs /proc in the root, or every file fails with "Could not set context".
label_paths() {
  local root=$1
  shift
  mount -t proc proc "$root/proc"
  local status=0
  chroot "$root" /sbin/setfiles -F -e /proc -e /sys -e /dev "$FILE_CONTEXTS" "$@" || status=$?
  umount "$root/proc"
  return $status
}

build_root() {
  machine_packages
  local tmp=$ROOT.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/usr/sbin"
  # Package scripts must not start daemons on the machine while installing.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod 755 "$tmp/usr/sbin/policy-rc.d"
  log "debootstrap $SUITE with ${#GUEST_PACKAGES[@]} packages (cold: ~2.5 min)"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${GUEST_PACKAGES[*]}")" "$SUITE" "$tmp" "$MIRROR" \
    >"$GUEST_DIR/debootstrap.log" 2>&1 || { tail -n 30 "$GUEST_DIR/debootstrap.log" >&2; exit 1; }
  rm -f "$tmp/usr/sbin/policy-rc.d"
  log "configure"
  echo jhe-selinux >"$tmp/etc/hostname"
  printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$tmp/etc/fstab"
  printf 'SELINUX=enforcing\nSELINUXTYPE=default\n' >"$tmp/etc/selinux/config"
  # Both proxies are installed; the test starts one at a time.
  chroot "$tmp" systemctl disable --quiet nginx apache2 2>/dev/null || true
  rm -f "$tmp"/etc/systemd/system/multi-user.target.wants/{nginx,apache2}.service
  install -d -m 0755 "$tmp/var/lib/jhe-test" "$tmp/opt/jhe-test"
  # Plain redirections: `exec > >(tee …)` caused an extra denial in the guest.
  cat >"$tmp/usr/local/sbin/jhe-guest-test" <<'EOF'
#!/bin/bash
exec >/var/lib/jhe-test/result.log 2>&1
echo "JHE-GUEST-START $(date -u +%FT%TZ) uptime=$(cut -d' ' -f1 /proc/uptime) enforce=$(getenforce) context=$(id -Z)"
status=0
bash /opt/jhe-test/run.sh || status=$?
echo "JHE-GUEST-EXIT $status uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
EOF
  chmod 755 "$tmp/usr/local/sbin/jhe-guest-test"
  cat >"$tmp/etc/systemd/system/jhe-guest-test.service" <<'EOF'
[Unit]
Description=jupyterhub-edge SELinux guest test
# Not After=multi-user.target: it is WantedBy= that target (that would be an ordering loop).
After=auditd.service systemd-tmpfiles-setup.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/jhe-guest-test
TimeoutStartSec=40min

[Install]
WantedBy=multi-user.target
EOF
  ln -sf ../jhe-guest-test.service "$tmp/etc/systemd/system/multi-user.target.wants/jhe-guest-test.service"
  chroot "$tmp" apt-get clean
  log "label (setfiles)"
  label_paths "$tmp" /
  # The mount points themselves, which setfiles was told to skip.
  setfattr_label() { python3 -c 'import os,sys; os.setxattr(sys.argv[1], "security.selinux", sys.argv[2].encode() + b"\0")' "$1" "$2"; }
  setfattr_label "$tmp/proc" system_u:object_r:proc_t:s0
  setfattr_label "$tmp/sys" system_u:object_r:sysfs_t:s0
  setfattr_label "$tmp/dev" system_u:object_r:device_t:s0
  touch "$tmp/.complete"
  rm -rf "$ROOT"
  mv "$tmp" "$ROOT"
  log "root ready: $ROOT ($(du -sh "$ROOT" | cut -f1))"
}

ensure_root() {
  mkdir -p "$GUEST_DIR"
  [[ ${1:-} == --rebuild ]] && rm -rf "$ROOT"
  [[ -f $ROOT/.complete ]] || build_root
}

cmd_run() {
  local testdir=${1:?usage: run TESTDIR RESULT} result=${2:?usage: run TESTDIR RESULT}
  [[ -f $testdir/run.sh ]] || die "$testdir/run.sh is missing"
  machine_packages
  ensure_root
  local run
  run=$(mktemp -d "$GUEST_DIR/run.XXXXXX")
  # The test goes into the cached root only while the image is made (under the lock), labelled
  # like any file there; the root is left as it was.
  make_image() {
    rm -rf "$ROOT/opt/jhe-test"
    cp -r "$testdir" "$ROOT/opt/jhe-test"
    label_paths "$ROOT" /opt/jhe-test
    mkfs.ext4 -q -F -L jhe-root -d "$ROOT" "$run/disk.img" 2G
    rm -rf "$ROOT/opt/jhe-test"
    install -d -m 0755 "$ROOT/opt/jhe-test"
  }
  log "image"
  with_lock "$GUEST_DIR/root.lock" make_image
  local kernel initrd
  kernel=$(ls "$ROOT"/boot/vmlinuz-* | tail -n 1)
  initrd=$(ls "$ROOT"/boot/initrd.img-* | tail -n 1)
  log "boot (qemu tcg, enforcing; timeout ${RUN_TIMEOUT}s)"
  local boot_us=${EPOCHREALTIME//[!0-9]/} status=0
  timeout "$RUN_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "root=/dev/vda rw console=ttyS0 selinux=1 security=selinux enforcing=1 audit=1" \
    -drive "file=$run/disk.img,format=raw,if=virtio" -nic none \
    -serial "file:$run/console.log" -display none -no-reboot </dev/null || status=$?
  local secs=$(((${EPOCHREALTIME//[!0-9]/} - boot_us) / 1000000))
  log "guest powered off after ${secs}s (qemu exit $status)"
  debugfs -R 'cat /var/lib/jhe-test/result.log' "$run/disk.img" >"$result" 2>/dev/null || true
  cp "$run/console.log" "$result.console" 2>/dev/null || true
  debugfs -R 'cat /var/log/audit/audit.log' "$run/disk.img" >"$result.audit" 2>/dev/null || true
  echo "JHE-QEMU-WALL ${secs}s" >>"$result"
  rm -rf "$run"
  ((status == 0)) || die "qemu exited $status (console: $result.console)"
  grep -q '^JHE-GUEST-EXIT ' "$result" || die "the guest test did not finish (console: $result.console)"
}

case ${1:-} in
  root) ensure_root "${2:-}"; echo "$ROOT" ;;
  run) shift; cmd_run "$@" ;;
  *) sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
