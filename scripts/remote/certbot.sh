# certbot: certificates from an ACME CA; certbot never edits our vhosts.
# payload: server URL / email ADDR / webroot DIR / reload UNIT / revoke true|false /
#   system_ca_bundle FILE (the system's trust store) / renewal_dropin FILE (a drop-in of the
#   distribution's renewal service; both from the platform table, model/platforms.ts) /
#   optional dns_credentials FILE + dns_propagation SECONDS (dns-01) / optional eab_config FILE /
#   `lineage NAME CHALLENGE DOMAIN...` lines (one lineage per site: its name, http-01 or dns-01, the
#   names it covers, wildcards included) / optional `|`-prefixed PEM lines: a CA for a private ACME
#   server's HTTPS endpoint.
#   http-01: webroot mode (the file answered on port 80 through our proxy). dns-01: the dns-rfc2136
#   plugin, its TSIG key read from FILE (root 0600, written by the acme-secrets step); certbot adds
#   the `_acme-challenge` TXT records and deletes them once validated. EAB: FILE is a certbot
#   options file (eab-kid, eab-hmac-key) used when the account is registered; never on a command line.
# apply: issues a certificate for each lineage that has none yet — never re-requests one that
#   exists (rate limits), unless its names or its challenge changed since it was issued (then one
#   forced renewal, so the renewal config certbot.timer uses says the same). Installs a deploy hook
#   that reloads UNIT after every renewal, and, with a CA, a drop-in so the distro's certbot.timer
#   renewals trust it too.
#   A lineage carried over from an earlier server (staged by the acme-carry-over step) is unpacked
#   instead of requested.
# undo: deletes (optionally revokes) the lineages this step issued or unpacked, the accounts it
#   unpacked, the hook, the drop-in, and certbot's directories if this step created them.

rec=$JHE_STATE/certbot
hook=/etc/letsencrypt/renewal-hooks/deploy/jupyterhub-edge
bundle=/etc/jupyterhub-edge/acme-ca-bundle.pem
certbot_dirs=(/etc/letsencrypt /var/lib/letsencrypt /var/log/letsencrypt)

if [[ $JHE_MODE == undo ]]; then
  [[ -d $rec ]] || exit 0
  revoke=$(cat "$rec/revoke" 2>/dev/null || echo false)
  [[ -f $rec/ca ]] && export REQUESTS_CA_BUNDLE=$bundle
  server=$(cat "$rec/server" 2>/dev/null || true)
  # The renewal service's drop-in as recorded by the apply (versions that kept none: theirs).
  dropin=$(cat "$rec/renewal-dropin" 2>/dev/null || echo "$JHE_LEGACY_CERTBOT_DROPIN")
  safe_path "$dropin" || die "bad drop-in path in $rec/renewal-dropin"
  while read -r domain; do
    valid_lineage "$domain" || continue
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

