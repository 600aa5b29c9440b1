# files: put a set of rendered files in place, as one transaction, and own them until undo.
# The set is named after the step (jhe-<step>), so each file step undoes only its own files.
# payload (lib.sh's wire format; steps/wire.ts): after ACTION / [handshake PORT NAME] / file entries.
# ACTION: none, or a unit with a config test (JHE_CONFIG_TEST: the proxies, fail2ban) — after writing, test its config and reload it gracefully;
#   if the test or the reload fails, every file goes back to what it was and the proxy keeps serving.
# optional `handshake PORT SERVERNAME`: after the reload, a real TLS handshake on 127.0.0.1:PORT
#   must succeed too (Apache's configtest does not load certificates), or the files are rolled back.
# apply: files of the set's previous apply that are no longer in the payload are removed (or their
#   original restored). A file that existed before the first apply is backed up and restored on undo.
# undo: restores/removes every file of the set, removes directories it created, tests + reloads.
# Every write is a rename (write_atomic/copy_atomic), and a path is in the manifest before its file
# is written; a `pending` mark stays until the proxy has tested and reloaded the set, so an apply
# cut off midway (connection lost, process killed) is finished by the next one, never skipped.

sets_dir=$JHE_STATE/files

# A real TLS handshake with the server as reloaded, with whatever client the host has.
tls_handshake() {
  local port=$1 name=$2 i
  for ((i = 0; i < 10; i++)); do
    if command -v openssl >/dev/null; then
      timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername "$name" </dev/null >/dev/null 2>&1 && return 0
    elif command -v curl >/dev/null; then
      curl -sk -o /dev/null --max-time 5 --resolve "$name:$port:127.0.0.1" "https://$name:$port/" && return 0
    elif command -v python3 >/dev/null; then
      python3 -c 'import socket,ssl,sys; c=ssl.create_default_context(); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE; c.wrap_socket(socket.create_connection(("127.0.0.1",int(sys.argv[1])),5),server_hostname=sys.argv[2]).close()' "$port" "$name" 2>/dev/null && return 0
    else
      say "warning: no openssl, curl or python3 on the host: TLS handshake not checked"; return 0
    fi
    sleep 0.5
  done
  return 1
}

# Reload gracefully; then make sure the unit is still up. Apache's configtest does not load
# certificates, so a passing test can still kill the server: check, and let the caller roll back.
proxy_reload() {
  local unit=$1
  if systemctl is-active --quiet -- "$unit"; then
    systemctl reload -- "$unit" 2>&1 || return 1
  else
    systemctl start -- "$unit" 2>&1 || return 1
  fi
  sleep 0.5
  # fail2ban reads its jails after systemd reports it started (a jail that fails stops the server
  # a moment later): wait until it answers, then check it is still up.
  if [[ $unit == fail2ban ]]; then
    local i
    for ((i = 0; i < 40; i++)); do fail2ban-client ping >/dev/null 2>&1 && break; sleep 0.25; done
    sleep 0.5
  fi
  systemctl is-active --quiet -- "$unit"
}

[[ $JHE_STEP =~ ^[a-z0-9-]+$ ]] || die "bad step name"
set_name=$JHE_STEP

if [[ $JHE_MODE == undo ]]; then
  dir=$sets_dir/$set_name
  if [[ -d $dir ]]; then
    after=$(cat "$dir/after" 2>/dev/null || echo none)
    fileset_undo "$dir" manifest
    [[ $after == none ]] || has_config_test "$after" || die "unknown after-action '$after' in $dir/after"
    if [[ $after == fail2ban ]] && systemctl is-active --quiet -- fail2ban && ! proxy_test fail2ban >/dev/null; then
      # Without our files fail2ban's own config does not load (Debian 12's stock sshd jail wants a
      # /var/log/auth.log the host has not got; our jail file made it read the journal): as found,
      # fail2ban could not run, so it stops, as found.
      systemctl stop fail2ban
      say "fail2ban's own config does not load without our jail file (as found): stopped it"
    elif [[ $after != none ]] && systemctl is-active --quiet -- "$after"; then
      out=$(proxy_test "$after") || die "after removing our files, $after's config test fails (someone else's config?): $out"
      proxy_reload "$after" >/dev/null || die "$after did not reload"
    fi
    say "removed file set $set_name"
    rm -rf "$dir"
  fi
  rmdir "$sets_dir" 2>/dev/null || true
  exit 0
