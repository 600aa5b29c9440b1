/**
 * Looks for secrets in text the program or the proxies produce (step output, error messages,
 * `pulumi stack export`, preview/up output, the proxies' logs). A secret counts as leaked if any
 * of its recognisable forms appears: the value itself, the value JSON-escaped (as in state files),
 * its base64, and — for PEM keys — any single base64 line of its body (a partial dump is a leak).
 */
import { createPrivateKey, createPublicKey } from "crypto";

export interface Secret {
  /** What it is, for the report ("TLS key hub.jhe.test", "SSH private key", …). */
  name: string;
  value: string;
}

export interface Leak {
  secret: string;
  where: string;
  /** Which form was found ("plaintext", "json", "base64", "pem line 3"). */
  form: string;
}

/** Pieces shorter than this are not searched for (they would match by chance). */
const minFragment = 16;

/**
 * The public key blob of an unencrypted OpenSSH private key ("openssh-key-v1": cipher, kdf, kdf
 * options, key count, then the public key as an SSH string). Node cannot parse this format.
 */
function opensshPublicBlob(pem: string): Buffer | null {
  const body = pem.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("-----")).join("");
  const raw = Buffer.from(body, "base64");
  const magic = Buffer.from("openssh-key-v1\0");
  if (!raw.subarray(0, magic.length).equals(magic)) return null;
  let at = magic.length;
  const str = (): Buffer => { const n = raw.readUInt32BE(at); const b = raw.subarray(at + 4, at + 4 + n); at += 4 + n; return b; };
  try {
    str(); str(); str(); // cipher, kdf, kdf options
    at += 4; // number of keys
    return str();
  } catch {
    return null;
  }
}

function publicDer(pem: string): Buffer | null {
  try {
    return createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" });
  } catch {
    return null;
  }
}

export function leakForms(value: string): { form: string; text: string }[] {
  const forms: { form: string; text: string }[] = [];
  const add = (form: string, text: string) => { if (text.length >= minFragment || form === "plaintext") forms.push({ form, text }); };
  add("plaintext", value.trim());
  add("json", JSON.stringify(value.trim()).slice(1, -1));
  add("base64", Buffer.from(value.trim()).toString("base64").slice(0, 60));
  if (/-----BEGIN [A-Z ]+-----/.test(value)) {
    let body = value.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("-----"));
    // An OpenSSH key's first two lines are its format header and public half: the same for many keys.
    if (value.includes("OPENSSH PRIVATE KEY")) body = body.slice(2);
    // Lines holding only public material (an EC key's point, an RSA modulus) are not secrets:
    // they also appear in the certificate, the CSR and certbot's log. A 64-character line is 48
    // whole bytes, so a line is public when its bytes occur in the key's public half.
    // An OpenSSH key repeats its public blob inside the private section (an ECDSA key's point
    // fills whole lines there, the same bytes as publicKeyOpenssh in state): public too.
    const publicBytes = publicDer(value) ?? opensshPublicBlob(value);
    body.forEach((line, i) => {
      if (line.length < minFragment) return;
      if (publicBytes && publicBytes.includes(Buffer.from(line, "base64"))) return;
      add(`pem line ${i + 1}`, line);
    });
  }
  return forms;
}

/** Every (secret, place, form) found. Secrets shorter than 6 characters are refused: too weak to audit. */
export function findLeaks(places: { where: string; text: string }[], secrets: Secret[]): Leak[] {
  const leaks: Leak[] = [];
  for (const s of secrets) {
    if (s.value.trim().length < 6) throw new Error(`secret ${s.name} is too short to be audited`);
    const forms = leakForms(s.value);
    for (const p of places) {
      const hit = forms.find((f) => p.text.includes(f.text));
      if (hit) leaks.push({ secret: s.name, where: p.where, form: hit.form });
    }
  }
  return leaks;
}

export function formatLeaks(leaks: Leak[]): string {
  return leaks.map((l) => `${l.secret} found in ${l.where} (${l.form})`).join("\n");
}
