# firewall: open the proxy's ports in the host firewall (firewalld, on the RHEL family), and close
# again exactly what this step opened.
# payload: firewall (firewalld), ports (space-separated, e.g. "80/tcp 443/tcp")
# apply: where firewalld runs, each port the default zone does not allow yet (neither as a port nor
#   as the http/https service) is added, runtime and permanent, and recorded. Where it does not run,
#   nothing is done (a host without a firewall daemon needs no opening).
# undo: removes exactly the recorded ports from the zone they were added to.

record=$JHE_STATE/firewall.opened

if [[ $JHE_MODE == undo ]]; then
  [[ -f $record ]] || exit 0
  if command -v firewall-cmd >/dev/null && firewall-cmd --state >/dev/null 2>&1; then
    while read -r zone port; do
      [[ -z $port ]] && continue
      firewall-cmd -q --zone="$zone" --remove-port="$port" || true
      firewall-cmd -q --permanent --zone="$zone" --remove-port="$port" || true
      say "closed $port in zone $zone"
    done <"$record"
  fi
  rm -f "$record"
  exit 0
fi

read_payload firewall! ports!
[[ ${PAYLOAD[firewall]} == firewalld ]] || die "unknown firewall '${PAYLOAD[firewall]}'"
if ! command -v firewall-cmd >/dev/null || ! firewall-cmd --state >/dev/null 2>&1; then
  say "firewalld is not running: no ports to open"
  exit 0
fi
zone=$(firewall-cmd --get-default-zone)
[[ $zone =~ ^[A-Za-z0-9_-]+$ ]] || die "unexpected default zone"
touch "$record"
for port in ${PAYLOAD[ports]}; do
  [[ $port =~ ^[0-9]{1,5}/tcp$ ]] || die "bad port '$port'"
  service=''
  case $port in 80/tcp) service=http ;; 443/tcp) service=https ;; esac
  if firewall-cmd -q --zone="$zone" --query-port="$port" || { [[ -n $service ]] && firewall-cmd -q --zone="$zone" --query-service="$service"; }; then
    continue
  fi
  firewall-cmd -q --zone="$zone" --add-port="$port"
  firewall-cmd -q --permanent --zone="$zone" --add-port="$port"
  grep -qxF "$zone $port" "$record" || echo "$zone $port" >>"$record"
  say "opened $port in zone $zone"
done
