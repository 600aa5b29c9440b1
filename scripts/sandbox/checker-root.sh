#!/usr/bin/env bash
# A Debian root per release with that release's nginx and Apache installed, used through chroot by
# the render tier to run each platform's *own* `nginx -t` / `apachectl -t` on rendered files (the
# machine's own nginx checks only its own release's syntax). Nothing in it ever runs as a service.
#
#   checker-root.sh SUITE [--rebuild]     SUITE: trixie | bookworm; prints the root's path
set -euo pipefail
suite=${1:?usage: checker-root.sh trixie|bookworm [--rebuild]}
case $suite in trixie | bookworm) ;; *) echo "checker-root: unsupported suite $suite" >&2; exit 2 ;; esac
state=${JHE_SANDBOX_DIR:-/var/lib/jupyterhub-edge-sandbox}
mirror=${JHE_SANDBOX_MIRROR:-http://deb.debian.org/debian}
root=$state/checkers/$suite
packages=(nginx apache2)
# Apache modules of the platform's own packages the rendered files may need (model/platforms.ts
# loginRateLimit): installed, not enabled — the check loads them as the apache-modules step would.
# Debian 12's mod_qos does not load into its Apache: none there.
case $suite in trixie) module_packages=(libapache2-mod-qos) module_files=(qos) ;; *) module_packages=() module_files=() ;; esac

[[ $EUID -eq 0 ]] || { echo "checker-root: must run as root (debootstrap, chroot)" >&2; exit 1; }
if [[ ${2:-} == --rebuild ]]; then rm -rf "$root"; fi

# A root made before a module package was listed: add it in place (other checks may be reading the
# root; nothing they use changes, and the module stays disabled).
add_modules() {
  local r=$1 missing=() i
  for i in "${!module_files[@]}"; do [[ -e $r/etc/apache2/mods-available/${module_files[$i]}.load ]] || missing+=("${module_packages[$i]}"); done
  ((${#missing[@]})) || return 0
  echo "checker-root: adding ${missing[*]} to $r" >&2
  [[ -e $r/usr/sbin/policy-rc.d ]] || { printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod 755 "$r/usr/sbin/policy-rc.d"; }
  (exec 9>"$state/checker-$suite.lock"; flock 9
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive apt-get -q update >>"$state/checker-$suite.log" 2>&1 &&
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}" >>"$state/checker-$suite.log" 2>&1) \
    || { tail -n 30 "$state/checker-$suite.log" >&2; exit 1; }
  for i in "${module_files[@]}"; do chroot "$r" /usr/sbin/a2dismod -q -f "$i" >/dev/null 2>&1 || true; done
}

if [[ -x $root/usr/sbin/nginx && -x $root/usr/sbin/apache2 && -f $root/.complete ]]; then add_modules "$root"; echo "$root"; exit 0; fi

command -v debootstrap >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q debootstrap >/dev/null; }
rm -rf "$root.tmp"; mkdir -p "$root.tmp"
echo "checker-root: debootstrap $suite with ${packages[*]} (cold: ~1-2 min)" >&2
# Package scripts must not start daemons on the machine's own network while installing.
mkdir -p "$root.tmp/usr/sbin"
printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"; chmod 755 "$root.tmp/usr/sbin/policy-rc.d"
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}"),openssl" "$suite" "$root.tmp" "$mirror" >"$state/checker-$suite.log" 2>&1 \
  || { tail -n 30 "$state/checker-$suite.log" >&2; exit 1; }
# Apache must be able to load these modules for configtest of our vhosts.
chroot "$root.tmp" /usr/sbin/a2enmod -q ssl proxy proxy_http proxy_wstunnel headers http2 rewrite >/dev/null
add_modules "$root.tmp"
touch "$root.tmp/.complete"
rm -rf "$root"; mv "$root.tmp" "$root"
echo "$root"
