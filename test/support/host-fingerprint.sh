# Run on a host (bash -s): prints what "the host as found" means for jupyterhub-edge — packages,
# files under the trees the program may touch (path, mode, owner, content hash), enabled and
# running units, listening TCP ports. Two fingerprints are equal iff nothing of that changed.
set -euo pipefail
export LC_ALL=C
echo "## packages"
dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}\n' | sort
echo "## files"
for tree in /etc /var/www /srv /var/lib/jupyterhub-edge /var/lib/letsencrypt /usr/local/lib/jupyterhub-edge /var/log/nginx /var/log/apache2; do
  [[ -e $tree ]] || continue
  # Files that churn by themselves on any running system are left out.
  find "$tree" -xdev \( -type f -o -type l -o -type d \) \
    ! -path /etc/ld.so.cache ! -path '/etc/ssh/ssh_host_*' ! -path /etc/machine-id ! -path /etc/adjtime \
    ! -path '/etc/apt/apt.conf.d/01proxy' ! -path '/var/log/*/*.log*' \
    -printf '%y %m %u:%g %p -> %l\n' | sort
  find "$tree" -xdev -type f ! -path /etc/ld.so.cache ! -path '/etc/ssh/ssh_host_*' ! -path '/var/log/*' -print0 | sort -z | xargs -0 -r sha256sum
done
echo "## units enabled"
systemctl list-unit-files --state=enabled --no-legend --no-pager | awk '{print $1}' | sort
echo "## services running"
systemctl list-units --type=service --state=running --no-legend --no-pager | awk '{print $1}' | { grep -v -E '^(user@|user-runtime-dir@|systemd-)' || true; } | sort
echo "## listening"
ss -ltnH | awk '{print $4}' | sort -u
