# packages: install the proxy's packages, remembering exactly what this step added so that undo
# leaves the package set as it was found.
# payload: set (name for the record, e.g. nginx), manager (apt | dnf: the platform's package manager),
#   repositories (optional: packages that enable a repository, e.g. epel-release, installed first),
#   repository_hint (optional: what to enable by hand when those cannot be installed, from the platform table),
#   packages (space-separated), service (systemd unit),
#   leftovers (space-separated paths the packages create that their purge leaves behind),
#   conflicts (units that must not hold the ports while ours runs — the other proxy),
#   module (optional, "yes": the packages are a module of the unit — Apache's mod_qos — not a server:
#   apply neither enables nor starts the unit, undo leaves the unit's config files and state alone
#   and, after the purge, reloads the unit if it runs)
# apply: apt-get / dnf install; start + enable the unit. Records added packages, the unit's prior state,
#   and which leftover paths did not exist before. A later apply installs again any package of the
#   set removed since, and starts and enables the unit again.
# undo: purges the packages this step added, then removes the leftovers that were not there before;
#   restores the unit state. Our own config files for the unit (file sets whose after-action is
#   this unit, and the capacity step's files) go first, so that the purge leaves nothing of theirs
#   behind. Conflicting units this
#   step stopped are started again.

record_dir=$JHE_STATE/packages

# Package steps run in parallel (the proxy's and certbot's): one package transaction at a time,
# and wait for any other dpkg user (unattended-upgrades) instead of failing.
exec {apt_lock}>/run/lock/jupyterhub-edge-apt.lock
flock "$apt_lock"
apt_opts=(-o DPkg::Lock::Timeout=300 -q)

# The package manager is platform data (payload `manager`, kept for undo), never guessed.
pm_installed() {
  case $manager in
    apt) dpkg-query -W -f='${Package} ${db:Status-Status}\n' 2>/dev/null | awk '$2 == "installed" {print $1}' | sort ;;
    dnf) rpm -qa --qf '%{NAME}\n' | sort -u ;;
  esac
}
pm_install() {
  case $manager in
    apt)
      # Lists may be absent (fresh image) or stale: refresh once, then install.
      apt-get "${apt_opts[@]}" update >/dev/null || die "apt-get update failed"
      apt-get "${apt_opts[@]}" install -y --no-install-recommends -- "$@" >/dev/null ;;
    dnf) dnf -y -q --setopt=install_weak_deps=False install "$@" >/dev/null ;;
  esac
}
pm_remove() {
  case $manager in
    apt) apt-get "${apt_opts[@]}" purge -y -- "$@" >/dev/null ;;
    dnf) dnf -y -q --setopt=clean_requirements_on_remove=False remove "$@" >/dev/null ;;
  esac
}

# A module package's maintainer scripts restart its server (Debian's apache2_invoke enmod/dismod),
# which would cut every websocket and every site the server carries. While such a package is
# installed or purged, service actions are held back (policy-rc.d, which invoke-rc.d honours; an
# admin's own policy-rc.d is left as it is) and the step reloads gracefully instead.
held_policy=""
hold_service_actions() {
  local policy=/usr/sbin/policy-rc.d
  [[ -e $policy ]] && return 0
  printf '#!/bin/sh\n# jupyterhub-edge: held while a module package is installed or purged\nexit 101\n' >"$policy" && chmod 0755 "$policy" && held_policy=$policy
  trap 'release_service_actions; jhe_cleanup' EXIT
}
release_service_actions() { if [[ -n $held_policy ]]; then rm -f "$held_policy"; held_policy=""; fi; }

