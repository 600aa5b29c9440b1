# apache-modules: enable the Apache modules the rendered vhosts need.
# payload: modules (space-separated, e.g. "ssl proxy proxy_http headers http2 rewrite"),
#   mechanism (a2enmod | conf.modules.d), service (the unit), configtest (the control command: its
#   `-M` lists loaded modules), with a2enmod: mods_available and mods_enabled (a2enmod's directories),
#   with conf.modules.d: modules_dir (where the packages' LoadModule files live) and module_libraries
#   (the directories holding mod_<name>.so; the platform table's facts, model/platforms.ts)
# apply, a2enmod (Debian): a2enmod each module not yet enabled, remembering which ones this step enabled.
# apply, conf.modules.d (RHEL): the packages load their modules from conf.modules.d; any module the
#   server does not load yet gets a LoadModule line in a file of our own there (no a2enmod exists).
# undo: a2dismod exactly those / remove our file (if Apache is still installed), then a graceful
#   reload if it runs.

record=$JHE_STATE/apache-modules.enabled
own_file_name=90-jupyterhub-edge.conf

facts=$JHE_STATE/apache-modules.facts

reload_if_running() {
  systemctl is-active --quiet -- "$service" || return 0
  if proxy_test "$service" >/dev/null; then systemctl reload -- "$service"; else say "$service config test fails without our modules; not reloading"; fi
}

if [[ $JHE_MODE == undo ]]; then
  [[ -f $record ]] || exit 0
  # Undo gets no payload: the facts of the apply are on the host (records of versions that kept
  # none: the facts those versions had, shipped with the scripts).
  read -r mechanism service _ own_file <"$facts" 2>/dev/null || read -r mechanism service _ own_file <<<"$JHE_LEGACY_APACHE_MODULES_FACTS"
  valid_unit "$service" || die "bad unit in $facts"
  mapfile -t mods <"$record"
  if [[ $mechanism == a2enmod ]] && command -v a2dismod >/dev/null; then
    ((${#mods[@]})) && a2dismod -q -f "${mods[@]}" >/dev/null
    reload_if_running
    say "disabled ${mods[*]:-nothing}"
  elif [[ $mechanism == conf.modules.d && -f $own_file ]]; then
    rm -f "$own_file"
    reload_if_running
    say "removed $own_file (${mods[*]:-nothing})"
  fi
  rm -f "$record" "$facts"
  exit 0
fi

read_payload modules! mechanism! service! configtest! modules_dir module_libraries mods_available mods_enabled
service=${PAYLOAD[service]}
has_config_test "$service" || die "bad service"
[[ ${PAYLOAD[configtest]} =~ ^[a-z0-9]+$ ]] || die "bad configtest"
configtest=${PAYLOAD[configtest]}
mechanism=${PAYLOAD[mechanism]} own_file=-
case $mechanism in
  a2enmod) ;;
  conf.modules.d) safe_path "${PAYLOAD[modules_dir]:-}" || die "bad modules_dir"; own_file=${PAYLOAD[modules_dir]}/$own_file_name ;;
  *) die "unknown module mechanism '$mechanism'" ;;
esac
echo "$mechanism $service $configtest $own_file" >"$facts"

touch "$record"
if [[ $mechanism == conf.modules.d ]]; then
  command -v "$configtest" >/dev/null || die "$configtest not found: is $service installed?"
  read -ra libraries <<<"${PAYLOAD[module_libraries]:-}"
  for d in "${libraries[@]}"; do safe_path "$d" || die "bad module_libraries"; done
  loaded=$("$configtest" -M 2>/dev/null | awk '/_module/ {sub(/_module.*/, "", $1); print $1}' | sort)
  if [[ -f $own_file ]]; then loaded=$(grep -v -x -F -f "$record" <<<"$loaded" || true); fi
  missing=()
  for mod in ${PAYLOAD[modules]}; do
    [[ $mod =~ ^[a-z0-9_]+$ ]] || die "bad module name"
    grep -qxF -- "$mod" <<<"$loaded" && continue
    found=0
    for d in "${libraries[@]}"; do [[ -e $d/mod_$mod.so ]] && found=1; done
    ((found)) || die "Apache module $mod is not installed on this host"
    missing+=("$mod")
  done
  if ((${#missing[@]})); then
    printf '# Managed by jupyterhub-edge: modules its vhosts need that no package file loads.\n' >"$own_file.tmp"
    for mod in "${missing[@]}"; do printf 'LoadModule %s_module modules/mod_%s.so\n' "$mod" "$mod" >>"$own_file.tmp"; done
    mv "$own_file.tmp" "$own_file"
    printf '%s\n' "${missing[@]}" >"$record"
    say "loading ${missing[*]} from $own_file"
  else
    rm -f "$own_file"; : >"$record"
    say "modules already loaded"
  fi
  exit 0
fi

command -v a2enmod >/dev/null || die "a2enmod not found: is $service installed?"
available_dir=${PAYLOAD[mods_available]:-} enabled_dir=${PAYLOAD[mods_enabled]:-}
safe_path "$available_dir" && safe_path "$enabled_dir" || die "a2enmod needs mods_available and mods_enabled"
enabled() { find "$enabled_dir" -name '*.load' -printf '%f\n' | sed 's/\.load$//' | sort; }
before=$(enabled)
missing=()
for mod in ${PAYLOAD[modules]}; do
  [[ $mod =~ ^[a-z0-9_]+$ ]] || die "bad module name"
  [[ -e $available_dir/$mod.load ]] || die "Apache module $mod is not available on this host"
  [[ -e $enabled_dir/$mod.load ]] || missing+=("$mod")
done
if ((${#missing[@]})); then
  a2enmod -q "${missing[@]}" >/dev/null
  # a2enmod also enables dependencies (ssl → socache_shmcb): record everything that changed.
  comm -13 <(echo "$before") <(enabled) | while read -r mod; do grep -qxF -- "$mod" "$record" || echo "$mod" >>"$record"; done
  say "enabled $(comm -13 <(echo "$before") <(enabled) | paste -sd' ')"
else
  say "modules already enabled"
fi