read_payload server! email! webroot! reload! revoke dns_credentials dns_propagation eab_config system_ca_bundle! renewal_dropin! lineage text
dropin=${PAYLOAD[renewal_dropin]} system_ca=${PAYLOAD[system_ca_bundle]}
safe_path "$dropin" && safe_path "$system_ca" || die "bad renewal_dropin or system_ca_bundle"
declare -A SPEC=() ; lineages=()
ca=$(mktemp); JHE_CLEANUP+=("$ca")
payload_text >"$ca"
while read -r name challenge names; do
  # read -a splits without globbing: `*.example.org` stays a name, never a file list.
  read -ra names_list <<<"$names"
  valid_lineage "$name" || die "bad lineage name"
  [[ $challenge == http-01 || $challenge == dns-01 ]] || die "bad challenge for $name"
  ((${#names_list[@]})) || die "lineage $name names no domain"
  for d in "${names_list[@]}"; do valid_cert_domain "$d" || die "bad domain in lineage $name"; done
  lineages+=("$name"); SPEC[$name]="$challenge ${names_list[*]}"
done < <(payload_values lineage)
[[ ${PAYLOAD[server]:-} =~ ^https://[A-Za-z0-9.:/_~-]+$ ]] || die "bad ACME server URL"
[[ ${PAYLOAD[email]:-} =~ ^[^-[:space:]@][^[:space:]@]*@[^[:space:]@]+$ ]] || die "bad email"
safe_path "${PAYLOAD[webroot]:-}" || die "bad webroot"
valid_unit "${PAYLOAD[reload]:-}" || die "bad unit"
if [[ -n ${PAYLOAD[dns_credentials]:-} ]]; then
  safe_path "${PAYLOAD[dns_credentials]}" || die "bad dns credentials path"
  [[ ${PAYLOAD[dns_propagation]:-} =~ ^[0-9]{1,4}$ ]] || die "bad dns propagation"
  [[ -f ${PAYLOAD[dns_credentials]} ]] || die "the DNS credentials file ${PAYLOAD[dns_credentials]} is missing (the acme-secrets step writes it)"
fi
if [[ -n ${PAYLOAD[eab_config]:-} ]]; then
  safe_path "${PAYLOAD[eab_config]}" || die "bad EAB options path"
  [[ -f ${PAYLOAD[eab_config]} ]] || die "the EAB options file ${PAYLOAD[eab_config]} is missing (the acme-secrets step writes it)"
fi
command -v certbot >/dev/null || die "certbot is not installed"

install -d -m 0700 "$rec" "$rec/issued"
touch "$rec/domains" "$rec/created-dirs"
for dir in "${certbot_dirs[@]}"; do
  [[ -e $dir ]] || grep -qxF -- "$dir" "$rec/created-dirs" || echo "$dir" >>"$rec/created-dirs"
done
echo "${PAYLOAD[server]}" >"$rec/server"
# A drop-in an earlier apply wrote elsewhere goes (undo then knows only this one).
old_dropin=$(cat "$rec/renewal-dropin" 2>/dev/null || true)
if [[ -n $old_dropin && $old_dropin != "$dropin" ]] && safe_path "$old_dropin"; then rm -f "$old_dropin"; rmdir "$(dirname "$old_dropin")" 2>/dev/null || true; fi
echo "$dropin" >"$rec/renewal-dropin"
echo "${PAYLOAD[revoke]:-false}" >"$rec/revoke"

if [[ -s $ca ]]; then
  # REQUESTS_CA_BUNDLE replaces the trust store: the system CAs plus the private ACME server's.
  install -d -m 0755 "$(dirname "$bundle")"
  cat "$system_ca" "$ca" >"$bundle.new" && chmod 0644 "$bundle.new" && mv "$bundle.new" "$bundle"
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
printf '#!/bin/sh\n# jupyterhub-edge: serve renewed certificates.\nsystemctl try-reload-or-restart -- %s\n' "${PAYLOAD[reload]}" | write_atomic "$hook" 0755

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

# certbot's options for how one lineage proves its names.
challenge_options() {
  case $1 in
    http-01) printf '%s\n' --webroot --webroot-path="${PAYLOAD[webroot]}" ;;
    dns-01)
      [[ -n ${PAYLOAD[dns_credentials]:-} ]] || die "lineage $2 uses dns-01, but the payload names no DNS credentials"
      printf '%s\n' --dns-rfc2136 --dns-rfc2136-credentials="${PAYLOAD[dns_credentials]}" --dns-rfc2136-propagation-seconds="${PAYLOAD[dns_propagation]}" ;;
  esac
}

for name in "${lineages[@]}"; do
  read -r challenge names <<<"${SPEC[$name]}"
  read -ra names_list <<<"$names"
  carried=$JHE_STATE/acme-import/$name.tgz
  if [[ ! -f /etc/letsencrypt/renewal/$name.conf && -f $carried ]]; then
    unpack_carried "$name" "$carried"
    rm -f "$carried"
    # Carried bundles were made by HTTP-01 lineages of the same name, or by this step: what its
    # renewal config says is what it was issued with.
    [[ -f $rec/issued/$name ]] || echo "${SPEC[$name]}" >"$rec/issued/$name"
    say "certificate for $name carried over from an earlier server; not requested"
  fi
  # What the lineage was issued with; a lineage of an earlier version of this step was HTTP-01 for its name alone.
  issued=$(cat "$rec/issued/$name" 2>/dev/null || echo "http-01 $name")
  force=()
  if [[ -f /etc/letsencrypt/renewal/$name.conf && -f /etc/letsencrypt/live/$name/fullchain.pem ]]; then
    if [[ $issued == "${SPEC[$name]}" ]]; then
      say "certificate for $name exists; not requested again"
      grep -qxF -- "$name" "$rec/domains" || echo "$name" >>"$rec/domains"
      continue
    fi
    say "certificate for $name was issued as '$issued', the stack now says '${SPEC[$name]}': requesting it again once"
    force=(--force-renewal)
  else
    say "requesting a certificate for $name ($names) by $challenge from ${PAYLOAD[server]}"
  fi
  domain_args=()
  for d in "${names_list[@]}"; do domain_args+=(--domains="$d"); done
  mapfile -t how < <(challenge_options "$challenge" "$name")
  eab=()
  [[ -n ${PAYLOAD[eab_config]:-} ]] && eab=(--config="${PAYLOAD[eab_config]}")
  # --opt=value: a value is never taken for an option, whatever it starts with. Bounded: an ACME
  # server that accepts connections but never answers must not hang `up`.
  if ! out=$(timeout 300 certbot certonly "${eab[@]}" --non-interactive --agree-tos --no-eff-email --email="${PAYLOAD[email]}" --server="${PAYLOAD[server]}" \
      "${how[@]}" --cert-name="$name" "${domain_args[@]}" "${force[@]}" 2>&1); then
    if [[ $challenge == dns-01 ]]; then
      hint="is that server reachable from this host, and does the DNS server take the TSIG-signed updates for _acme-challenge of $names?"
    else
      hint="is that server reachable from this host, and port 80 of $names reaching this host?"
    fi
    die "certbot could not get a certificate for $name from the ACME server ${PAYLOAD[server]} ($hint); the sites already configured keep serving. certbot said:"$'\n'"$(tail -n 15 <<<"$out" | grep -v -i -e secret -e hmac)"
  fi
  echo "${SPEC[$name]}" >"$rec/issued/$name"
  grep -qxF -- "$name" "$rec/domains" || echo "$name" >>"$rec/domains"
done
