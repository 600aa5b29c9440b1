# Run on a host (bash -s): prints what "the host as found" means for jupyterhub-edge — packages,
# files under the trees the program may touch (path, mode, owner, content hash), enabled and
# running units, listening TCP ports. Two fingerprints are equal iff nothing of that changed.
#   bash -s            the fingerprint
#   bash -s hashes     one line per tree: `TREE sha256-of-its-listing-and-contents entries` (for reports)
#   bash -s owned      the files (under those trees) of the packages jupyterhub-edge's package steps
#                      installed: what a purge takes away again, the only files destroy may change
set -euo pipefail
export LC_ALL=C
# Every entry of a tree (type, mode, owner, link target) and every file's hash. Files that churn by
# themselves on any running system are left out.
tree_listing() {
  find "$1" -xdev \( -type f -o -type l -o -type d \) \
    ! -path /etc/ld.so.cache ! -path '/etc/ssh/ssh_host_*' ! -path /etc/machine-id ! -path /etc/adjtime \
    ! -path '/etc/apt/apt.conf.d/01proxy' ! -path '/var/log/*/*.log*' \
    -printf '%y %m %u:%g %p -> %l\n' | sort
  find "$1" -xdev -type f ! -path /etc/ld.so.cache ! -path '/etc/ssh/ssh_host_*' ! -path '/var/log/*' -print0 | sort -z | xargs -0 -r sha256sum
}
trees=(/etc /var/www /srv /var/lib/jupyterhub-edge /var/lib/letsencrypt /usr/local/lib/jupyterhub-edge /var/log/nginx /var/log/apache2)
case ${1:-} in
  owned)
    shopt -s nullglob
    added=(/var/lib/jupyterhub-edge/packages/*.added)
    ((${#added[@]})) || exit 0
    sort -u "${added[@]}" | xargs -r dpkg -L 2>/dev/null | sort -u | while IFS= read -r f; do
      [[ -f $f ]] || continue
      for t in "${trees[@]}"; do
        if [[ $f == "$t"/* ]]; then echo "$f"; break; fi
      done
    done
    exit 0 ;;
  hashes)
    for tree in "${trees[@]}"; do
      [[ -e $tree ]] || { echo "$tree absent"; continue; }
      list=$(tree_listing "$tree")
      echo "$tree $(sha256sum <<<"$list" | cut -d' ' -f1) $(wc -l <<<"$list")"
    done
    exit 0 ;;
esac
echo "## packages"
dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}\n' | sort
echo "## files"
for tree in "${trees[@]}"; do
  [[ -e $tree ]] || continue
  tree_listing "$tree"
done
echo "## units enabled"
systemctl list-unit-files --state=enabled --no-legend --no-pager | awk '{print $1}' | sort
echo "## services running"
systemctl list-units --type=service --state=running --no-legend --no-pager | awk '{print $1}' | { grep -v -E '^(user@|user-runtime-dir@|systemd-)' || true; } | sort
echo "## listening"
ss -ltnH | awk '{print $4}' | sort -u
