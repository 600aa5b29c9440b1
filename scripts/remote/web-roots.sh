# web-roots: make sure each extra site's web root exists. A missing root is created with a small
# placeholder page (so the site answers at once); an existing root is never modified.
# payload: lines `root /abs/path domain`
# undo: removes only what this step created, and only while it is unchanged (the placeholder page
#   is deleted if identical, the directory if then empty). Content the user added stays.

record=$JHE_STATE/web-roots.created

placeholder() {
  printf '<!doctype html>\n<meta charset="utf-8">\n<title>%s</title>\n<p>%s is served by jupyterhub-edge. Put your pages in this directory.</p>\n' "$1" "$1"
}

if [[ $JHE_MODE == undo ]]; then
  [[ -f $record ]] || exit 0
  while read -r root domain; do
    if [[ -f $root/index.html ]] && cmp -s <(placeholder "$domain") "$root/index.html"; then rm -f "$root/index.html"; fi
    rmdir "$root" 2>/dev/null && say "removed $root" || say "kept $root (it holds other files)"
  done <"$record"
  rm -f "$record"
  exit 0
fi

touch "$record"
while read -r kind root domain extra || [[ -n ${kind:-} ]]; do
  [[ -z ${kind:-} ]] && continue
  [[ $kind == root && -z ${extra:-} ]] && safe_path "$root" && [[ $domain =~ ^[a-z0-9.-]+$ ]] || die "malformed payload line"
  if [[ ! -e $root ]]; then
    install -d -m 0755 "$root"
    placeholder "$domain" >"$root/index.html"
    chmod 0644 "$root/index.html"
    grep -qxF "$root $domain" "$record" || echo "$root $domain" >>"$record"
    say "created $root with a placeholder page"
  elif [[ ! -d $root ]]; then
    die "$root exists and is not a directory"
  fi
done
