/**
 * The pinned SSH host key (`hostKey`, or the first line of `hostKeyFile`): `<type> <base64> [comment]`,
 * as `ssh-keyscan` and `/etc/ssh/ssh_host_*_key.pub` give it. The base64 is an SSH public-key blob
 * (RFC 4253 §6.6) that starts with its own type as a length-prefixed string; a pin whose label and
 * blob disagree (an ed25519 key labelled ssh-rsa) would never match the server's key.
 */
import { hasPemMarker } from "./secrets";

export const hostKeyTypes = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com"] as const;

const example = "such as `ssh-ed25519 AAAA…` (see ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)";
/** Upper bound of a pin line: a 16384-bit RSA key is about 2,800 characters of base64. */
export const MAX_HOST_KEY_LENGTH = 8192;

/** Reads the length-prefixed strings of an SSH blob; undefined where a length runs past the end. */
function blobStrings(blob: Buffer, count: number): Buffer[] | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > blob.length) return undefined;
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return undefined;
    out.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Why `line` is not a host-key pin, if it is not. Never quotes the base64. */
export function hostKeyProblem(line: string): string | undefined {
  if (hasPemMarker(line)) return "is a private key (PEM text), not the server's public host key; pin the public key line (ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-)";
  if (line.length > MAX_HOST_KEY_LENGTH) return `is ${line.length} characters long; a host key line has at most ${MAX_HOST_KEY_LENGTH}`;
  const parts = line.trim().split(/\s+/);
  const types: readonly string[] = hostKeyTypes;
  if (!types.includes(parts[0])) {
    if (parts.length >= 3 && types.includes(parts[1])) return `starts with a host name (a known_hosts line); give only \`${parts[1]} AAAA…\` (ssh-keyscan … | cut -d' ' -f2-)`;
    return `must be a public key line ${example}; the key type must be one of ${hostKeyTypes.join(", ")}`;
  }
  const [label, data] = parts;
  if (data === undefined) return `has no key after ${label}: must be a public key line ${example}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 === 1 || (data.includes("=") && data.length % 4 !== 0)) {
    return `the key after ${label} is not base64 (letters, digits, + and /, as ssh-keyscan prints it)`;
  }
  const blob = Buffer.from(data, "base64");
  const [type] = blobStrings(blob, 1) ?? [];
  if (!type || type.length === 0 || type.length > 64 || !/^[\x21-\x7e]+$/.test(type.toString("latin1"))) {
    return `the key after ${label} is not an SSH public key (its base64 should start with AAAA, as ssh-keyscan prints it)`;
  }
  const embedded = type.toString("latin1");
  if (embedded !== label) {
    const known = types.includes(embedded);
    return `is labelled ${label} but the key in it is ${known ? `an ${embedded} key` : `of type ${embedded}`}: ${known ? `write \`${embedded} …\`, or pin the ${label} key` : "pin the server's key as ssh-keyscan prints it"}`;
  }
  if (blob.length <= 4 + type.length + 4) return `the ${label} key is cut short (nothing after its type); copy the whole line`;
  if (label.startsWith("ecdsa-")) {
    const [, curve] = blobStrings(blob, 2) ?? [];
    const want = label.replace("ecdsa-sha2-", "");
    if (curve && curve.toString("latin1") !== want) return `is labelled ${label} but the key's curve is ${curve.toString("latin1").replace(/[^\x21-\x7e]/g, "?")}`;
  }
  return undefined;
}
