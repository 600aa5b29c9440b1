/**
 * SHA-256-crypt (`$5$rounds=N$salt$hash`, Ulrich Drepper's "Unix crypt using SHA-256", the scheme of
 * glibc/libxcrypt crypt(3)): what nginx's auth_basic (crypt(3) for any prefix it does not know) and
 * Apache's mod_authn_file (APR falls back to crypt(3) on Linux) both verify. Pure and deterministic:
 * the same password, salt and rounds always give the same hash, so a no-op `up` rewrites nothing.
 */
import { createHash } from "crypto";

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** crypt(3)'s bounds for `rounds=`. */
export const SHA_CRYPT_MIN_ROUNDS = 1000;
export const SHA_CRYPT_MAX_ROUNDS = 999_999_999;

const sha256 = (...parts: Buffer[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `n` bytes of `block` repeated. */
function repeatTo(block: Buffer, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += block.length) block.copy(out, i, 0, Math.min(block.length, n - i));
  return out;
}

/** A salt of crypt's alphabet, 1–16 characters. */
export const shaCryptSaltPattern = /^[./0-9A-Za-z]{1,16}$/;

export function sha256Crypt(password: string, salt: string, rounds: number): string {
  if (!shaCryptSaltPattern.test(salt)) throw new Error("sha256-crypt: the salt must be 1–16 characters of [./0-9A-Za-z]");
  if (!Number.isInteger(rounds) || rounds < SHA_CRYPT_MIN_ROUNDS || rounds > SHA_CRYPT_MAX_ROUNDS) throw new Error("sha256-crypt: rounds out of range");
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(salt, "ascii");
  const B = sha256(P, S, P);
  const a = createHash("sha256").update(P).update(S).update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  const DP = createHash("sha256");
  for (let i = 0; i < P.length; i++) DP.update(P);
  const Pseq = repeatTo(DP.digest(), P.length);
  const DS = createHash("sha256");
  for (let i = 0; i < 16 + A[0]; i++) DS.update(S);
  const Sseq = DS.digest().subarray(0, S.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const h = createHash("sha256");
    h.update(i & 1 ? Pseq : C);
    if (i % 3) h.update(Sseq);
    if (i % 7) h.update(Pseq);
    h.update(i & 1 ? C : Pseq);
    C = h.digest();
  }
  let out = "";
  const b64 = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++, w >>= 6) out += itoa64[w & 0x3f];
  };
  const order = [[0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29]];
  for (const [x, y, z] of order) b64(C[x], C[y], C[z], 4);
  b64(0, C[31], C[30], 3);
  return `$5$rounds=${rounds}$${salt}$${out}`;
}

/** A 16-character crypt salt from 12 random bytes (hex, as @pulumi/random's RandomId gives them). */
export function shaCryptSaltFromHex(hex: string): string {
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length < 12) throw new Error("sha256-crypt: need 12 salt bytes");
  let out = "";
  for (let i = 0; i < 12; i += 3) {
    let w = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (let k = 0; k < 4; k++, w >>= 6) out += itoa64[w & 0x3f];
  }
  return out;
}
