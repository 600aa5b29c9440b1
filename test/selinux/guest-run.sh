#!/bin/bash
# Runs inside the SELinux-enforcing guest (scripts/sandbox/selinux-guest.sh), as /opt/jhe-test/run.sh.
# For each proxy: the program's rendered vhosts in place, a stand-in hub on 127.0.0.1:8000, then
#   before  — requests through the proxy fail, and the AVC denial is captured;
#   probes  — runtime-only booleans (setsebool without -P: no policy rebuild) show which are needed;
#   apply   — the program's own SELinux step (scripts/remote/selinux.sh + the plan's payload);
#   after   — requests reach the hub; with the label alone (relay off at runtime) they do not;
#   again   — a second apply changes nothing;
#   drift   — the drift watch's probe: clean after the apply, each hand edit found, clean after the
#             step's apply again (what `pulumi up --refresh` runs), and the hub reachable again;
#   undo    — `semanage port -l`, `semanage boolean -l` and `semanage export` are as before.
# Output: plain lines; `RESULT name value` lines are what the harness asserts on.
set -u
T=/opt/jhe-test
STEP=$T/selinux-step.sh
export LC_ALL=C

result() { echo "RESULT $1 $2"; }
now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }
audit_mark() { wc -l </var/log/audit/audit.log 2>/dev/null || echo 0; }
# Denials of one command since a mark (the guest has unrelated denials on every boot).
denials_since() { tail -n +"$(($1 + 1))" /var/log/audit/audit.log 2>/dev/null | grep 'avc: *denied' | grep "comm=\"$2\"" ; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }
https_code() { code -k --resolve hub.example.org:443:127.0.0.1 https://hub.example.org/hub/health; }
acme_code() { code --resolve hub.example.org:80:127.0.0.1 http://hub.example.org/.well-known/acme-challenge/jhe-probe; }
snapshot() {
  semanage port -l >"/root/$1.ports"
  semanage boolean -l >"/root/$1.booleans"
  semanage export >"/root/$1.export"
  getsebool -a >"/root/$1.runtime"
}
same() { cmp -s "/root/$1.$3" "/root/$2.$3" && echo same || { echo differs; diff "/root/$1.$3" "/root/$2.$3" | head -n 20; }; }
step() { # step MODE PAYLOAD: exactly how the program runs a step (`bash <installed script> STEP MODE`, payload on stdin)
  local t0 status
  t0=$(now_ms)
  if [[ $1 == apply ]]; then bash "$STEP" selinux apply <"$2"; else bash "$STEP" selinux undo </dev/null; fi
  status=$?
  echo "step $1: exit $status in $(($(now_ms) - t0)) ms"
  return $status
}

echo "== guest: $(uname -r), $(getenforce), policy $(dpkg-query -W -f='${Version}' selinux-policy-default), policycoreutils $(dpkg-query -W -f='${Version}' policycoreutils)"
echo "== test runs as $(id -Z)"
result enforcing "$(getenforce)"

# The stand-in hub: answers /hub/health (and the rest of /hub/) on 127.0.0.1:8000.
mkdir -p /run/jhe-hub/hub
echo "stand-in hub" >/run/jhe-hub/hub/health
setsid python3 -m http.server 8000 --bind 127.0.0.1 --directory /run/jhe-hub >/run/jhe-hub.log 2>&1 </dev/null &
for _ in $(seq 50); do code http://127.0.0.1:8000/hub/health | grep -q 200 && break; sleep 0.2; done
result backend "$(code http://127.0.0.1:8000/hub/health)"
echo "== stand-in hub: $(ps -eZ | grep -m1 'http.server' || ps -eZ | grep -m1 python3)"
semanage port -l | grep -E '^(http_port_t|soundd_port_t) ' | sed 's/^/== policy: /'

# What the program's preflight step creates before any other step runs.
install -d -m 0700 /var/lib/jupyterhub-edge

# The ACME webroot as the program creates it (web-roots step), with a challenge file in it.
install -d -m 0755 /var/lib/jupyterhub-edge-acme/.well-known/acme-challenge
echo probe >/var/lib/jupyterhub-edge-acme/.well-known/acme-challenge/jhe-probe
restorecon -R /var/lib/jupyterhub-edge-acme

install_files() { # install_files PROXY: the program's rendered files and pushed certificate
  while read -r src dst mode; do install -D -m "$mode" "$T/$1/$src" "$dst"; done <"$T/$1/manifest"
  [[ -d /etc/jupyterhub-edge ]] && restorecon -R /etc/jupyterhub-edge
}
remove_files() { while read -r src dst mode; do rm -f "$dst"; done <"$T/$1/manifest"; rm -rf /etc/jupyterhub-edge; }

run_proxy() { # run_proxy PROXY SERVICE COMM
  local proxy=$1 service=$2 comm=$3 mark c
  echo
  echo "======== $proxy"
  install_files "$proxy"
  systemctl start "$service" || { systemctl status --no-pager "$service" | tail -n 20; journalctl -u "$service" --no-pager | tail -n 20; }
  echo "== $service runs as: $(ps -eZ | grep -m1 "$comm" | awk '{print $1}')"
  result "$proxy.domain" "$(ps -eZ | grep -m1 "$comm" | awk '{print $1}' | cut -d: -f3)"
  snapshot "$proxy-before"

  mark=$(audit_mark)
  result "$proxy.before.https" "$(https_code)"
  result "$proxy.before.acme" "$(acme_code)"
  sleep 1
  echo "== before: denials of $comm"
  denials_since "$mark" "$comm" | sed 's/^/AVC /'
  result "$proxy.before.avc_port" "$(denials_since "$mark" "$comm" | grep -c 'name_connect.*dest=8000')"
  result "$proxy.before.avc_webroot" "$(denials_since "$mark" "$comm" | grep -c 'tcontext=[^ ]*:var_lib_t')"

  # Probes with runtime booleans only (no -P, no rebuild), without the port label.
  local b was
  for b in httpd_can_network_relay httpd_can_network_connect; do
    was=$(getsebool "$b" | awk '{print $NF}')
    setsebool "$b" 1
    mark=$(audit_mark)
    c=$(https_code)
    result "$proxy.probe.nolabel.$b" "$c"
    denials_since "$mark" "$comm" | grep name_connect | sed "s/^/AVC [no label, $b=1] /"
    setsebool "$b" "$was"
  done

  echo "== apply the program's SELinux step"
  cat "$T/$proxy.payload"
  step apply "$T/$proxy.payload"
  result "$proxy.apply.exit" $?
  result "$proxy.after.https" "$(https_code)"
  result "$proxy.after.acme" "$(acme_code)"
  result "$proxy.after.webroot_type" "$(stat -c %C /var/lib/jupyterhub-edge-acme | cut -d: -f3)"
  result "$proxy.after.tls_type" "$(stat -c %C /etc/jupyterhub-edge/tls | cut -d: -f3)"
  result "$proxy.after.port_type" "$(semanage port -l | awk '$1 == "http_port_t" && $2 == "tcp"' | grep -cw 8000)"
  echo "== after: $(getsebool httpd_can_network_relay httpd_can_network_connect | paste -sd' ')"

  # Which booleans are needed with the label: relay off at runtime (label alone), then connect alone.
  mark=$(audit_mark)
  was=$(getsebool httpd_can_network_relay | awk '{print $NF}')
  setsebool httpd_can_network_relay 0
  result "$proxy.probe.label_only" "$(https_code)"
  denials_since "$mark" "$comm" | grep name_connect | sed 's/^/AVC [label only] /'
  setsebool httpd_can_network_relay 1
  result "$proxy.probe.label_relay" "$(https_code)"
  setsebool httpd_can_network_relay "$was"

  echo "== apply again (idempotent)"
  step apply "$T/$proxy.payload" | tee "/root/$proxy.again"
  result "$proxy.again.unchanged" "$(grep -c 'already as wanted' "/root/$proxy.again")"

  # The drift watch (steps/drift.ts): its read-only probe, with the request the program builds
  # from this payload, after the apply, after hand edits, and after the step's apply again (what
  # `pulumi up --refresh` runs). The harness compares what it found (base64 of the probe's output).
  drift() { cat "$T/drift-probe.sh" "$T/$proxy.drift-request" | bash -s | base64 -w0; }
  result "$proxy.drift.applied" "$(drift)"
  echo "== hand edits: relay off at runtime, the webroot relabelled, our port label deleted"
  setsebool httpd_can_network_relay 0
  chcon -t var_t /var/lib/jupyterhub-edge-acme
  semanage port -d -p tcp 8000
  result "$proxy.drift.edited" "$(drift)"
  result "$proxy.edited.https" "$(https_code)"
  step apply "$T/$proxy.payload"
  result "$proxy.repair.exit" $?
  result "$proxy.drift.repaired" "$(drift)"
  result "$proxy.repaired.https" "$(https_code)"

  echo "== undo"
  step undo
  result "$proxy.undo.exit" $?
  snapshot "$proxy-after"
  for part in ports booleans export runtime; do
    result "$proxy.roundtrip.$part" "$(same "$proxy-before" "$proxy-after" "$part" | head -n 1)"
    same "$proxy-before" "$proxy-after" "$part" | tail -n +2
  done
  result "$proxy.undo.webroot_type" "$(stat -c %C /var/lib/jupyterhub-edge-acme | cut -d: -f3)"
  result "$proxy.undo.https" "$(https_code)"
  systemctl stop "$service"
  remove_files "$proxy"
}

run_proxy nginx nginx nginx

# Apache's round starts from an admin's own customisations: a boolean of the same family set
# already (relay) and an unrelated one (homedirs). Both must survive the step's undo, which has to
# rebuild the local boolean list (semanage has no single-boolean delete).
echo
echo "== admin's own settings before the Apache round"
t0=$(now_ms)
printf 'boolean -m -1 httpd_can_network_relay\nboolean -m -1 httpd_enable_homedirs\n' | semanage import
echo "admin import: $(($(now_ms) - t0)) ms"
a2enmod -q ssl socache_shmcb proxy proxy_http headers http2 rewrite >/dev/null
run_proxy apache apache2 apache2
result apache.admin_relay_kept "$(getsebool httpd_can_network_relay | awk '{print $NF}')"
result apache.admin_homedirs_kept "$(semanage export | grep -c 'boolean -m -1 httpd_enable_homedirs')"
printf 'boolean -D\n' | semanage import
setsebool httpd_can_network_relay 0
setsebool httpd_enable_homedirs 0

if [[ -f $T/bench ]]; then
  echo
  echo "== semanage: three single calls vs one import of three"
  t0=$(now_ms)
  semanage port -a -t http_port_t -p tcp 18081
  semanage port -a -t http_port_t -p tcp 18082
  semanage fcontext -a -t httpd_sys_content_t '/srv/jhe-bench-a(/.*)?'
  single=$(($(now_ms) - t0))
  t0=$(now_ms)
  printf '%s\n' "port -a -t http_port_t -p tcp 18083" "port -a -t http_port_t -p tcp 18084" "fcontext -a -t httpd_sys_content_t '/srv/jhe-bench-b(/.*)?'" | semanage import
  batch=$(($(now_ms) - t0))
  t0=$(now_ms)
  printf '%s\n' "port -d -p tcp 18081" "port -d -p tcp 18082" "port -d -p tcp 18083" "port -d -p tcp 18084" "fcontext -d '/srv/jhe-bench-a(/.*)?'" "fcontext -d '/srv/jhe-bench-b(/.*)?'" | semanage import
  cleanup=$(($(now_ms) - t0))
  echo "BENCH semanage single x3: ${single} ms; one import of 3: ${batch} ms; ratio $(awk -v a="$single" -v b="$batch" 'BEGIN {printf "%.2f", a / b}'); cleanup import of 6: ${cleanup} ms"
fi

echo
echo "== all denials of nginx/apache2 this boot"
grep 'avc: *denied' /var/log/audit/audit.log | grep -E 'comm="(nginx|apache2)"' | sed 's/^/AVC /' | sort -u | head -n 40
exit 0
