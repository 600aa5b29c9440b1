# hub-managed-block: keep c.JupyterHub.bind_url (and nothing else) in a marked block of the hub's
# config, restart the hub through systemd, and wait until it answers again.
# payload: config PATH / service UNIT / health URL / [health_socket PATH] / then `|`-prefixed block
#   lines (the block includes its BEGIN and END marker lines).
# apply: replaces the block between the markers, or appends it; every other byte stays as it was.
#   The first apply keeps a copy of the original file. If the hub does not come back healthy, the
#   previous file is restored and the hub restarted on it.
# undo: removes the block — restoring the original bytes exactly when nothing else changed — and
#   restarts the hub.
# The config is replaced in one rename (owner and mode kept), and a `pending` mark stays until the
# hub answered on it: an apply cut off after the write restarts the hub on the next apply.
# A hub that does not come up is reported within 90 s (wait_http_ok's deadline), never waited on.

rec=$JHE_STATE/hub-config
begin_re="^$JHE_HUB_BLOCK_BEGIN" end_re="^$JHE_HUB_BLOCK_END"

strip_block() {  # stdin → stdout without the managed block
  awk -v b="$begin_re" -v e="$end_re" '$0 ~ b {skip = 1; next} skip && $0 ~ e {skip = 0; next} !skip {print}'
}

restart_and_wait() {   # unit health-url [socket]
  # A hub that crashed in a loop has hit systemd's start limit: a restart would be refused.
  systemctl reset-failed -- "$1" 2>/dev/null || true
  systemctl restart -- "$1" || return 1
  wait_http_ok "$2" 90 "${3:-}"
}

if [[ $JHE_MODE == undo ]]; then
  [[ -f $rec/path ]] || exit 0
  config=$(cat "$rec/path") service=$(cat "$rec/service")
  if [[ -f $config ]]; then
    stripped=$(mktemp)
    strip_block <"$config" >"$stripped"
    if [[ -f $rec/created ]] && ! grep -q '[^[:space:]]' "$stripped"; then
      rm -f "$config"
      say "removed $config (this program created it)"
    elif [[ -f $rec/original ]] && { cmp -s "$stripped" "$rec/original" || cmp -s "$stripped" <(cat "$rec/original"; echo); }; then
      write_atomic "$config" keep <"$rec/original"   # keeps the file's owner and mode
      say "restored $config byte for byte"
    else
      write_atomic "$config" keep <"$stripped"
      say "removed the managed block from $config (other edits made since are kept)"
    fi
    rm -f "$stripped"
  fi
  valid_unit "$service" || die "bad unit name in $rec/service"
  if systemctl is-enabled --quiet -- "$service" 2>/dev/null || systemctl is-active --quiet -- "$service"; then
    since=$(date +%s)
    systemctl restart -- "$service" || die "could not restart $service on its original config"
    # Where the hub listens now is the user's own setting, unknown to us: wait for JupyterHub's
    # own "now running" line instead (bounded), so `destroy` ends with the hub serving again.
    for ((i = 0; i < 180; i++)); do
      journalctl --unit="$service" --since "@$since" -o cat --no-pager 2>/dev/null | grep -qF "JupyterHub is now running" && break
      sleep 0.5
    done
    ((i < 180)) && say "$service is running on its own config again" || say "warning: $service did not report running within 90 s"
  fi
  rm -rf "$rec"
  exit 0
fi

