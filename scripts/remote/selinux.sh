# selinux: what an enforcing host needs for the proxy (httpd_t) to reach the hub and read what it
# serves — port labels, booleans, file contexts — all in ONE semanage transaction (each semanage call
# rebuilds the policy: 10–30 s), and exactly that reverted on undo.
# payload (lib.sh's wire format, from steps/selinux.ts; `#` lines say why and are ignored):
#   require auto|on              auto: nothing happens where selinuxenabled says SELinux is off
#   port tcp PORT TYPE           label PORT: `-a`, or `-m` where the policy (or a local rule) has it
#   boolean NAME on|off          persistently (what setsebool -P does)
#   fcontext PATH TYPE tree|file a file-context rule for PATH(/.*)? or PATH, then restorecon
# apply: compares each wanted setting with the host's current one (`semanage export` = the local
#   customisations; the policy's own port list and file contexts); changes only what differs and
#   records, per changed item, what was there before. An item already right (the policy's default
#   or an admin's own rule) is not recorded, so undo leaves it alone. Items recorded by an earlier
#   apply but no longer wanted are reverted in the same transaction.
# undo: reverts exactly the recorded items to their previous local state (deleting our local rule,
#   or putting the admin's back), in one transaction, then restorecon and the booleans' runtime value.

record=$JHE_STATE/selinux.record

selinux_on() { command -v selinuxenabled >/dev/null && selinuxenabled; }

