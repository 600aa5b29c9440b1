# install: puts the program's remote scripts on the host, once per content hash, so that every
# other step's command is a short `bash /usr/local/lib/jupyterhub-edge/<hash>/<script>.sh STEP MODE`.
# Runs as `bash -s scripts apply|undo` with lib.sh, this file and the generated bundle on stdin
# (steps/remote-scripts.ts): `bundle_begin ID`, one `install_script HASH NAME <<'…'` per script,
# `bundle_end`. Only committed text and hashes travel this way, never a stack value.
#   /usr/local/lib/jupyterhub-edge/<hash>/<name>.sh   one script (lib.sh + <name>.sh), as hashed
#   /usr/local/lib/jupyterhub-edge/bundles/<id>       the scripts one program version uses
# apply: writes each script whose copy is missing or differs (into a temporary directory, checked
#   against its hash, then renamed into place), then records the bundle. Idempotent.
# undo: forgets the bundle, removes the script directories no remaining bundle lists, and the
#   whole tree once no bundle is left. A program upgrade installs the new bundle first and undoes
#   the old one at the end of the update, so steps undone meanwhile still find their old scripts.

readonly JHE_LIB=$JHE_INSTALL_ROOT
bundle_id=
bundle_scripts=()

remove_unused_scripts() {
  local keep dir name
  # (No bundle left: nothing to keep.)
  keep=$(cat "$JHE_LIB"/bundles/* 2>/dev/null | cut -d' ' -f1 | sort -u) || true
  for dir in "$JHE_LIB"/*/ "$JHE_LIB"/.new.*/; do
    name=$(basename "$dir")
    [[ -d $dir && ( $name =~ ^[0-9a-f]{16}$ || $name == .new.* ) ]] || continue
    grep -qx -- "$name" <<<"$keep" || rm -rf -- "$dir"
  done
}

bundle_begin() {
  bundle_id=$1
  [[ $bundle_id =~ ^[0-9a-f]{16}$ ]] || die "bad bundle id"
  if [[ $JHE_MODE == undo ]]; then
    if [[ -d $JHE_LIB ]]; then
      rm -f "$JHE_LIB/bundles/$bundle_id"
      remove_unused_scripts
      { rmdir "$JHE_LIB/bundles" && rmdir "$JHE_LIB"; } 2>/dev/null || true
      say "removed bundle $bundle_id$([[ -d $JHE_LIB ]] && echo "; $JHE_LIB kept for the bundles still installed" || echo "; $JHE_LIB removed")"
    fi
    # The scripts that follow on stdin are not needed to undo: read them, so the sender never
    # writes into a closed pipe.
    cat >/dev/null
    exit 0
  fi
  install -d -m 0755 "$JHE_LIB" "$JHE_LIB/bundles"
}

install_script() {   # HASH NAME, with the script's text on stdin
  local hash=$1 name=$2 dir=$JHE_LIB/$1 tmp
  [[ $hash =~ ^[0-9a-f]{16}$ && $name =~ ^[a-z0-9-]+$ ]] || die "bad script identity"
  tmp=$(mktemp -d "$JHE_LIB/.new.XXXXXX")
  cat >"$tmp/$name.sh"
  if [[ $(sha256sum "$tmp/$name.sh" | cut -c1-16) != "$hash" ]]; then
    rm -rf -- "$tmp"
    die "$name.sh arrived damaged (its hash is not $hash)"
  fi
  if [[ -f $dir/$name.sh ]] && cmp -s "$dir/$name.sh" "$tmp/$name.sh"; then
    rm -rf -- "$tmp"
  else
    chmod 0755 "$tmp"
    chmod 0644 "$tmp/$name.sh"
    rm -rf -- "$dir"
    mv -T "$tmp" "$dir"
  fi
  bundle_scripts+=("$hash $name")
}

bundle_end() {
  [[ -n $bundle_id ]] || die "bundle_end without bundle_begin"
  printf '%s\n' "${bundle_scripts[@]}" >"$JHE_LIB/bundles/.$bundle_id"
  mv -f "$JHE_LIB/bundles/.$bundle_id" "$JHE_LIB/bundles/$bundle_id"
  # Leftovers no bundle lists (an interrupted install, a bundle removed by hand).
  remove_unused_scripts
  say "${#bundle_scripts[@]} scripts in $JHE_LIB (bundle $bundle_id)"
}
