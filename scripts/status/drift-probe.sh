# shellcheck shell=bash
# drift-probe: what is on the server now, for each item the program put there (steps/drift.ts),
# so that `pulumi preview --refresh` can show hand edits. Read-only: changes nothing, takes no lock
# (a running step is never waited on), bounds every probe. Run as `bash -s`: this text, then the
# request, on stdin (bash reads a script from a pipe no further than the command it runs, so
# `main` reads the rest). The request names what to look at, never what to expect:
#   file PATH               → file PATH SHA256 MODE OWNER GROUP   | file PATH missing
#   content PATH            → content PATH BASE64                  (a plain file's text, for the diff)
#   block PATH              → block PATH SHA256 BASE64             | block PATH missing
#                             (the hub config's managed block, its BEGIN and END lines included)
#   package apt|dnf NAME    → package NAME installed|missing
#   unit NAME               → unit NAME ACTIVE ENABLED             (systemctl is-active / is-enabled)
#   selinux_boolean NAME    → selinux_boolean NAME on|off          (the running value)
#   selinux_port PROTO PORT → selinux_port PROTO PORT TYPE[,TYPE…] (every type the policy gives it)
#   selinux_label PATH      → selinux_label PATH TYPE|missing
#   (the selinux_ lines only where SELinux is enabled; elsewhere one `selinux off`)
# Secret files are asked with `file` only: their content never leaves the server.
set -uo pipefail
export LC_ALL=C

safe_path() { [[ $1 =~ ^/([A-Za-z0-9._@+-]+/?)*$ && ! $1 =~ (^|/)\.\.(/|$) ]]; }
safe_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._@+:-]*$ ]]; }

# A file's text for the diff, only when it is a plain small file (a hand edit never makes a
# preview carry megabytes).
MAX_CONTENT=262144

selinux_on() { command -v selinuxenabled >/dev/null && selinuxenabled; }

main() {
  local kind a b sum stat selinux_said=""
  while read -r kind a b || [[ -n ${kind:-} ]]; do
    case $kind in
      file)
        safe_path "$a" || { echo "bad $kind"; continue; }
        if [[ -f $a && ! -L $a ]]; then
          sum=$(sha256sum <"$a") stat=$(stat -c '%a %U %G' -- "$a")
          echo "file $a ${sum%% *} $stat"
        else
          echo "file $a missing"
        fi ;;
      content)
        safe_path "$a" || { echo "bad $kind"; continue; }
        if [[ -f $a && ! -L $a && $(stat -c %s -- "$a") -le $MAX_CONTENT ]]; then echo "content $a $(base64 -w0 <"$a")"; fi ;;
      block)
        safe_path "$a" || { echo "bad $kind"; continue; }
        local text
        if [[ -f $a ]] && grep -q '^# BEGIN jupyterhub-edge managed block' "$a"; then
          text=$(awk '/^# BEGIN jupyterhub-edge managed block/ {on = 1} on {print} on && /^# END jupyterhub-edge managed block/ {exit}' "$a")
          sum=$(printf '%s\n' "$text" | sha256sum)
          echo "block $a ${sum%% *} $(printf '%s\n' "$text" | base64 -w0)"
        else
          echo "block $a missing"
        fi ;;
      package)
        safe_name "$b" || { echo "bad $kind"; continue; }
        case $a in
          apt) [[ $(dpkg-query -W -f='${db:Status-Status}' -- "$b" 2>/dev/null) == installed ]] ;;
          dnf) rpm -q -- "$b" >/dev/null 2>&1 ;;
          *) false ;;
        esac && echo "package $b installed" || echo "package $b missing" ;;
      unit)
        safe_name "$a" || { echo "bad $kind"; continue; }
        local active enabled
        active=$(timeout 5 systemctl is-active -- "$a" 2>/dev/null) enabled=$(timeout 5 systemctl is-enabled -- "$a" 2>/dev/null)
        echo "unit $a ${active:-unknown} ${enabled:-unknown}" ;;
      selinux_*)
        if ! selinux_on; then [[ -n $selinux_said ]] || echo "selinux off"; selinux_said=1; continue; fi
        case $kind in
          selinux_boolean)
            safe_name "$a" || { echo "bad $kind"; continue; }
            echo "selinux_boolean $a $(getsebool "$a" 2>/dev/null | awk '{print $NF}')" ;;  # getsebool takes no --
          selinux_port)
            [[ $a =~ ^(tcp|udp)$ && $b =~ ^[0-9]+$ ]] || { echo "bad $kind"; continue; }
            echo "selinux_port $a $b $(timeout 20 semanage port -l 2>/dev/null | awk -v p="$b" -v proto="$a" '$2 == proto { for (i = 3; i <= NF; i++) { v = $i; sub(/,$/, "", v); if (v == p) print $1 } }' | sort -u | paste -sd,)" ;;
          selinux_label)
            safe_path "$a" || { echo "bad $kind"; continue; }
            if [[ -e $a ]]; then echo "selinux_label $a $(stat -c %C -- "$a" | cut -d: -f3)"; else echo "selinux_label $a missing"; fi ;;
          *) echo "unknown $kind" ;;
        esac ;;
      '') ;;
      *) echo "unknown $kind" ;;
    esac
  done
}
# One line: bash has read it whole before main reads the rest of stdin.
main; exit 0
