# capacity: size the proxy for the workshop (numbers from model/capacity.ts, rendered by
# render/capacity.ts) and give its service the open-files limit that needs.
# payload (lib.sh's wire format): values, then two file entries:
#   proxy nginx|apache2|httpd · service UNIT · nofile N · file_max N · tasks N (0 = not counted)
#   memory_mib N · memory_share_percent N · [main_config PATH · main_include PATH] (nginx)
#   [server_limit N · thread_limit N · stock_server_limit N · stock_thread_limit N · files_needed N] (Apache)
#   records: the proxy's sizing file, the systemd drop-in
# apply: first checks the host can give what the sizing asks — memory (MemTotal), fs.nr_open,
#   fs.file-max, kernel.pid_max and kernel.threads-max, and that systemd really grants LimitNOFILE —
#   and refuses, with nothing changed, if not (the kernel's limits are only read, never lowered or
#   raised). Then writes the files; for nginx, comments out the main config's own worker_processes /
#   events{} (marked) and includes the managed file there. Tests the config; reloads gracefully.
#   Apache restarts only when ServerLimit/ThreadLimit grow past what its running parent started
#   with (those need a new parent); otherwise the parent's open-files limit is set in place
#   (prlimit) and the graceful reload's new children inherit it, so open websockets and other sites
#   on the host keep being served. Where the limit cannot be raised in place (no CAP_SYS_RESOURCE,
#   as in some containers), a running limit that already covers a child's files is kept until the
#   next start; only a too-small one restarts. Any failure puts every file back and the proxy keeps serving.
# undo: removes our files, puts the main config back byte for byte, reloads the proxy gracefully
#   (the sizing never goes below the stock ServerLimit/ThreadLimit, so the stock config fits the
#   running parent) and gives Apache's parent back the open-files limit it had.

readonly MARK='#jhe-capacity# '
state=$JHE_STATE/capacity

# The main config without our edit: the saved original if the file is still as we left it, else
# the current file with only our marked lines undone (someone edited it since: keep their edits).
restore_main() {
  local main=$1 inc=$2
  [[ -f $state/main.orig ]] || return 0
  # The package that owns it was purged already: nothing to put back, and nothing to recreate.
  [[ -f $main ]] || { rm -f "$state/main.orig" "$state/main.ours"; return 0; }
  if cmp -s "$main" "$state/main.ours"; then
    copy_atomic "$state/main.orig" "$main"
  else
    grep -vxF -- "$inc" "$main" | sed "s/^${MARK}//" >"$main.jhe-new" && chmod --reference="$main" "$main.jhe-new" && mv -f "$main.jhe-new" "$main"
  fi
  rm -f "$state/main.orig" "$state/main.ours"
}

# ServerLimit/ThreadLimit of Apache's running parent ($1, its PID): as recorded when an apply last
# saw it; a parent started since (by anyone) read the files the last apply left; before any, stock.
parent_limits() {
  local pid sl tl
  if read -r pid sl tl 2>/dev/null <"$state/parent-limits" && [[ $pid == "$1" ]]; then echo "$sl $tl"
  elif read -r sl tl 2>/dev/null <"$state/applied-limits"; then echo "$sl $tl"
  else echo "${PAYLOAD[stock_server_limit]} ${PAYLOAD[stock_thread_limit]}"; fi
}

reload_or_restart() {   # $1 unit, $2 reload|restart
  if ! systemctl is-active --quiet "$1"; then systemctl start "$1" 2>&1 || return 1
  else systemctl "$2" "$1" 2>&1 || return 1; fi
  sleep 0.5
  systemctl is-active --quiet "$1"
}

if [[ $JHE_MODE == undo ]]; then
  [[ -d $state ]] || exit 0
  unit=$(cat "$state/service") proxy=$(cat "$state/proxy")
  # A file set (lib.sh) whose manifest is called `paths`.
  fileset_undo "$state" paths
  [[ -f $state/main-config ]] && restore_main "$(cat "$state/main-config")" "$(cat "$state/main-include-line")"
  systemctl daemon-reload
  if systemctl is-active --quiet "$unit"; then
    out=$(proxy_test "$proxy") || die "after removing the capacity files, $proxy's config test fails: $out"
    # Apache's parent gets back the open-files limit it had (lowering needs no privilege); a parent
    # started by an apply keeps its higher one until its next start, which is harmless.
    if [[ $proxy != nginx && -f $state/parent-nofile ]]; then
      prlimit --pid "$(systemctl show -p MainPID --value "$unit")" --nofile="$(cat "$state/parent-nofile")" 2>/dev/null || true
    fi
    reload_or_restart "$unit" reload >/dev/null || die "$unit did not come back"
  fi
  rm -rf "$state"
  say "capacity settings removed; $unit runs with its stock limits"
  exit 0