# One transaction: the lines of "$@" as a `semanage import` file. Prints how long it took.
semanage_batch() {
  (($#)) || return 0
  local t0=${EPOCHREALTIME//[!0-9]/}
  printf '%s\n' "$@" | semanage import || die "semanage import failed:"$'\n'"$(printf '  %s\n' "$@")"
  say "semanage: $# change(s) in one transaction, $(((${EPOCHREALTIME//[!0-9]/} - t0) / 1000)) ms"
}

# The local customisations, as `semanage export` prints them (each kind starts with a `KIND -D` line,
# so that an import replaces everything: those lines are not rules).
local_rules() { semanage export 2>/dev/null; }
# Local type of tcp/PORT, or empty.
local_port_type() { awk -v p="$2" -v proto="$1" '$1 == "port" { t=""; pr=""; for (i = 2; i <= NF; i++) { if ($i == "-t") t=$(i+1); if ($i == "-p") pr=$(i+1) } if (pr == proto && $NF == p) print t }' <<<"$LOCAL"; }
# Types the loaded policy (plus local rules) lists PORT under, exactly (ranges do not count: -a works there).
policy_port_types() { semanage port -l | awk -v p="$2" -v proto="$1" '$2 == proto { for (i = 3; i <= NF; i++) { v=$i; sub(/,$/, "", v); if (v == p) print $1 } }'; }
# Local value (on/off) of a boolean, or empty.
local_boolean() { awk -v b="$1" '$1 == "boolean" && $2 == "-m" && $NF == b { print ($3 == "-1" ? "on" : "off") }' <<<"$LOCAL"; }
runtime_boolean() { getsebool "$1" | awk '{print $NF}'; }
# Local type of an fcontext spec, or empty. Export quotes the spec: fcontext -a -f a -t T -r 's0' '/x(/.*)?'
local_fcontext_type() { awk -v s="'$1'" '$1 == "fcontext" { t=""; for (i = 2; i <= NF; i++) if ($i == "-t") t=$(i+1); if ($NF == s) print t }' <<<"$LOCAL"; }
default_type() { matchpathcon -n "$1" 2>/dev/null | awk -F: '{print $3}'; }
spec_of() { if [[ $2 == tree ]]; then printf '%s(/.*)?' "$1"; else printf '%s' "$1"; fi; }

# The import lines that put one recorded item back to what it was.
revert_lines() {
  local kind=$1
  case $kind in
    port) # port PROTO PORT TYPE PREV
      if [[ $5 == - ]]; then echo "port -d -p $2 $3"; else echo "port -m -t $5 -p $2 $3"; fi ;;
    fcontext) # fcontext PATH TYPE SHAPE PREV
      if [[ $5 == - ]]; then echo "fcontext -d '$(spec_of "$2" "$4")'"; else echo "fcontext -m -t $5 '$(spec_of "$2" "$4")'"; fi ;;
  esac
}

# semanage has no single-boolean delete: `boolean -D` drops every local boolean, then every other
# local one (the admin's) is put back as it is, and ours as it was before us. Same transaction.
boolean_revert_lines() {
  local -n ours=$1
  ((${#ours[@]})) || return 0
  echo "boolean -D"
  local name value
  while read -r name value; do
    [[ -n ${ours[$name]+x} ]] && continue
    echo "boolean -m -$([[ $value == on ]] && echo 1 || echo 0) $name"
  done < <(awk '$1 == "boolean" && $2 == "-m" { print $NF, ($3 == "-1" ? "on" : "off") }' <<<"$LOCAL")
  for name in "${!ours[@]}"; do
    [[ ${ours[$name]} == - ]] && continue
    echo "boolean -m -$([[ ${ours[$name]} == on ]] && echo 1 || echo 0) $name"
  done
}

if [[ $JHE_MODE == undo ]]; then
  [[ -s $record ]] || { rm -f "$record"; exit 0; }
  selinux_on || { say "SELinux is no longer enabled; dropping the record of what was changed"; rm -f "$record"; exit 0; }
  LOCAL=$(local_rules)
  lines=() relabel=() runtime=()
  declare -A bool_prev=()
  while read -r kind a b c d e; do
    case $kind in
      port) mapfile -t -O "${#lines[@]}" lines < <(revert_lines port "$a" "$b" "$c" "$d") ;;
      fcontext) mapfile -t -O "${#lines[@]}" lines < <(revert_lines fcontext "$a" "$b" "$c" "$d"); relabel+=("$a") ;;
      boolean) bool_prev[$a]=$c; runtime+=("$a=$d") ;; # boolean NAME WANT PREV_LOCAL PREV_RUNTIME
    esac
  done <"$record"
  mapfile -t -O "${#lines[@]}" lines < <(boolean_revert_lines bool_prev)
  semanage_batch "${lines[@]}"
  for path in "${relabel[@]}"; do [[ -e $path ]] && restorecon -R "$path"; done
  for pair in "${runtime[@]}"; do setsebool "${pair%%=*}" "${pair#*=}"; done
  say "reverted: $(cut -d' ' -f1-3 "$record" | paste -sd, | sed 's/,/, /g')"
  rm -f "$record"
  exit 0
fi

read_payload require port boolean fcontext
require=${PAYLOAD[require]:-auto} wanted=()
[[ $require =~ ^(auto|on)$ ]] || die "require must be auto or on"
while read -r kind a b c extra; do
  [[ -z ${extra:-} ]] || die "malformed payload line"
  case $kind in
    require) ;;
    port) [[ $a == tcp && $b =~ ^[0-9]{1,5}$ && $c =~ ^[a-z0-9_]+_t$ ]] || die "malformed port line"; wanted+=("port $a $b $c") ;;
    boolean) [[ $a =~ ^[a-z0-9_]+$ && $b =~ ^(on|off)$ ]] || die "malformed boolean line"; wanted+=("boolean $a $b") ;;
    fcontext) safe_path "$a" && [[ $b =~ ^[a-z0-9_]+_t$ && $c =~ ^(tree|file)$ ]] || die "malformed fcontext line"; wanted+=("fcontext $a $b $c") ;;
  esac
done < <(payload_records)

if ! selinux_on; then
  [[ $require == on ]] && die "jupyterhub-edge:selinux is on, but SELinux is not enabled on this host (selinuxenabled); set it to auto or off"
  say "SELinux is not enabled on this host (selinuxenabled): nothing to do"
  exit 0
fi
command -v semanage >/dev/null || die "SELinux is enabled but semanage is missing: install policycoreutils-python-utils"
say "SELinux is $(getenforce)"
touch "$record"
LOCAL=$(local_rules)

lines=() relabel=() new_records=() runtime_set=()
# An item's identity: port PROTO PORT, boolean NAME, fcontext PATH (records and payload alike).
key_of() { if [[ $1 == port ]]; then echo "$1 $2 $3"; else echo "$1 $2"; fi; }
# Recorded items no longer wanted (a changed port, a removed site): back to what they were. An
# item still wanted with another value keeps its record (what was there before us).
wanted_keys=$(for w in "${wanted[@]}"; do key_of $w; done)
stale=()
while read -r item; do
  [[ -z $item ]] && continue
  grep -qxF "$(key_of $item)" <<<"$wanted_keys" || stale+=("$item")
