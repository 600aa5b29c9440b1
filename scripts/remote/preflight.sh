# preflight: refuse a host the stack was not written for, before anything changes on it.
# payload: platform, os_id, os_version, version_match (exact | major: RHEL's VERSION_ID 9.5 is
#   platform rhel-9), package_manager (apt | dnf), shared_dirs (directories several steps may create, e.g.
#   /var/www: first by one proxy's package, then used by web roots and the other proxy)
# apply: checks the OS release and systemd, then creates the project's state directory. At the
#   first apply, remembers which shared_dirs did not exist yet.
# undo (runs last): removes those of them that are empty again, and the state directory once every
#   other step has cleaned up after itself.

if [[ $JHE_MODE == undo ]]; then
  if [[ -f $JHE_STATE/shared-dirs.absent ]]; then
    while IFS= read -r dir; do [[ -n $dir ]] && rmdir "$dir" 2>/dev/null || true; done <"$JHE_STATE/shared-dirs.absent"
    rm -f "$JHE_STATE/shared-dirs.absent"
  fi
  if [[ -d $JHE_STATE ]]; then
    leftovers=$(find "$JHE_STATE" -type f | head -n 5)
    if [[ -n $leftovers ]]; then
      say "keeping $JHE_STATE: steps left state behind:"$'\n'"$leftovers"
    else
      rm -rf "$JHE_STATE"
      say "removed $JHE_STATE"
    fi
  fi
  exit 0
fi

read_payload platform! os_id! os_version! version_match package_manager shared_dirs
[[ -r /etc/os-release ]] || die "/etc/os-release is missing: cannot tell which OS this is"
# shellcheck disable=SC1091
os_id=$(. /etc/os-release && echo "${ID:-}")
os_version=$(. /etc/os-release && echo "${VERSION_ID:-}")
host_version=$os_version
[[ ${PAYLOAD[version_match]:-exact} == major ]] && host_version=${os_version%%.*}
if [[ $os_id != "${PAYLOAD[os_id]}" || $host_version != "${PAYLOAD[os_version]}" ]]; then
  die "this host runs ${os_id:-?} ${os_version:-?}, but the stack says platform ${PAYLOAD[platform]}; set jupyterhub-edge:platform to match the host"
fi
[[ -d /run/systemd/system ]] || die "systemd is not running on this host (the proxy and the hub are managed as systemd units)"
case ${PAYLOAD[package_manager]:-apt} in
  apt) command -v apt-get >/dev/null || die "apt-get not found; platform ${PAYLOAD[platform]} expects it" ;;
  dnf) command -v dnf >/dev/null || die "dnf not found; platform ${PAYLOAD[platform]} expects it" ;;
  *) die "unknown package manager '${PAYLOAD[package_manager]}'" ;;
esac
first_apply=0
[[ -d $JHE_STATE ]] || first_apply=1
install -d -m 0700 "$JHE_STATE"
if ((first_apply)); then
  for dir in ${PAYLOAD[shared_dirs]:-}; do
    safe_path "$dir" || die "bad shared dir"
    [[ -e $dir ]] || echo "$dir" >>"$JHE_STATE/shared-dirs.absent"
  done
fi
say "host is ${os_id} ${os_version} with systemd; state in $JHE_STATE"
