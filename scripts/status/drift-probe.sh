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
# Secret files are asked with `file` only: their content never leaves the server.
set -uo pipefail
export LC_ALL=C

safe_path() { [[ $1 =~ ^/([A-Za-z0-9._@+-]+/?)*$ && ! $1 =~ (^|/)\.\.(/|$) ]]; }
safe_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._@+:-]*$ ]]; }

# A file's text for the diff, only when it is a plain small file (a hand edit never makes a
# preview carry megabytes).
MAX_CONTENT=262144

main() {
  local kind a b sum stat
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
      '') ;;
      *) echo "unknown $kind" ;;
    esac
  done
}
# One line: bash has read it whole before main reads the rest of stdin.
main; exit 0