if [[ $JHE_MODE == undo ]]; then
  shopt -s nullglob
  # Only this step's own record: the proxy's and certbot's package steps share the record
  # directory, and a destroy may undo certbot's first — purging the proxy then would take it away
  # before the steps that depend on it (capacity, vhosts) have removed their files, and the purge
  # would keep the directories holding them. The stored payload names the set; without one (run by
  # hand), every record.
  # Any key: a payload stored by an older version may name keys this one no longer reads.
  [[ -t 0 ]] || read_payload '*'
  own=${PAYLOAD[set]:-}
  [[ -z $own || $own =~ ^[a-z0-9-]+$ ]] || die "bad record name"
  for record in "$record_dir"/${own:-*}.added; do
    name=$(basename "$record" .added)
    mapfile -t added <"$record"
    service=$(cat "$record_dir/$name.service" 2>/dev/null || true)
    manager=$(cat "$record_dir/$name.manager" 2>/dev/null || echo apt)
    if [[ -e $record_dir/$name.module ]]; then
      # A module of a unit that keeps running: only the packages this step added go.
      if ((${#added[@]})); then
        say "purging what was installed for $name: ${added[*]}"
        hold_service_actions
        pm_remove "${added[@]}"
        release_service_actions
        if valid_unit "$service" && systemctl is-active --quiet -- "$service"; then
          systemctl reload -- "$service" || say "reloading $service after the purge failed"
        fi
      fi
      rm -f "$record" "$record_dir/$name".{service,manager,was-active,leftovers,stopped-conflicts,module}
      continue
    fi
    # Our vhosts for this unit: removed before the purge (a purge keeps directories holding files).
    for set_dir in "$JHE_STATE"/files/*/; do
      [[ -f $set_dir/after && $(cat "$set_dir/after") == "$service" && -f $set_dir/manifest ]] || continue
      while IFS= read -r path; do rm -f "$path"; done <"$set_dir/manifest"
      rm -rf "$set_dir"
    done
    # The capacity step's files for this unit likewise (its sizing file sits in the package's own
    # config tree). A proxy switch replaces this step before the capacity step is undone; the
    # capacity step's own undo still runs later and finds only its records to clear.
    if [[ -f $JHE_STATE/capacity/paths && $(cat "$JHE_STATE/capacity/service" 2>/dev/null) == "$service" ]]; then
      while IFS= read -r path; do
        key=$(printf '%s' "$path" | sha256sum | cut -c1-16)
        [[ -e $JHE_STATE/capacity/originals/$key ]] || rm -f "$path"
      done <"$JHE_STATE/capacity/paths"
    fi
    if ((${#added[@]})); then
      valid_unit "$service" && systemctl stop -- "$service" 2>/dev/null || true
      say "purging what was installed for $name: ${added[*]}"
      pm_remove "${added[@]}"
      # Files the packages' scripts made that purge leaves (e.g. /var/www/html), deepest first.
      while IFS= read -r path; do
        [[ -z $path ]] && continue
        if [[ -d $path && ! -L $path ]]; then rmdir "$path" 2>/dev/null || true; else rm -f "$path"; fi
      done <"$record_dir/$name.leftovers"
    elif [[ -n $service && $(cat "$record_dir/$name.was-active" 2>/dev/null) == inactive ]]; then
      systemctl stop -- "$service" || true
    fi
    while IFS= read -r unit; do
      valid_unit "$unit" && systemctl start -- "$unit" 2>/dev/null && say "started $unit again"
    done < <(cat "$record_dir/$name.stopped-conflicts" 2>/dev/null)
    rm -f "$record" "$record_dir/$name.service" "$record_dir/$name.manager" "$record_dir/$name.was-active" "$record_dir/$name.leftovers" "$record_dir/$name.stopped-conflicts"
  done
  rmdir "$record_dir" 2>/dev/null || true
  exit 0
fi

read_payload set! manager packages! service! module leftovers conflicts repositories repository_hint
name=${PAYLOAD[set]}
[[ $name =~ ^[a-z0-9-]+$ ]] || die "bad record name"
manager=${PAYLOAD[manager]:-apt}
case $manager in
  apt) command -v apt-get >/dev/null || die "apt-get not found, but the platform says apt" ;;
  dnf) command -v dnf >/dev/null || die "dnf not found, but the platform says dnf" ;;
  *) die "unknown package manager '$manager'" ;;
esac
read -r -a wanted <<<"${PAYLOAD[packages]}"
read -r -a repositories <<<"${PAYLOAD[repositories]:-}"
# Package names: Debian's [a-z0-9+.-], RPM's also _ and capitals (mod_ssl); never a leading -.
for p in "${repositories[@]}" "${wanted[@]}"; do [[ $p =~ ^[A-Za-z0-9][A-Za-z0-9_+.-]+$ ]] || die "bad package name '$p'"; done
service=${PAYLOAD[service]}
valid_unit "$service" || die "bad unit name"
install -d -m 0700 "$record_dir"
rm -f "$record_dir"/*.jhe-new.*   # what a killed apply left half-made



# The other proxy holds 80/443 if it runs: stop it (and keep it from starting at boot) while
# ours serves; undo starts it again.
for unit in ${PAYLOAD[conflicts]:-}; do
  valid_unit "$unit" || die "bad unit name"
  if systemctl is-active --quiet -- "$unit"; then
    systemctl stop -- "$unit"
    grep -qxF -- "$unit" "$record_dir/$name.stopped-conflicts" 2>/dev/null || echo "$unit" >>"$record_dir/$name.stopped-conflicts"
    say "stopped $unit: it held the ports $service needs"
  fi
done

[[ ${PAYLOAD[module]:-} == yes ]] && hold_service_actions
if [[ ! -e $record_dir/$name.added ]]; then
  # First apply: remember the unit's state, the leftovers' absence and the package set before we
  # touch anything. `before` is written last and kept until the record is complete, so an apply
  # cut off during the install resumes from the true "as found", never from what it half-installed.
  if [[ ! -s $record_dir/$name.before ]]; then
    systemctl is-active --quiet -- "$service" 2>/dev/null && echo active >"$record_dir/$name.was-active" || echo inactive >"$record_dir/$name.was-active"
    : >"$record_dir/$name.leftovers"
    for path in ${PAYLOAD[leftovers]:-}; do
      safe_path "$path" || die "bad leftover path"
      [[ -e $path ]] || echo "$path" >>"$record_dir/$name.leftovers"
    done
    pm_installed | write_atomic "$record_dir/$name.before" 0600
  fi
  before=$(cat "$record_dir/$name.before")
  # An apt/dpkg run killed midway leaves packages unconfigured: finish that first.
  if [[ $manager == apt && -n $(dpkg --audit 2>/dev/null) ]]; then
    say "finishing an interrupted dpkg run"
    dpkg --configure -a >/dev/null || die "dpkg --configure -a failed"
  fi
  missing_repos=()
  for p in "${repositories[@]}"; do grep -qxF -- "$p" <<<"$before" || missing_repos+=("$p"); done
  if ((${#missing_repos[@]})); then
    say "installing ${missing_repos[*]} (the repository of ${wanted[*]})"
    pm_install "${missing_repos[@]}" || die "$manager install ${missing_repos[*]} failed; enable the repository by hand${PAYLOAD[repository_hint]:+ (${PAYLOAD[repository_hint]})} and run again"
  fi
  missing=()
  for p in "${wanted[@]}"; do grep -qxF -- "$p" <<<"$before" || missing+=("$p"); done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    pm_install "${missing[@]}" || die "$manager install ${missing[*]} failed"
  else
    say "already installed: ${wanted[*]}"
  fi
  comm -13 <(echo "$before") <(pm_installed) >"$record_dir/$name.added.tmp"
  echo "$service" | write_atomic "$record_dir/$name.service" 0600
  echo "$manager" | write_atomic "$record_dir/$name.manager" 0600
  [[ ${PAYLOAD[module]:-} == yes ]] && echo yes | write_atomic "$record_dir/$name.module" 0600
  mv "$record_dir/$name.added.tmp" "$record_dir/$name.added"
  rm -f "$record_dir/$name.before"
fi
if [[ ${PAYLOAD[module]:-} == yes ]]; then
  release_service_actions
  # Loaded by a graceful reload (the modules step enables it; the config steps reload too).
  say "${wanted[*]}: installed for $service (no restart: a reload loads it)"
  exit 0
fi

# A package of the set removed since (by hand; `pulumi up --refresh` re-runs this step to repair
# it): installed again. Not recorded as added if it was there before the first apply, so undo
# leaves it, as found.
now=$(pm_installed)
gone=()
for p in "${wanted[@]}"; do grep -qxF -- "$p" <<<"$now" || gone+=("$p"); done
if ((${#gone[@]})); then
  say "installing ${gone[*]} again (removed since the first apply)"
  pm_install "${gone[@]}" || die "$manager install ${gone[*]} failed"
fi

systemctl enable --quiet -- "$service" 2>/dev/null || true
systemctl is-active --quiet -- "$service" || systemctl start -- "$service" || die "$service did not start: $(systemctl status --no-pager -n 20 -- "$service" 2>&1 | tail -n 20)"
say "$service is $(systemctl is-active -- "$service")"
