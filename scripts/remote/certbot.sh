# certbot: certificates from an ACME CA, certbot in webroot mode (it never edits our vhosts).
# payload: server URL / email ADDR / webroot DIR / reload UNIT / revoke true|false /
#   `domain NAME` lines (one lineage per domain, named after it) / optional `|`-prefixed PEM lines:
#   a CA for a private ACME server's HTTPS endpoint.
# apply: issues a certificate for each domain that has no lineage yet — never re-requests one that
#   exists (rate limits). Installs a deploy hook that reloads UNIT after every renewal, and, with a
#   CA, a drop-in so the distro's certbot.timer renewals trust it too.
#   A lineage carried over from an earlier server (staged by the acme-carry-over step) is unpacked
#   instead of requested.
# undo: deletes (optionally revokes) the lineages this step issued or unpacked, the accounts it
#   unpacked, the hook, the drop-in, and certbot's directories if this step created them.

rec=$JHE_STATE/certbot
hook=/etc/letsencrypt/renewal-hooks/deploy/jupyterhub-edge
bundle=/etc/jupyterhub-edge/acme-ca-bundle.pem
dropin=/etc/systemd/system/certbot.service.d/jupyterhub-edge.conf
certbot_dirs=(/etc/letsencrypt /var/lib/letsencrypt /var/log/letsencrypt)

if [[ $JHE_MODE == undo ]]; then
  [[ -d $rec ]] || exit 0
  revoke=$(cat "$rec/revoke" 2>/dev/null || echo false)
  [[ -f $rec/ca ]] && export REQUESTS_CA_BUNDLE=$bundle
  server=$(cat "$rec/server" 2>/dev/null || true)
  while read -r domain; do
    valid_domain "$domain" || continue
    if [[ $revoke == true && -f /etc/letsencrypt/live/$domain/cert.pem ]]; then
      certbot revoke --non-interactive --cert-name="$domain" --server="$server" --no-delete-after-revoke >/dev/null 2>&1 \
        && say "revoked $domain" || say "warning: could not revoke $domain"
    fi
    certbot delete --non-interactive --cert-name="$domain" >/dev/null 2>&1 && say "deleted certificate $domain" || true
  done <"$rec/domains"
  while read -r dir; do [[ -n $dir ]] && rm -rf "/etc/letsencrypt/$dir"; done < <(cat "$rec/unpacked-accounts" 2>/dev/null)
  rm -f "$hook" "$dropin" "$bundle"
  rmdir "$(dirname "$dropin")" 2>/dev/null || true
  systemctl daemon-reload
  while read -r dir; do [[ -n $dir ]] && rm -rf "$dir"; done < <(cat "$rec/created-dirs" 2>/dev/null)
  rm -rf "$rec"
  exit 0
fi

declare -A P=() ; domains=() ; ca=$(mktemp) ; trap 'rm -f "$ca"' EXIT
while IFS= read -r line || [[ -n $line ]]; do
  case $line in
    "|"*) printf '%s\n' "${line:1}" >>"$ca" ;;
    "domain "*) domains+=("${line#domain }") ;;
    server\ *|email\ *|webroot\ *|reload\ *|revoke\ *) P[${line%% *}]=${line#* } ;;
    '') ;;
    *) die "malformed payload line" ;;
  esac
