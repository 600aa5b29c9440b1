# acme-carry-over: ACME accounts and certificates kept in (secret) stack config, so that a rebuilt
# server with the same domain serves the certificate it had instead of ordering a new one (Let's
# Encrypt allows 5 duplicate certificates a week). certbot renews from there as usual.
# payload (lib.sh's wire format): `action import|export`, then records:
#   import: `bundle DOMAIN BASE64` lines — a tar.gz of certbot's files for DOMAIN (relative to
#     /etc/letsencrypt: renewal/DOMAIN.conf, archive/DOMAIN/, live/DOMAIN/, accounts/… of its account)
#   export: `domain DOMAIN` lines
# apply, import: stages each bundle (0600, under the state directory) for the certbot step, which
#   unpacks it only when the host has no lineage for DOMAIN. Prints nothing secret.
# apply, export: prints `bundle DOMAIN BASE64` for every DOMAIN whose lineage exists. Its output is
#   secret (private keys): the step runs with logging off and secret stdout.
# undo: removes what import staged (export changes nothing).

stage=$JHE_STATE/acme-import
le=/etc/letsencrypt

if [[ $JHE_MODE == undo ]]; then
  rm -rf "$stage"
  exit 0
fi

read_payload action! bundle domain
action=${PAYLOAD[action]}
mapfile -t bundles < <(payload_values bundle)
mapfile -t domains < <(payload_values domain)

case $action in
  import)
    install -d -m 0700 "$stage"
    for entry in "${bundles[@]}"; do
      domain=${entry%% *} data=${entry#* }
      valid_lineage "$domain" || die "bad lineage name"
      [[ $data =~ ^[A-Za-z0-9+/=]+$ ]] || die "bundle for $domain is not base64"
      (umask 077; base64 -d <<<"$data" >"$stage/$domain.tgz") || die "bundle for $domain does not decode"
      say "staged the carried-over certificate of $domain"
    done
    ;;
  export)
    for domain in "${domains[@]}"; do
      valid_lineage "$domain" || die "bad lineage name"
      conf=$le/renewal/$domain.conf
      [[ -f $conf && -d $le/archive/$domain ]] || continue
      account=$(sed -n 's/^account = \([0-9a-f]*\)$/\1/p' "$conf")
      [[ -n $account ]] || die "renewal config of $domain names no account"
      account_dir=$(cd "$le" && find accounts -mindepth 1 -type d -name "$account" | head -n 1)
      [[ -n $account_dir ]] || die "the account of $domain is missing"
      printf 'bundle %s %s\n' "$domain" "$(tar -czf - -C "$le" "renewal/$domain.conf" "archive/$domain" "live/$domain" "$account_dir" | base64 -w0)"
    done
    ;;
  *) die "action must be import or export" ;;
esac
