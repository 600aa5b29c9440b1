# web-roots: the directories the proxy serves files from.
# payload (lib.sh's wire format), records in order:
#                 acme /abs/path            — the ACME HTTP-01 webroot (empty; certbot writes there)
#                 root /abs/path DOMAIN     — an extra site's web root
# A missing site root is created with a small placeholder page (so the site answers at once); an
# existing root is never modified.
# undo: removes only what this step created, and only while it is unchanged (the placeholder page
#   is deleted if identical, the directory if then empty). Content the user added stays.

record=$JHE_STATE/web-roots.created

placeholder() {
  printf '<!doctype html>\n<meta charset="utf-8">\n<title>%s</title>\n<p>%s is served by jupyterhub-edge. Put your pages in this directory.</p>\n' "$1" "$1"
}

if [[ $JHE_MODE == undo ]]; then
  [[ -f $record ]] || exit 0
  tac "$record" | while read -r root domain; do
    if [[ $domain != - && -f $root/index.html ]] && cmp -s <(placeholder "$domain") "$root/index.html"; then rm -f "$root/index.html"; fi
    if rmdir "$root" 2>/dev/null; then say "removed $root"; else say "kept $root (it holds other files)"; fi
  done
  rm -f "$record"
  exit 0
fi

read_payload acme root
touch "$record"
while read -r kind root domain extra; do
  [[ -z ${extra:-} ]] && safe_path "$root" || die "malformed payload line"
  case $kind in
    acme) [[ -z ${domain:-} ]] || die "malformed acme line"; domain=- ;;
    root) valid_cert_domain "${domain:-}" || die "malformed root line" ;;
  esac
  if [[ ! -e $root ]]; then
    # Record missing parents too (outermost first), so undo can take away all it made.
    missing=() parent=$(dirname "$root")
    while [[ ! -e $parent ]]; do missing=("$parent" "${missing[@]}"); parent=$(dirname "$parent"); done
    for p in "${missing[@]}"; do install -d -m 0755 "$p"; grep -qxF -- "$p -" "$record" || echo "$p -" >>"$record"; done
    install -d -m 0755 "$root"
    clean_partial "$root/index.html"
    if [[ $domain != - ]]; then placeholder "$domain" | write_atomic "$root/index.html" 0644; fi
    grep -qxF -- "$root $domain" "$record" || echo "$root $domain" >>"$record"
    say "created $root"
  elif [[ ! -d $root ]]; then
    die "$root exists and is not a directory"
  fi
done < <(payload_records)