done <"$record"
declare -A stale_bools=()
for item in "${stale[@]}"; do
  read -r kind a b c d e <<<"$item"
  case $kind in
    port|fcontext) mapfile -t -O "${#lines[@]}" lines < <(revert_lines "$kind" "$a" "$b" "$c" "$d"); [[ $kind == fcontext ]] && relabel+=("$a") ;;
    boolean) stale_bools[$a]=$c; runtime_set+=("$a=$d") ;;
  esac
  grep -vxF "$item" "$record" >"$record.tmp" || true
  mv "$record.tmp" "$record"
done
if ((${#stale_bools[@]})); then mapfile -t -O "${#lines[@]}" lines < <(boolean_revert_lines stale_bools); fi
((${#stale[@]})) && say "reverting what is no longer wanted: ${stale[*]}"

recorded() { awk -v k="$1" 'index($0, k " ") == 1 { found=1 } END { exit !found }' "$record"; }
for w in "${wanted[@]}"; do
  read -r kind a b c <<<"$w"
  case $kind in
    port)
      proto=$a port=$b want=$c
      have=$(local_port_type "$proto" "$port")
      # Already so by a local rule of the admin's: recorded as found, so that a later apply (the
      # drift repair, after a hand edit) never takes the hand-edited state for "as found".
      if [[ $have == "$want" ]]; then recorded "port $proto $port" || new_records+=("port $proto $port $want $have"); continue; fi
      types=$(policy_port_types "$proto" "$port")
      if [[ -n $have ]]; then
        lines+=("port -m -t $want -p $proto $port")
      elif grep -qx "$want" <<<"$types"; then
        continue
      elif [[ -n $types ]]; then
        lines+=("port -m -t $want -p $proto $port")
      else
        lines+=("port -a -t $want -p $proto $port")
      fi
      recorded "port $proto $port" || new_records+=("port $proto $port $want ${have:--}")
      ;;
    boolean)
      name=$a want=$b
      have=$(local_boolean "$name") now=$(runtime_boolean "$name")
      if [[ $have == "$want" && $now == "$want" ]]; then recorded "boolean $name" || new_records+=("boolean $name $want ${have:--} $now"); continue; fi
      [[ $have == "$want" ]] || lines+=("boolean -m -$([[ $want == on ]] && echo 1 || echo 0) $name")
      recorded "boolean $name" || new_records+=("boolean $name $want ${have:--} $now")
      runtime_set+=("$name=$want")
      ;;
    fcontext)
      path=$a want=$b shape=$c spec=$(spec_of "$a" "$c")
      have=$(local_fcontext_type "$spec")
      if [[ $have == "$want" ]]; then recorded "fcontext $path" || new_records+=("fcontext $path $want $shape $have"); relabel+=("$path"); continue; fi
      if [[ -z $have && $(default_type "$path") == "$want" ]]; then relabel+=("$path"); continue; fi
      if [[ -n $have ]]; then lines+=("fcontext -m -t $want '$spec'"); else lines+=("fcontext -a -t $want '$spec'"); fi
      recorded "fcontext $path" || new_records+=("fcontext $path $want $shape ${have:--}")
      relabel+=("$path")
      ;;
  esac
done

# Recorded before the change: an interrupted apply still knows what to undo.
for r in "${new_records[@]}"; do echo "$r" >>"$record"; done
if ((${#lines[@]})); then
  say "changing: ${lines[*]}"
  semanage_batch "${lines[@]}"
else
  say "labels, booleans and file contexts already as wanted"
fi
# semanage commits the persistent value; the running policy gets it too (setsebool without -P).
for pair in "${runtime_set[@]}"; do
  [[ $(runtime_boolean "${pair%%=*}") == "${pair#*=}" ]] || setsebool "${pair%%=*}" "${pair#*=}"
done
for path in "${relabel[@]}"; do [[ -e $path ]] && restorecon -R "$path"; done
exit 0
