/**
 * Key material and credentials in the wrong place. A secret must never reach a message, even when
 * the user put it where no secret belongs (a PEM key pasted into a file-path key, a password written
 * into a user name, a token in a URL). messages.ts and ConfigError pass every line through
 * `redactSecrets`, whatever the key; file-path keys use `fileContentProblem` to say that a value is
 * the file's contents without showing it.
 */
import { KeyHoldingSecrets, keysHoldingSecrets } from "./keys";

export const NOT_SHOWN = "[not shown]";

/** PEM armour (`-----BEGIN … PRIVATE KEY-----`) or OpenSSH's private-key marker. */
// Any letter case: a value is lowercased before some rules quote it (a domain), armour and all.
const pemMarker = /-----\s*(?:BEGIN|END)\b|PRIVATE KEY-----|\bOPENSSH PRIVATE KEY\b/i;

/**
 * A run of base64 / base64url characters long and mixed enough to be key material or a token: 20+
 * characters holding upper case, lower case and digits (words, host names and unit names never
 * do), or 32+ hex digits with letters and digits. An absolute path whose segments are all short is
 * a path, not a token.
 */
function secretLikeToken(token: string): boolean {
  const core = token.replace(/=+$/, "");
  if (/^[0-9a-f]{32,}$/i.test(core) && /\d/.test(core) && /[a-f]/i.test(core)) return true;
  if (core.length < 20) return false;
  if (core.startsWith("/") && core.split("/").every((s) => s.length < 20)) return false;
  return /[A-Z]/.test(core) && /[a-z]/.test(core) && /\d/.test(core);
}

/** Whether the text holds PEM armour or an OpenSSH private-key marker. */
export function hasPemMarker(text: string): boolean {
  return pemMarker.test(text);
}

/** Whether a value as a whole is (or holds) key material or a credential. */
export function looksLikeKeyMaterial(text: string): boolean {
  return pemMarker.test(text) || redactSecrets(text) !== text;
}

/**
 * The text with everything that looks like key material or a credential replaced by
 * "[not shown]": PEM blocks (and stray armour lines), `user:password@` in URLs, `password=…`-style
 * parameters, and long mixed base64/hex runs.
 */
export function redactSecrets(text: string): string {
  return (
    text
      // A PEM block, or armour without its end: everything from the marker to the end (or END line).
      .replace(/-----\s*BEGIN[\s\S]*?(?:-----\s*END[^-]*-----|$)/gi, "[PEM text not shown]")
      .replace(/-----\s*END[^-]*-----/gi, "[PEM text not shown]")
      // Credentials in a URL (scheme://user:password@host).
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"'\\]+@/gi, "$1[credentials not shown]@")
      // password=…, token=…, secret=… (query strings, connection strings).
      .replace(/\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)=[^\s"'&;,]+/gi, `$1=${NOT_SHOWN}`)
      .replace(/[A-Za-z0-9+/=_-]{20,}/g, (t) => (secretLikeToken(t) ? NOT_SHOWN : t))
  );
}

/**
 * Why the value of a key that names a file (sshPrivateKeyFile, hostKeyFile, acmeCaBundleFile) is
 * the file's contents rather than its path, if it is; `what` names the contents ("the key's").
 * The value itself is never part of the reason.
 */
export function fileContentProblem(value: string, what: string): string | undefined {
  const content =
    /[\r\n]/.test(value) ||
    pemMarker.test(value) ||
    /^\s*(ssh-(ed25519|rsa|dss)|ecdsa-sha2-|sk-(ssh|ecdsa)-)\S*\s+AAAA/.test(value) ||
    /^\s*AAAA[A-Za-z0-9+/]{16,}/.test(value) ||
    (!value.includes("/") && looksLikeKeyMaterial(value));
  return content ? `looks like ${what} contents, not a path to a file; give a path` : undefined;
}

/**
 * The values of the config's keys holding secrets (config/keys.ts keysHoldingSecrets: the SSH key,
 * the TSIG and EAB keys, split-auth passwords, provided private keys, carry-over bundles): given in a wrong place as well, they are still secrets, and a rule may have
 * changed them before quoting them (a domain is lowercased), so `withoutSecretValues` removes them
 * from a message in any letter case. Found by the config property test (a bundle pasted into a domain).
 */
export function secretValues(strings: Record<string, string>): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v !== "string") return;
    out.push(v, ...v.split(/\r?\n/).map((l) => l.trim()));
  };
  for (const key of keysHoldingSecrets) {
    if (strings[key] !== undefined) secretsIn[key](strings[key]).forEach(add);
  }
  return [...new Set(out)].filter((v) => v.length >= 8 && !/^-----/.test(v));
}

const json = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const entries = (doc: unknown): unknown[] => (doc && typeof doc === "object" ? Object.values(doc) : []);

/** Every `password` in a block, wherever it ended up (a users list moved into allowFrom). */
function passwordsIn(v: unknown): unknown[] {
  if (Array.isArray(v)) return v.flatMap(passwordsIn);
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => (k === "password" ? [x] : passwordsIn(x)));
  return [];
}

/** The secret values of each key holding secrets (a new one does not compile without its entry). */
const secretsIn: Record<KeyHoldingSecrets, (text: string) => unknown[]> = {
  sshPrivateKey: (text) => [text],
  acmeDnsTsigSecret: (text) => [text],
  acmeEabHmacKey: (text) => [text],
  // The whole value, and each bundle.
  acmeCarryOver: (text) => [text, ...entries(json(text))],
  // The private keys only: the certificates are public.
  providedCertificates: (text) => entries(json(text)).map((e) => (e as { privateKey?: unknown } | null)?.privateKey),
  // The passwords only: user names are not secret.
  splitAuth: (text) => passwordsIn(json(text)),
};

export function withoutSecretValues(line: string, secrets: string[]): string {
  let out = line;
  for (const v of secrets.sort((a, b) => b.length - a.length)) {
    for (const form of [v, JSON.stringify(v).slice(1, -1)]) {
      out = out.replace(new RegExp(form.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi"), NOT_SHOWN);
    }
  }
  return out;
}
