#!/bin/bash
# Makes a Debian sandbox host look like RHEL 9 to the remote scripts (test/host/rhel-family.test.ts):
# its /etc/os-release says rhel 9.4, and stand-ins for what RHEL has and Debian has not go first on
# root's PATH (/usr/local/sbin): dnf, rpm, apachectl, firewall-cmd, fail2ban-client, certbot, the
# SELinux tools (an enforcing host's semanage/getsebool/restorecon, with state in files), and a
# systemctl that answers for RHEL's units (httpd, fail2ban, firewalld, certbot-renew.timer) and
# passes every other call to the real one. Each stand-in logs its argv to /var/log/jhe-stubs.log.
# `bash stand-ins.sh install` / `bash stand-ins.sh remove` (the host as it was).
set -euo pipefail
bin=/usr/local/sbin
state=/var/lib/jhe-stub
names=(dnf rpm apachectl firewall-cmd fail2ban-client certbot selinuxenabled getenforce semanage getsebool setsebool restorecon matchpathcon systemctl)

remove() {
  for n in "${names[@]}"; do rm -f "$bin/$n"; done
  if [[ -f $state/os-release.link ]]; then rm -f /etc/os-release; ln -s "$(cat "$state/os-release.link")" /etc/os-release
  elif [[ -f $state/os-release.orig ]]; then cp -p "$state/os-release.orig" /etc/os-release; fi
  rm -rf /etc/pki
  for p in $(cat /run/jhe-stub/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$state" /run/jhe-stub /var/log/jhe-stubs.log
}
[[ ${1:-} == remove ]] && { remove; exit 0; }
[[ -d $state ]] && remove   # installed before: from the host as it was

install -d -m 0755 "$state" /run/jhe-stub
# /etc/os-release is a link to /usr/lib/os-release on Debian: replace the link, keep the target.
if [[ -L /etc/os-release ]]; then readlink /etc/os-release >"$state/os-release.link"; else cp -p /etc/os-release "$state/os-release.orig"; fi
rm -f /etc/os-release
printf 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n' >/etc/os-release
: >"$state/rpms"; : >"$state/semanage.local"; : >"$state/fw-runtime"; : >"$state/fw-permanent"
# RHEL's system trust store (certbot's CA bundle starts from it).
install -d -m 0755 /etc/pki/tls/certs
cp /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt

stub() { { printf '#!/bin/bash\n# stand-in (test/host/rhel/stand-ins.sh)\nprintf "%%s\\n" "%s $*" >>/var/log/jhe-stubs.log\n' "$1"; cat; } >"$bin/$1"; chmod 0755 "$bin/$1"; }

stub dnf <<'S'
db=/var/lib/jhe-stub/rpms op='' pkgs=()
for a in "$@"; do case $a in -*) ;; install|remove) op=$a ;; *) [[ -n $op ]] && pkgs+=("$a") ;; esac; done
mods=(/usr/lib64/httpd/modules)
for p in "${pkgs[@]}"; do
  if [[ $op == install ]]; then
    grep -qxF "$p" "$db" || echo "$p" >>"$db"
    case $p in
      httpd)
        mkdir -p /etc/httpd/conf.d /etc/httpd/conf.modules.d /usr/lib64/httpd/modules /var/log/httpd
        for m in proxy proxy_http proxy_wstunnel rewrite socache_shmcb headers setenvif authz_host mpm_event unixd authz_core; do : >"/usr/lib64/httpd/modules/mod_$m.so"; done
        # Every module of the base set but headers: the modules step loads that one from its own file.
        for m in proxy proxy_http proxy_wstunnel rewrite socache_shmcb setenvif authz_host mpm_event unixd authz_core; do echo "LoadModule ${m}_module modules/mod_$m.so"; done >/etc/httpd/conf.modules.d/00-base.conf ;;
      mod_ssl) : >/usr/lib64/httpd/modules/mod_ssl.so; echo "LoadModule ssl_module modules/mod_ssl.so" >/etc/httpd/conf.modules.d/00-ssl.conf ;;
      mod_http2) : >/usr/lib64/httpd/modules/mod_http2.so; echo "LoadModule http2_module modules/mod_http2.so" >/etc/httpd/conf.modules.d/10-h2.conf ;;
      fail2ban-server) mkdir -p /etc/fail2ban/jail.d /etc/fail2ban/filter.d ;;
    esac
  else
    sed -i "/^${p}\$/d" "$db"
    case $p in
      httpd) rm -rf /etc/httpd /usr/lib64/httpd /var/log/httpd ;;
      mod_ssl) rm -f /usr/lib64/httpd/modules/mod_ssl.so /etc/httpd/conf.modules.d/00-ssl.conf ;;
      mod_http2) rm -f /usr/lib64/httpd/modules/mod_http2.so /etc/httpd/conf.modules.d/10-h2.conf ;;
      fail2ban-server) rm -rf /etc/fail2ban ;;
    esac
  fi