fi

# ---- apply: the payload, staged by lib.sh's reader
read_payload after handshake file
after=${PAYLOAD[after]:-none} handshake=${PAYLOAD[handshake]:-}
[[ -z $handshake || $handshake =~ ^[0-9]{1,5}\ [a-z0-9][a-z0-9.-]*$ ]] || die "malformed handshake line"
work=$PAYLOAD_DIR
[[ -n $work ]] || die "payload holds no files"
payload_files >"$work/index"; count=$(wc -l <"$work/index")
while read -r _ group path; do getent group "$group" >/dev/null || die "no group '$group' on this host for $path"; done <"$work/index"
[[ $after == none ]] || has_config_test "$after" || die "unknown after-action '$after'"
((count > 0)) || die "payload holds no files"

dir=$sets_dir/$set_name
install -d -m 0700 "$sets_dir" "$dir" "$dir/originals"
rm -f "$dir"/*.jhe-new.* "$dir"/originals/*.jhe-new.*   # a killed apply's half-made records
touch "$dir/manifest" "$dir/created-dirs"

# Snapshot everything this apply may touch, so a failed proxy test restores it exactly.
snapshot=$work/snapshot; mkdir "$snapshot"
{ cat "$dir/manifest"; cut -d' ' -f3- "$work/index"; } | sort -u >"$work/touched"
snapshot_paths "$snapshot" <"$work/touched"
cp "$dir/manifest" "$work/old-manifest"; cp "$dir/created-dirs" "$work/old-created-dirs"

rollback() {
  restore_paths "$snapshot" <"$work/touched"
  copy_atomic "$work/old-manifest" "$dir/manifest"
  comm -13 <(sort "$work/old-created-dirs") <(sort "$dir/created-dirs") | sort -r | while IFS= read -r p; do rmdir "$p" 2>/dev/null || true; done
  copy_atomic "$work/old-created-dirs" "$dir/created-dirs"
  [[ -e $work/was-pending ]] || rm -f "$dir/pending"
}

# A previous apply that did not finish may have left files the proxy never tested or loaded.
changed=0
[[ -e $dir/pending ]] && { changed=1; touch "$work/was-pending"; say "finishing an earlier apply that was cut off"; }
touch "$dir/pending"
fileset_put "$dir" manifest
((FILESET_CHANGED)) && changed=1

# Files the previous apply owned that this payload no longer has.
cut -d' ' -f3- "$work/index" | sort >"$work/new-manifest"
comm -23 <(sort "$dir/manifest") "$work/new-manifest" | while IFS= read -r path; do
  key=$(path_key "$path")
  if [[ -f $dir/originals/$key ]]; then copy_atomic "$dir/originals/$key" "$path"; rm -f "$dir/originals/$key"; else rm -f "$path"; fi
  echo changed >"$work/removed"
done
[[ -e $work/removed ]] && changed=1
copy_atomic "$work/new-manifest" "$dir/manifest"
echo "$after" | write_atomic "$dir/after" 0600

if [[ $after != none && $changed == 1 ]]; then
  if ! out=$(proxy_test "$after"); then
    rollback
    die "new $after config failed its test; the previous files are back and $after keeps serving them:"$'\n'"$out"
  fi
  if ! out=$(proxy_reload "$after"); then
    rollback
    proxy_reload "$after" >/dev/null || true
    die "$after failed to reload with the new files; rolled back:"$'\n'"$out"$'\n'"$(journalctl -u "$after" -n 15 --no-pager 2>/dev/null)"
  fi
  if [[ -n $handshake ]] && ! tls_handshake ${handshake}; then
    rollback
    proxy_reload "$after" >/dev/null || systemctl restart -- "$after" || true
    die "$after reloaded but no TLS handshake succeeded on port ${handshake%% *}; rolled back to the previous files"
  fi
  say "$after config tested and reloaded"
fi
rm -f "$dir/pending"
say "file set $set_name: $count file(s), $([[ $changed == 1 ]] && echo changed || echo unchanged)"