fi

# ---- apply: the payload, staged by lib.sh's reader
read_payload proxy! service! nofile! file_max! tasks! memory_mib! memory_share_percent! main_config main_include \
  server_limit thread_limit stock_server_limit stock_thread_limit files_needed file
work=$PAYLOAD_DIR
[[ -n $work ]] || die "payload must hold the sizing file and the drop-in"
payload_files >"$work/index"; count=$(wc -l <"$work/index")
for key in nofile file_max tasks memory_mib memory_share_percent; do [[ ${PAYLOAD[$key]} =~ ^[0-9]+$ ]] || die "payload '$key' must be a number"; done
proxy=${PAYLOAD[proxy]} unit=${PAYLOAD[service]}
has_config_test "$proxy" || die "unknown proxy '$proxy'"
if [[ $proxy != nginx ]]; then
  for key in server_limit thread_limit stock_server_limit stock_thread_limit files_needed; do [[ ${PAYLOAD[$key]:-} =~ ^[0-9]+$ ]] || die "payload '$key' must be a number"; done
fi
[[ $unit =~ ^[A-Za-z0-9@._-]+$ ]] || die "bad unit name"
((count == 2)) || die "payload must hold the sizing file and the drop-in"
main='' inc=''
if [[ $proxy == nginx ]]; then
  main=${PAYLOAD[main_config]:-} include_file=${PAYLOAD[main_include]:-}
  safe_path "$main" && safe_path "$include_file" || die "nginx needs main_config and main_include paths"
  [[ -f $main ]] || die "$main not found: is nginx installed?"
  inc="include $include_file; # jupyterhub-edge capacity: model/capacity.ts"
fi

# ---- checks: the host must be able to give what the sizing asks, before anything changes
nofile=${PAYLOAD[nofile]}
mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
allowed_mib=$((mem_kib / 1024 * ${PAYLOAD[memory_share_percent]} / 100))
((${PAYLOAD[memory_mib]} <= allowed_mib)) ||
  die "the sizing needs about ${PAYLOAD[memory_mib]} MiB for the proxy, but this host has $((mem_kib / 1024)) MiB (the proxy may use ${PAYLOAD[memory_share_percent]} %: $allowed_mib MiB); lower jupyterhub-edge:expectedParticipants or use a bigger server"
nr_open=$(cat /proc/sys/fs/nr_open)
((nofile <= nr_open)) || die "jupyterhub-edge:openFilesLimit $nofile is above this kernel's fs.nr_open $nr_open (not raised by this program): lower it, or raise fs.nr_open yourself"
file_max=$(cat /proc/sys/fs/file-max)
((PAYLOAD[file_max] <= file_max)) || die "the proxy may hold ${PAYLOAD[file_max]} open files at once, above this kernel's fs.file-max $file_max (not raised by this program): raise fs.file-max or lower expectedParticipants"
if ((${PAYLOAD[tasks]} > 0)); then
  # Every thread takes a PID, and pid_max bounds all tasks on the machine at once (a container
  # shares its host kernel's). What already runs needs its PIDs too, except the proxy's own. The
  # kernel's own count of tasks (loadavg's "running/total"), not a walk of /proc, which races with
  # threads coming and going.
  pid_max=$(cat /proc/sys/kernel/pid_max)
  running=$(awk '{ split($4, n, "/"); print n[2] }' /proc/loadavg)
  own=$(systemctl show -p TasksCurrent --value "$unit" 2>/dev/null); [[ $own =~ ^[0-9]+$ ]] || own=0
  free=$((pid_max - running + own))
  ((PAYLOAD[tasks] <= free)) ||
    die "Apache may run ${PAYLOAD[tasks]} threads (its TasksMax: ServerLimit × (ThreadsPerChild + 4) + 64, a graceful reload's second generation included), but kernel.pid_max is $pid_max and $((running - own)) tasks already run here, leaving $free (not raised by this program): raise kernel.pid_max (systemd's default is 4194304) or lower jupyterhub-edge:expectedParticipants"
  threads_max=$(cat /proc/sys/kernel/threads-max)
  ((PAYLOAD[tasks] <= threads_max)) || die "Apache needs ${PAYLOAD[tasks]} threads, above kernel.threads-max $threads_max: lower expectedParticipants"
fi
# systemd sets LimitNOFILE itself; a container or a hard limit it cannot raise would make the
# proxy fail to start. Ask it for real, with a throwaway unit.
if ! granted=$(systemd-run --quiet --wait --pipe --collect -p "LimitNOFILE=$nofile" sh -c 'ulimit -Hn' 2>&1) || [[ $granted != "$nofile" ]]; then
  die "systemd here cannot give a service LimitNOFILE=$nofile (got: ${granted:-nothing}); lower jupyterhub-edge:openFilesLimit to what the host allows"
