# Shared prelude of every remote step. Installed in front of each step's own script, as one file
# per script under its content hash (install.sh, steps/remote-scripts.ts), and run as
#   bash /usr/local/lib/jupyterhub-edge/<hash>/<script>.sh <step> apply|undo   payload on stdin.
# Only this committed text travels as shell; stack values arrive as data on stdin and are never
# evaluated. Scripts must never print payload content (it may hold private keys).
# In front of it, in the installed file: the constants the program defines once (steps/
# remote-scripts.ts, from model/platforms.ts): JHE_STATE, JHE_INSTALL_ROOT, JHE_LOCK, the hub block
# markers JHE_HUB_BLOCK_BEGIN/END, JHE_CONFIG_TEST (unit → config test argv), and the facts undo
# assumes for records older versions wrote (JHE_LEGACY_*).
set -euo pipefail
umask 022
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

readonly JHE_STEP=${1:-}
readonly JHE_MODE=${2:-apply}

say() { printf 'jupyterhub-edge %s: %s\n' "$JHE_STEP" "$*"; }
die() { printf 'jupyterhub-edge %s: error: %s\n' "$JHE_STEP" "$*" >&2; exit 1; }

[[ $JHE_STEP =~ ^[a-z0-9-]+$ ]] || die "usage: <script> STEP apply|undo (STEP in [a-z0-9-])"
case $JHE_MODE in apply|undo) ;; *) die "mode must be apply or undo, not '$JHE_MODE'" ;; esac
[[ $(id -u) == 0 ]] || die "must run as root (connect as root, or as a user with passwordless sudo)"

# One step at a time on a host. Two `pulumi up`s against one host (two terminals) interleave their
# steps but never run two at once, so no file set, record or managed block is written by both; the
# second waits, says so, and fails clearly after JHE_LOCK_WAIT seconds. Released when the step's
# process ends, however it ends (a cut connection included).
readonly JHE_LOCK_WAIT=600
exec {jhe_lock_fd}>>"$JHE_LOCK"
if ! flock -n "$jhe_lock_fd"; then
  say "waiting for another jupyterhub-edge step on this host ($(cat "$JHE_LOCK.holder" 2>/dev/null || echo unknown))"
  flock -w "$JHE_LOCK_WAIT" "$jhe_lock_fd" \
    || die "another jupyterhub-edge step ($(cat "$JHE_LOCK.holder" 2>/dev/null || echo unknown)) held $JHE_LOCK for ${JHE_LOCK_WAIT}s; is a second 'pulumi up' running against this host?"
fi
printf 'step %s %s, pid %s, since %s\n' "$JHE_STEP" "$JHE_MODE" "$$" "$(date -u +%FT%TZ)" >"$JHE_LOCK.holder"

# Replaces FILE in one rename (temp file beside it): a cut connection or a killed step leaves the
# old bytes or the new ones, never half a file. Content on stdin. MODE: octal, or `keep` for the
# replaced file's own owner and mode (0644 root for a new file).
write_atomic() {
  local file=$1 mode=$2 tmp
  tmp=$(mktemp "$file.jhe-new.XXXXXX") || return 1
  cat >"$tmp" || { rm -f "$tmp"; return 1; }
  if [[ $mode == keep && -e $file ]]; then
    chown --reference="$file" "$tmp" && chmod --reference="$file" "$tmp"
  else
    chmod "${mode/#keep/0644}" "$tmp"
  fi && mv -f "$tmp" "$file" || { rm -f "$tmp"; return 1; }
}
# The same for a copy that keeps SRC's mode and owner (backups, restores).
copy_atomic() {
  local src=$1 file=$2 tmp
  tmp=$(mktemp "$file.jhe-new.XXXXXX") || return 1
  cp -p "$src" "$tmp" && mv -f "$tmp" "$file" || { rm -f "$tmp"; return 1; }
}
# Temp files a killed writer left beside FILE.
clean_partial() { rm -f "$1".jhe-new.* "$1".jhe-new 2>/dev/null || true; }

# Absolute path of safe characters, no '..': the same rule the stack config is validated with.
safe_path() {
  [[ $1 =~ ^/([A-Za-z0-9._@+-]+/?)*$ && ! $1 =~ (^|/)\.\.(/|$) ]]
}

# Values that become command-line arguments never start with '-' (no tool reads them as options);
# they are also passed after `--` wherever the tool supports it.
valid_unit() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]*$ ]]; }
valid_domain() { [[ $1 =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ && $1 != *..* ]]; }
# A name on a certificate: a domain, or a wildcard `*.<domain>`.
valid_cert_domain() { valid_domain "${1#\*.}"; }
# A certificate's lineage (directory) name: a domain, or `_wildcard.<domain>` standing for `*.<domain>`.
valid_lineage() { valid_domain "${1#_wildcard.}"; }