done
S
stub rpm <<'S'
[[ $1 == -qa ]] && sort -u /var/lib/jhe-stub/rpms
S
stub apachectl <<'S'
case $1 in
  configtest) [[ -d /etc/httpd ]] || { echo "httpd is not installed"; exit 1; }; echo "Syntax OK" ;;
  -M) echo "Loaded Modules:"; echo " core_module (static)"; awk '$1 == "LoadModule" { print " " $2 " (shared)" }' /etc/httpd/conf.modules.d/*.conf 2>/dev/null ;;
esac
S
stub fail2ban-client <<'S'
case $1 in --test) exit 0 ;; ping) echo "Server replied: pong" ;; esac
S
stub firewall-cmd <<'S'
st=/var/lib/jhe-stub file=$st/fw-runtime
for a in "$@"; do
  case $a in
    --state) echo running ;;
    --get-default-zone) echo public ;;
    --permanent) file=$st/fw-permanent ;;
    --query-service=*) exit 1 ;;
    --query-port=*) grep -qxF "${a#*=}" "$file"; exit ;;
    --add-port=*) echo "${a#*=}" >>"$file" ;;
    --remove-port=*) sed -i "\|^${a#*=}\$|d" "$file" ;;
  esac
done
S
stub certbot <<'S'
name='' verb=$1
for a in "$@"; do [[ $a == --cert-name=* ]] && name=${a#*=}; done
case $verb in
  certonly)
    d=/etc/letsencrypt
    mkdir -p "$d/live/$name" "$d/archive/$name" "$d/renewal" /var/lib/letsencrypt /var/log/letsencrypt
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" -days 2 \
      -keyout "$d/archive/$name/privkey1.pem" -out "$d/archive/$name/fullchain1.pem" 2>/dev/null
    ln -sf "../../archive/$name/privkey1.pem" "$d/live/$name/privkey.pem"
    ln -sf "../../archive/$name/fullchain1.pem" "$d/live/$name/fullchain.pem"
    ln -sf "../../archive/$name/fullchain1.pem" "$d/live/$name/cert.pem"
    echo "# stand-in renewal config" >"$d/renewal/$name.conf"
    printf 'REQUESTS_CA_BUNDLE=%s\n' "${REQUESTS_CA_BUNDLE:-}" >>/var/log/jhe-stubs.log ;;
  delete) rm -rf "/etc/letsencrypt/live/$name" "/etc/letsencrypt/archive/$name" "/etc/letsencrypt/renewal/$name.conf" ;;
esac
S
stub selinuxenabled <<'S'
exit 0
S
stub getenforce <<'S'
echo Enforcing
S
stub restorecon <<'S'
exit 0
S
stub matchpathcon <<'S'
echo "${@: -1}	system_u:object_r:var_t:s0"
S
stub getsebool <<'S'
v=$(cat "/var/lib/jhe-stub/bool.$1" 2>/dev/null || echo off); echo "$1 --> $v"
S
stub setsebool <<'S'
echo "$2" >"/var/lib/jhe-stub/bool.$1"
S
# semanage: the local customisations in one file, in `semanage export`'s own form.
stub semanage <<'S'
local=/var/lib/jhe-stub/semanage.local
opt() { local want=$1; shift; while (($#)); do [[ $1 == "$want" ]] && { echo "$2"; return; }; shift; done; }
case $1 in
  export) cat "$local" ;;
  port) [[ $2 == -l ]] && { echo "http_port_t                    tcp      80, 81, 443, 488, 8008, 8009, 8443, 9000"; awk '$1 == "port" { for (i = 2; i <= NF; i++) { if ($i == "-t") t = $(i+1); if ($i == "-p") p = $(i+1) } print t " " p " " $NF }' "$local"; } ;;
  import)
    while read -r -a w; do
      ((${#w[@]})) || continue
      last=${w[-1]}
      case "${w[0]} ${w[1]}" in
        "port -a"|"port -m") sed -i "/^port .* $last\$/d" "$local"; echo "port -a -t $(opt -t "${w[@]}") -r 's0' -p $(opt -p "${w[@]}") $last" >>"$local" ;;
        "port -d") sed -i "/^port .* $last\$/d" "$local" ;;
        "boolean -D") sed -i '/^boolean /d' "$local" ;;
        "boolean -m") sed -i "/^boolean .* $last\$/d" "$local"; echo "boolean -m ${w[2]} $last" >>"$local"; echo "${w[2]/-1/on}" | sed 's/-0/off/' >"/var/lib/jhe-stub/bool.$last" ;;
        "fcontext -a"|"fcontext -m") grep -vxF -e "fcontext -a -f a -t $(opt -t "${w[@]}") -r 's0' $last" "$local" | grep -v " $last\$" >"$local.new" || true; mv "$local.new" "$local"; echo "fcontext -a -f a -t $(opt -t "${w[@]}") -r 's0' $last" >>"$local" ;;
        "fcontext -d") grep -v " ${last}\$" "$local" >"$local.new" || true; mv "$local.new" "$local" ;;
      esac
    done ;;
esac
S
# systemctl: RHEL's units the sandbox has not got, answered here; every other call to the real one.
stub systemctl <<'S'
unit=''
for a in "$@"; do case ${a%.service} in httpd|fail2ban|firewalld|certbot-renew.timer|certbot-renew) unit=${a%.service} ;; esac; done
[[ -n $unit ]] || exec /usr/bin/systemctl "$@"
run=/run/jhe-stub verb='' prop=''
for a in "$@"; do [[ $a == -* || -n $verb ]] || verb=$a; done
prev=''; for a in "$@"; do [[ $prev == -p ]] && prop=$a; prev=$a; done
start() {
  stop
  # httpd serves TLS on 443 (the files step's handshake) once a certificate is there.
  local cert='' key='' d
  if [[ $unit == httpd ]]; then
    for d in /etc/jupyterhub-edge/tls/*/ /etc/letsencrypt/live/*/; do
      [[ -f $d/fullchain.pem && -f $d/privkey.pem ]] && { cert=$d/fullchain.pem key=$d/privkey.pem; break; }
    done
  fi
  # Like a unit systemd starts: no descriptor of the caller (the step's lock above all) inherited.
  (
    for fd in /proc/self/fd/*; do n=${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done
    if [[ -n $cert ]]; then exec setsid openssl s_server -quiet -accept 443 -cert "$cert" -key "$key" </dev/null >/dev/null 2>&1
    else exec setsid sleep infinity </dev/null >/dev/null 2>&1; fi
  ) &
  echo $! >"$run/$unit.pid"
}
stop() { [[ -f $run/$unit.pid ]] && kill "$(cat "$run/$unit.pid")" 2>/dev/null; rm -f "$run/$unit.pid"; return 0; }
active() { [[ -f $run/$unit.pid ]] && kill -0 "$(cat "$run/$unit.pid")" 2>/dev/null; }
case $verb in
  is-active) active ;;
  is-enabled) [[ -e $run/$unit.enabled ]] ;;
  enable) touch "$run/$unit.enabled" ;;
  disable) rm -f "$run/$unit.enabled" ;;
  start|restart|reload|try-reload-or-restart|reload-or-restart) start ;;
  stop) stop ;;
  show) case $prop in MainPID) cat "$run/$unit.pid" 2>/dev/null || echo 0 ;; TasksCurrent) echo 0 ;; *) echo ;; esac ;;
  cat) echo "# /usr/lib/systemd/system/$unit.service (stand-in)" ;;
  *) exit 0 ;;
esac
S
echo "stand-ins installed"