done
[[ ${P[server]:-} =~ ^https://[A-Za-z0-9.:/_~-]+$ ]] || die "bad ACME server URL"
[[ ${P[email]:-} =~ ^[^-[:space:]@][^[:space:]@]*@[^[:space:]@]+$ ]] || die "bad email"
safe_path "${P[webroot]:-}" || die "bad webroot"
valid_unit "${P[reload]:-}" || die "bad unit"
for d in "${domains[@]}"; do valid_domain "$d" || die "bad domain"; done
command -v certbot >/dev/null || die "certbot is not installed"

install -d -m 0700 "$rec"
touch "$rec/domains" "$rec/created-dirs"
for dir in "${certbot_dirs[@]}"; do
  [[ -e $dir ]] || grep -qxF -- "$dir" "$rec/created-dirs" || echo "$dir" >>"$rec/created-dirs"
done
echo "${P[server]}" >"$rec/server"
echo "${P[revoke]:-false}" >"$rec/revoke"

if [[ -s $ca ]]; then
  # REQUESTS_CA_BUNDLE replaces the trust store: the system CAs plus the private ACME server's.
  install -d -m 0755 "$(dirname "$bundle")"
  cat /etc/ssl/certs/ca-certificates.crt "$ca" >"$bundle.new" && chmod 0644 "$bundle.new" && mv "$bundle.new" "$bundle"
  export REQUESTS_CA_BUNDLE=$bundle
  install -d -m 0755 "$(dirname "$dropin")"
  printf '# jupyterhub-edge: renewals must trust the private ACME server this host uses.\n[Service]\nEnvironment=REQUESTS_CA_BUNDLE=%s\n' "$bundle" | write_atomic "$dropin" 0644
  systemctl daemon-reload
  touch "$rec/ca"
else
  rm -f "$dropin" "$bundle" "$rec/ca"
fi

# After every renewal (certbot.timer), reload whichever proxy serves the certificates.
install -d -m 0755 "$(dirname "$hook")"
clean_partial "$hook"; clean_partial "$dropin"
printf '#!/bin/sh\n# jupyterhub-edge: serve renewed certificates.\nsystemctl try-reload-or-restart -- %s\n' "${P[reload]}" | write_atomic "$hook" 0755

# A carried-over lineage (tar.gz staged by acme-carry-over): only certbot's own files of that
# domain and its account, symlinks only within live/DOMAIN pointing into archive/DOMAIN.
unpack_carried() {
  local domain=$1 bundle=$2 listing dir
  listing=$(tar -tvzf "$bundle") || die "carried-over bundle of $domain is not a tar.gz"
  while IFS= read -r path; do
    [[ $path =~ ^(renewal/"$domain"\.conf|archive/"$domain"(/[a-z0-9]+\.pem)?/?|live/"$domain"(/[A-Za-z0-9]+(\.pem)?)?/?|accounts(/[A-Za-z0-9._:-]+)+/?)$ && $path != *..* ]] \
      || die "carried-over bundle of $domain holds an unexpected path"
  done < <(tar -tzf "$bundle")
  while IFS= read -r link; do
    [[ $link =~ -\>\ \.\./\.\./archive/"$domain"/[a-z]+[0-9]+\.pem$ ]] || die "carried-over bundle of $domain holds an unexpected link"
  done < <(grep '^l' <<<"$listing")
  while IFS= read -r dir; do
    [[ -e /etc/letsencrypt/$dir ]] || echo "$dir" >>"$rec/unpacked-accounts"
  done < <(tar -tzf "$bundle" | grep -oE '^accounts/[^/]+/[^/]+/[0-9a-f]+' | sort -u)
  install -d -m 0755 /etc/letsencrypt
  tar -xzf "$bundle" -C /etc/letsencrypt --no-same-owner
  chmod -R go-rwx /etc/letsencrypt/accounts /etc/letsencrypt/archive/"$domain"/privkey*.pem
}

for domain in "${domains[@]}"; do
  carried=$JHE_STATE/acme-import/$domain.tgz
  if [[ ! -f /etc/letsencrypt/renewal/$domain.conf && -f $carried ]]; then
    unpack_carried "$domain" "$carried"
    rm -f "$carried"
    say "certificate for $domain carried over from an earlier server; not requested"
  fi
  if [[ -f /etc/letsencrypt/renewal/$domain.conf && -f /etc/letsencrypt/live/$domain/fullchain.pem ]]; then
    say "certificate for $domain exists; not requested again"
  else
    say "requesting a certificate for $domain from ${P[server]}"
    # --opt=value: a value is never taken for an option, whatever it starts with. Bounded: an ACME
    # server that accepts connections but never answers must not hang `up`.
    if ! out=$(timeout 300 certbot certonly --non-interactive --agree-tos --no-eff-email --email="${P[email]}" --server="${P[server]}" \
        --webroot --webroot-path="${P[webroot]}" --cert-name="$domain" --domains="$domain" 2>&1); then
      die "certbot could not get a certificate for $domain from the ACME server ${P[server]} (is that server reachable from this host, and port 80 of $domain reaching this host?); the sites already configured keep serving. certbot said:"$'\n'"$(tail -n 15 <<<"$out")"
    fi
  fi
  grep -qxF -- "$domain" "$rec/domains" || echo "$domain" >>"$rec/domains"
done
