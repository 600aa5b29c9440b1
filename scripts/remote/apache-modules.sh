# apache-modules: enable the Apache modules the rendered vhosts need.
# payload: modules (space-separated, e.g. "ssl proxy proxy_http headers http2 rewrite")
# apply: a2enmod each module not yet enabled, remembering which ones this step enabled.
# undo: a2dismod exactly those (if Apache is still installed), then a graceful reload if it runs.

record=$JHE_STATE/apache-modules.enabled

if [[ $JHE_MODE == undo ]]; then
  [[ -f $record ]] || exit 0
  if command -v a2dismod >/dev/null; then
    mapfile -t mods <"$record"
    ((${#mods[@]})) && a2dismod -q -f "${mods[@]}" >/dev/null
    if systemctl is-active --quiet apache2; then
      if apache2ctl configtest >/dev/null 2>&1; then systemctl reload apache2; else say "apache2 config test fails without our modules; not reloading"; fi
    fi
    say "disabled ${mods[*]:-nothing}"
  fi
  rm -f "$record"
  exit 0
fi

read_kv_payload modules
command -v a2enmod >/dev/null || die "a2enmod not found: is apache2 installed?"
touch "$record"
enabled() { find /etc/apache2/mods-enabled -name '*.load' -printf '%f\n' | sed 's/\.load$//' | sort; }
before=$(enabled)
missing=()
for mod in ${PAYLOAD[modules]}; do
  [[ $mod =~ ^[a-z0-9_]+$ ]] || die "bad module name"
  [[ -e /etc/apache2/mods-available/$mod.load ]] || die "Apache module $mod is not available on this host"
  [[ -e /etc/apache2/mods-enabled/$mod.load ]] || missing+=("$mod")
done
if ((${#missing[@]})); then
  a2enmod -q "${missing[@]}" >/dev/null
  # a2enmod also enables dependencies (ssl → socache_shmcb): record everything that changed.
  comm -13 <(echo "$before") <(enabled) | while read -r mod; do grep -qx "$mod" "$record" || echo "$mod" >>"$record"; done
  say "enabled $(comm -13 <(echo "$before") <(enabled) | paste -sd' ')"
else
  say "modules already enabled"
fi