fi

# ---- write
install -d -m 0700 "$state" "$state/originals"
touch "$state/paths" "$state/created-dirs"
snap=$work/snapshot; mkdir "$snap"
cut -d' ' -f3- "$work/index" >"$snap/paths"
[[ -n $main ]] && echo "$main" >>"$snap/paths"
snapshot_paths "$snap" <"$snap/paths"
had_main_orig=0; [[ -f $state/main.orig ]] && had_main_orig=1

rollback() {
  restore_paths "$snap" <"$snap/paths"
  if [[ -n $main ]] && ((had_main_orig == 0)); then rm -f "$state/main.orig" "$state/main.ours"; fi
  systemctl daemon-reload
}

fileset_put "$state" paths
changed=$FILESET_CHANGED

if [[ -n $main ]] && ! grep -qxF -- "$inc" "$main"; then
  [[ -f $state/main.orig ]] || cp -p "$main" "$state/main.orig"
  awk -v mark="$MARK" -v inc="$inc" '
    function count(s, ch,   t) { t = s; return gsub(ch, "", t) }
    {
      code = $0; sub(/#.*/, "", code)
      if (inev) {
        print mark $0; evdepth += count(code, "[{]") - count(code, "[}]")
        if (evdepth <= 0) { inev = 0; if (!done) { print inc; done = 1 } }
        next
      }
      if (depth == 0 && code ~ /^[ \t]*events[ \t]*\{/) {
        print mark $0; evdepth = count(code, "[{]") - count(code, "[}]"); inev = evdepth > 0
        if (!inev && !done) { print inc; done = 1 }
        next
      }
      if (depth == 0 && code ~ /^[ \t]*(worker_processes|worker_rlimit_nofile)[ \t]/) { print mark $0; next }
      depth += count(code, "[{]") - count(code, "[}]")
      print
    }
    END { if (!done) print inc }' "$main" >"$main.jhe-new"
  chmod --reference="$main" "$main.jhe-new"
  mv -f "$main.jhe-new" "$main"
  cp -p "$main" "$state/main.ours"
  printf '%s\n' "$main" >"$state/main-config"
  printf '%s\n' "$inc" >"$state/main-include-line"
  changed=1
fi
echo "$unit" >"$state/service"
echo "$proxy" >"$state/proxy"

if ((changed == 0)); then say "capacity for $unit unchanged (LimitNOFILE=$nofile)"; exit 0; fi
if ! out=$(proxy_test "$proxy"); then
  rollback
  die "the sized $proxy config failed its test; the previous files are back:"$'\n'"$out"
fi
systemctl daemon-reload
action=reload pid='' parent_sl=0 parent_tl=0 kept=''
if [[ $proxy != nginx ]] && systemctl is-active --quiet "$unit"; then
  pid=$(systemctl show -p MainPID --value "$unit")
  # The open-files limit the parent had before the first apply: undo gives it back.
  [[ -f $state/parent-nofile ]] || awk '/^Max open files/ {print $4 ":" $5}' "/proc/$pid/limits" >"$state/parent-nofile"
  read -r parent_sl parent_tl < <(parent_limits "$pid")
  if ((${PAYLOAD[server_limit]} > parent_sl || ${PAYLOAD[thread_limit]} > parent_tl)); then action=restart
  elif ! prlimit --pid "$pid" --nofile="$nofile:$nofile" 2>/dev/null; then
    # Raising another process's limit takes CAP_SYS_RESOURCE. Without it, a running limit that
    # covers one child's files is enough until the next start; a smaller one needs a new parent.
    running_nofile=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
    if ((running_nofile >= ${PAYLOAD[files_needed]})); then
      kept="; the running parent keeps its $running_nofile open files (a child needs ${PAYLOAD[files_needed]}) until its next start"
    else action=restart; fi
  fi
fi
if ! out=$(reload_or_restart "$unit" "$action"); then
  rollback
  systemctl restart "$unit" >/dev/null 2>&1 || true
  die "$unit failed to $action with the sized config; rolled back:"$'\n'"$out"$'\n'"$(journalctl -u "$unit" -n 15 --no-pager 2>/dev/null)"
fi
if [[ $proxy != nginx ]]; then
  newpid=$(systemctl show -p MainPID --value "$unit")
  # A new parent read the limits just written; a reloaded one keeps those it started with.
  [[ $newpid == "$pid" ]] || { parent_sl=${PAYLOAD[server_limit]} parent_tl=${PAYLOAD[thread_limit]}; }
  echo "$newpid $parent_sl $parent_tl" >"$state/parent-limits"
  echo "${PAYLOAD[server_limit]} ${PAYLOAD[thread_limit]}" >"$state/applied-limits"
fi
say "$unit sized: LimitNOFILE=$nofile, ${action}ed$kept"