# ---- The payload: the one wire format every step reads on stdin (written by steps/wire.ts).
#   KEY VALUE               a value; KEY in [a-z_]+, VALUE verbatim to the end of the line. A key may
#                           repeat: its lines are records, kept in order
#   file PATH MODE [GROUP]  opens a file entry (owner root, group root unless given); its content
#                           follows as `|` lines, `end` closes it
#   |LINE                   a content line: of the open file entry, else of the payload's text block
#   # …, blank lines        ignored
# read_payload KEY…: reads stdin; only the listed keys may appear (`file` allows file entries, `text`
# a text block, `*` any key), and a listed KEY! must appear with a non-empty value. Then:
#   PAYLOAD[KEY]            the value (the last one, if the key repeats)
#   payload_values KEY      every value of KEY, in order, one a line
#   payload_records         every `KEY VALUE` line, in order (records of several kinds)
#   payload_files           `MODE GROUP PATH` a line, in order; the Nth entry's content is
#                           $PAYLOAD_DIR/content/N (staged in a 0700 directory removed when the step ends)
#   payload_text            the text block (nothing if none)
# Nothing here prints payload content: it may hold private keys.
declare -A PAYLOAD=()
PAYLOAD_RECORDS=() PAYLOAD_DIR=''
JHE_CLEANUP=()
jhe_cleanup() { ((${#JHE_CLEANUP[@]} == 0)) || rm -rf -- "${JHE_CLEANUP[@]}"; }
trap jhe_cleanup EXIT
payload_staging() {
  [[ -n $PAYLOAD_DIR ]] && return 0
  [[ -d $JHE_STATE ]] || die "$JHE_STATE is missing (the preflight step makes it)"
  # What a killed step left staged (no other step runs: this one holds the host's step lock).
  rm -rf -- "$JHE_STATE"/.payload.* "$JHE_STATE"/.files.* "$JHE_STATE"/.capacity.*
  PAYLOAD_DIR=$(mktemp -d "$JHE_STATE/.payload.XXXXXX")
  JHE_CLEANUP+=("$PAYLOAD_DIR")
  mkdir "$PAYLOAD_DIR/content"; : >"$PAYLOAD_DIR/files"
}
read_payload() {
  local -A allowed=() required=()
  local key value line current='' mode group path extra n=0
  for key in "$@"; do allowed[${key%!}]=1; [[ $key == *! ]] && required[${key%!}]=1; done
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      "|"*)
        if [[ -n $current ]]; then printf '%s\n' "${line:1}" >>"$current"
        else
          [[ -n ${allowed[text]:-} ]] || die "malformed payload: a text line outside a file entry"
          payload_staging; printf '%s\n' "${line:1}" >>"$PAYLOAD_DIR/text"
        fi ;;
      end) [[ -n $current ]] || die "malformed payload: 'end' outside a file entry"; current='' ;;
      '') ;;
      \#*) [[ -z $current ]] || die "malformed payload line in file entry $n" ;;
      *)
        [[ -z $current ]] || die "malformed payload line in file entry $n (content lines start with '|')"
        key=${line%% *}
        value=${line#"$key"}; value=${value# }
        [[ $key =~ ^[a-z_]+$ ]] || die "malformed payload line (key '${key:0:20}')"
        [[ -n ${allowed[$key]:-}${allowed['*']:-} ]] || die "unexpected payload key '$key'"
        if [[ $key == file ]]; then
          read -r path mode group extra <<<"$value"
          [[ -z ${extra:-} ]] && safe_path "${path:-}" || die "file entry needs a safe absolute path and a mode"
          [[ ${mode:-} =~ ^0[0-7]{3}$ ]] || die "bad mode for $path"
          group=${group:-root}
          [[ $group =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad group for $path"
          payload_staging
          n=$((n + 1)); current=$PAYLOAD_DIR/content/$n; : >"$current"
          printf '%s %s %s\n' "$mode" "$group" "$path" >>"$PAYLOAD_DIR/files"
        else
          PAYLOAD[$key]=$value
          PAYLOAD_RECORDS+=("$key $value")
        fi ;;
    esac
  done
  [[ -z $current ]] || die "malformed payload: file entry $n has no 'end'"
  for key in "${!required[@]}"; do [[ -n ${PAYLOAD[$key]:-} ]] || die "payload lacks '$key'"; done
}
payload_values() {
  local r
  for r in "${PAYLOAD_RECORDS[@]}"; do [[ ${r%% *} == "$1" ]] && printf '%s\n' "${r#* }"; done
  return 0
}
payload_records() { ((${#PAYLOAD_RECORDS[@]} == 0)) || printf '%s\n' "${PAYLOAD_RECORDS[@]}"; }
payload_files() { [[ -z $PAYLOAD_DIR ]] || cat "$PAYLOAD_DIR/files"; }
payload_text() { [[ -z $PAYLOAD_DIR || ! -f $PAYLOAD_DIR/text ]] || cat "$PAYLOAD_DIR/text"; }

# ---- File sets (files.sh, capacity.sh): files one step owns, in its record directory DIR.
# DIR/MANIFEST lists each path before its file is written (a cut-off apply's new file is still known
# to be ours); DIR/originals/<key> keeps a file that was there before the first write (restored on
# undo); DIR/created-dirs the directories made for them. Every write and restore is a rename.
path_key() { printf '%s' "$1" | sha256sum | cut -c1-16; }
# On an SELinux host a new file takes its directory's type; the policy's (and the selinux step's)
# file-context rules say what it should be — e.g. cert_t for our certificates.
restore_label() { if command -v selinuxenabled >/dev/null && selinuxenabled; then restorecon "$1" || true; fi; }
# Puts the payload's file entries in place (mode, group, content); FILESET_CHANGED=1 if any changed.
fileset_put() {   # DIR MANIFEST
  local dir=$1 manifest=$1/$2 mode group path key parent p i=0 missing_dirs
  FILESET_CHANGED=0
  while read -r mode group path; do
    i=$((i + 1)); key=$(path_key "$path")
    # First touch of a file that was already there (not ours): keep the original for undo.
    if ! grep -qxF -- "$path" "$manifest" && [[ -e $path && ! -e $dir/originals/$key ]]; then
      copy_atomic "$path" "$dir/originals/$key"
    fi
    grep -qxF -- "$path" "$manifest" || echo "$path" >>"$manifest"
    clean_partial "$path"
    parent=$(dirname "$path") missing_dirs=()
    while [[ ! -d $parent ]]; do missing_dirs=("$parent" "${missing_dirs[@]}"); parent=$(dirname "$parent"); done
    for p in "${missing_dirs[@]}"; do echo "$p" >>"$dir/created-dirs"; install -d -m 0755 "$p"; restore_label "$p"; done
    if [[ -f $path ]] && cmp -s "$PAYLOAD_DIR/content/$i" "$path" && [[ $(stat -c '%a %G' "$path") == "${mode#0} $group" ]]; then continue; fi
    install -m "$mode" -o root -g "$group" "$PAYLOAD_DIR/content/$i" "$path.jhe-new"
    mv -f "$path.jhe-new" "$path"
    restore_label "$path"
    # shellcheck disable=SC2034  # read by the caller
    FILESET_CHANGED=1
  done < <(payload_files)
  return 0
}
# Undo: every file of the set back to its original, or removed; then the directories made for them.
fileset_undo() {   # DIR MANIFEST
  local dir=$1 path key
  [[ -f $dir/$2 ]] || return 0
  while IFS= read -r path; do
    key=$(path_key "$path")
    if [[ -f $dir/originals/$key ]]; then copy_atomic "$dir/originals/$key" "$path"; else rm -f "$path"; fi
    clean_partial "$path"
  done <"$dir/$2"
  if [[ -f $dir/created-dirs ]]; then
    tac "$dir/created-dirs" | while IFS= read -r path; do rmdir "$path" 2>/dev/null || true; done
  fi
  return 0
}
# Before a change that may be rolled back: copies of the paths on stdin (those that exist) in SNAP.
snapshot_paths() {   # SNAP
  local path
  while IFS= read -r path; do if [[ -e $path ]]; then cp -p "$path" "$1/$(path_key "$path")"; fi; done
  return 0
}
# Rollback: each path on stdin back as snapshot_paths saw it (removed if it did not exist).
restore_paths() {   # SNAP
  local path key
  while IFS= read -r path; do
    key=$(path_key "$path")
    if [[ -e $1/$key ]]; then copy_atomic "$1/$key" "$path"; else rm -f "$path"; fi
  done
  return 0
}

# Waits until a URL answers 200, for at most SECONDS in all (a hub that accepts connections but
# never answers must not make the step hang): the hub's health endpoint after a restart.
wait_http_ok() {
  local url=$1 socket=${3:-} deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if command -v curl >/dev/null; then
      # -g: an IPv6 address in brackets (http://[::1]:8000/) is an address, not a curl glob.
      if [[ -n $socket ]]; then curl -gfsS -o /dev/null --max-time 2 --unix-socket "$socket" -- "$url" 2>/dev/null && return 0
      else curl -gfsS -o /dev/null --max-time 2 -- "$url" 2>/dev/null && return 0; fi
    else
      python3 - "$url" <<'PY' 2>/dev/null && return 0
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)
PY
    fi
    sleep 0.5
  done
  return 1
}

# A unit's own config test (its output is the error a user sees): the platform table's argv for
# that unit (JHE_CONFIG_TEST), run as an argv, never through a shell.
has_config_test() { valid_unit "$1" && [[ -n ${JHE_CONFIG_TEST[$1]:-} ]]; }
proxy_test() {
  has_config_test "$1" || { echo "no config test known for unit '$1'"; return 1; }
  local -a argv
  read -ra argv <<<"${JHE_CONFIG_TEST[$1]}"
  "${argv[@]}" 2>&1
}
