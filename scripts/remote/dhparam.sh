# dhparam: Diffie-Hellman parameters for the DHE suites, generated once per host. A later apply
# never regenerates them (that takes minutes and changes nothing for clients) unless the size changes.
# payload: path FILE / bits N
# undo: removes the file if this step generated it.

rec=$JHE_STATE/dhparam.created

if [[ $JHE_MODE == undo ]]; then
  [[ -f $rec ]] && rm -f "$(cat "$rec")" && rm -f "$rec"
  exit 0
fi

read_payload path! bits!
safe_path "${PAYLOAD[path]}" || die "bad path"
[[ ${PAYLOAD[bits]} =~ ^(2048|3072|4096)$ ]] || die "bits must be 2048, 3072 or 4096"
file=${PAYLOAD[path]}
if [[ -s $file ]] && openssl dhparam -in "$file" -noout -text 2>/dev/null | grep -qF -- "(${PAYLOAD[bits]} bit)"; then
  say "dhparam $file (${PAYLOAD[bits]} bit) exists; kept"
  exit 0
fi
command -v openssl >/dev/null || die "openssl is needed to generate dhparam"
install -d -m 0755 "$(dirname "$file")"
say "generating ${PAYLOAD[bits]}-bit dhparam (once per host)"
openssl dhparam -out "$file.new" "${PAYLOAD[bits]}" 2>/dev/null
chmod 0644 "$file.new" && mv "$file.new" "$file"
[[ -f $rec ]] || echo "$file" >"$rec"
