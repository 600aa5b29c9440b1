# preflight: refuse a host the stack was not written for, before anything changes on it.
# payload: platform, os_id, os_version
# apply: checks the OS release and systemd, then creates the project's state directory.
# undo: removes the state directory once every other step has cleaned up after itself.

if [[ $JHE_MODE == undo ]]; then
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

read_kv_payload platform os_id os_version
[[ -r /etc/os-release ]] || die "/etc/os-release is missing: cannot tell which OS this is"
# shellcheck disable=SC1091
os_id=$(. /etc/os-release && echo "${ID:-}")
os_version=$(. /etc/os-release && echo "${VERSION_ID:-}")
if [[ $os_id != "${PAYLOAD[os_id]}" || $os_version != "${PAYLOAD[os_version]}" ]]; then
  die "this host runs ${os_id:-?} ${os_version:-?}, but the stack says platform ${PAYLOAD[platform]}; set jupyterhub-edge:platform to match the host"
fi
[[ -d /run/systemd/system ]] || die "systemd is not running on this host (the proxy and the hub are managed as systemd units)"
command -v apt-get >/dev/null || die "apt-get not found; platform ${PAYLOAD[platform]} expects it"
install -d -m 0700 "$JHE_STATE"
say "host is ${os_id} ${os_version} with systemd; state in $JHE_STATE"