read_payload config service health health_socket text
block=$(mktemp); new=$(mktemp); previous=$(mktemp); JHE_CLEANUP+=("$block" "$new" "$previous")
payload_text >"$block"
config=${PAYLOAD[config]:-} service=${PAYLOAD[service]:-} health=${PAYLOAD[health]:-} socket=${PAYLOAD[health_socket]:-}
safe_path "$config" || die "hub config path must be a safe absolute path"
valid_unit "$service" || die "bad unit name"
# http://127.0.0.1:8000/…, http://[::1]:8000/… or http://localhost/… (socket): brackets allowed.
health_re='^https?://[]A-Za-z0-9.:%/_~[-]+$'
[[ $health =~ $health_re ]] || die "bad health URL"
[[ -z $socket ]] || safe_path "$socket" || die "bad socket path"
head -n1 "$block" | grep -q "$begin_re" && tail -n1 "$block" | grep -q "$end_re" || die "block lacks its markers"
systemctl cat -- "$service" >/dev/null 2>&1 || die "systemd unit $service not found (set jupyterhub-edge:hubService)"

install -d -m 0700 "$rec"
clean_partial "$config"; rm -f "$rec"/*.jhe-new.*   # what a killed apply left half-made
if [[ ! -f $rec/path ]]; then
  # The original first: `path` is what says the original has been kept.
  if [[ -f $config ]]; then copy_atomic "$config" "$rec/original"; else touch "$rec/created"; fi
  echo "$config" | write_atomic "$rec/path" 0600
fi
echo "$service" | write_atomic "$rec/service" 0600

if [[ -f $config ]]; then
  if grep -q "$begin_re" "$config"; then
    awk -v b="$begin_re" -v e="$end_re" -v f="$block" '
      $0 ~ b {while ((getline l < f) > 0) print l; skip = 1; next}
      skip && $0 ~ e {skip = 0; next}
      !skip {print}' "$config" >"$new"
  else
    cat "$config" >"$new"
    [[ -s $config && $(tail -c1 "$config" | od -An -c | tr -d ' ') != '\n' ]] && echo >>"$new"
    cat "$block" >>"$new"
  fi
else
  install -d -m 0755 "$(dirname "$config")"
  cat "$block" >"$new"
fi

hub_down() {   # why the hub is not serving, with its last log lines
  die "the hub is down: $service $1 (state: $(systemctl is-active -- "$service" 2>/dev/null)); $health did not answer within 90 s. Last log lines of $service:"$'\n'"$(journalctl --unit="$service" -n 20 --no-pager 2>/dev/null || true)"
}

if [[ -f $config ]] && cmp -s "$new" "$config"; then
  if [[ -f $rec/pending ]]; then
    say "finishing an earlier apply that was cut off: restarting $service on the current block"
    restart_and_wait "$service" "$health" "$socket" || hub_down "did not come back after the restart"
    rm -f "$rec/pending"
  else
    say "managed block in $config already current"
    if ! systemctl is-active --quiet -- "$service"; then
      restart_and_wait "$service" "$health" "$socket" || hub_down "is not running and did not start"
    else
      wait_http_ok "$health" 90 "$socket" || hub_down "is running but does not answer"
    fi
  fi
  exit 0
fi

# Only the block's comments changed (its wording, after an upgrade of this program): the hub would
# read the same settings, so the file is rewritten without restarting it — a restart stops every
# user's server on a default JupyterHub.
code_lines() { grep -v '^[[:space:]]*#' -- "$1" || true; }
if [[ -f $config && ! -f $rec/pending ]] && cmp -s <(code_lines "$new") <(code_lines "$config"); then
  write_atomic "$config" keep <"$new"
  say "managed block in $config: only its comments changed; rewritten without restarting $service"
  exit 0
fi

[[ -f $config ]] && cp -p "$config" "$previous"
touch "$rec/pending"
write_atomic "$config" keep <"$new"
if ! restart_and_wait "$service" "$health" "$socket"; then
  journal=$(journalctl --unit="$service" -n 20 --no-pager 2>/dev/null || true)
  if [[ -s $previous ]]; then write_atomic "$config" keep <"$previous"; systemctl restart -- "$service" || true; fi
  rm -f "$rec/pending"
  die "the hub is down: $service did not answer $health within 90 s of the restart; the previous config is back. Last log lines:"$'\n'"$journal"
fi
rm -f "$rec/pending"
say "bind_url block written to $config; $service restarted and healthy at $health"
