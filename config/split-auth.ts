/**
 * The `splitAuth` block: its schema, and the split of its secret passwords from the rest.
 *
 *   splitAuth:
 *     users: [workshop, {name: tutor, password: <secret>}]   # a name alone: the password is generated
 *     allowFrom: [192.0.2.0/24, "2001:db8:42::/48"]           # admitted without a password
 *     realm: Workshop                                         # what the browser's prompt names
 *
 * Passwords never enter validation or the site model: `readSplitAuth` takes them out (checking them
 * by length only, never echoing them) and replaces each by a `passwordGiven` flag.
 */
import { isIPv4, isIPv6 } from "net";
import { z } from "zod";
import { CONFIG_NAMESPACE } from "./keys";
import { looksLikeKeyMaterial } from "./secrets";
import { tooMany } from "./rules";

export const DEFAULT_REALM = "JupyterHub";
/** bcrypt reads only the first 72 bytes of a password; a longer one would be silently cut. */
const MAX_PASSWORD_BYTES = 72;
const MIN_PASSWORD_LENGTH = 8;
/** Shared logins of a workshop, and networks admitted without one: generous, not unbounded. */
export const MAX_USERS = 1000;
export const MAX_ALLOW_FROM = 256;

const userName = z
  .string("must be a user name")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1–64 letters, digits or . _ - (starting with a letter or digit)")
  // A token or key written where the name goes (its output would be named after it): never echoed.
  .refine(
    (v) => !looksLikeKeyMaterial(v),
    "looks like a password or key, not a user name; give a password as {name, password} (`pulumi config set --secret --path 'splitAuth.users[N].password'`)",
  );

/** IPv4 as a 32-bit number, IPv6 as a 128-bit one: host bits are checked on these. */
function addressBits(address: string): { bits: bigint; width: number } {
  if (isIPv4(address)) return { bits: address.split(".").reduce((a, o) => (a << 8n) | BigInt(o), 0n), width: 32 };
  const [h, t] = address.split("::");
  const head = h ? h.split(":") : [];
  const tail = t ? t.split(":") : [];
  const groups = address.includes("::") ? [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail] : head;
  return { bits: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), width: 128 };
}

function formatBits(bits: bigint, width: number): string {
  if (width === 32) return [24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 255n)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => ((bits >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups becomes "::" (RFC 5952).
  let best = [-1, 0];
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
  }
  if (best[0] < 0) return groups.join(":");
  return `${groups.slice(0, best[0]).join(":")}::${groups.slice(best[0] + best[1]).join(":")}`;
}

/**
 * An address or CIDR the proxies (and fail2ban) accept as is: plain characters only, no host bits,
 * no /0. `everyone`: what to do instead of admitting every address, for the /0 message.
 */
export const cidrOf = (everyone: string) => z.string("must be an address or CIDR").transform((value, ctx) => {
  const text = value.trim().toLowerCase();
  const [address, prefix, extra] = text.split("/");
  const hint = "must be an IPv4 or IPv6 address or CIDR such as 192.0.2.0/24 or 2001:db8::/48";
  if (extra !== undefined || !(isIPv4(address) || (isIPv6(address) && !address.includes(".") && !address.includes("%")))) {
    ctx.addIssue({ code: "custom", message: hint });
    return z.NEVER;
  }
  const { bits, width } = addressBits(address);
  if (prefix === undefined) return address;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > width) {
    ctx.addIssue({ code: "custom", message: `${hint} (prefix length 1–${width})` });
    return z.NEVER;
  }
  const length = Number(prefix);
  if (length === 0) {
    ctx.addIssue({ code: "custom", message: `${text} admits every address: ${everyone}` });
    return z.NEVER;
  }
  const hostMask = (1n << BigInt(width - length)) - 1n;
  if ((bits & hostMask) !== 0n) {
    ctx.addIssue({ code: "custom", message: `${text} has host bits set (did you mean ${formatBits(bits & ~hostMask, width)}/${length}?)` });
    return z.NEVER;
  }
  return `${address}/${length}`;
});
const cidr = cidrOf("remove splitAuth instead");

/** Which family an address or CIDR (as the schema leaves it) is of: its width in bits. */
export const cidrFamily = (c: string): 32 | 128 => (addressBits(c.split("/")[0]).width === 32 ? 32 : 128);

/**
 * The problem when the CIDRs of a list (as cidrOf leaves them) together admit every address of a
 * family, or undefined. `consequence` ends the sentence: what would then be open to everyone.
 */
export function everyoneProblem(list: readonly string[], consequence: string): string | undefined {
  for (const family of [32, 128] as const) {
    const entries = list.filter((c) => addressBits(c.split("/")[0]).width === family);
    if (entries.length > 1 && coversEverything(entries, family)) {
      return `together ${entries.join(", ")} admit every ${family === 32 ? "IPv4" : "IPv6"} address, ${consequence}`;
    }
  }
  return undefined;
}

/** The block as validated: what readSplitAuth leaves of the config (no passwords). */
export const splitAuthSchema = z
  .strictObject(
    {
      users: z
        .array(z.strictObject({ name: userName, passwordGiven: z.boolean() }, { error: "each user must be a name or {name, password}" }), "must be a list of user names")
        .min(1, "needs at least one user")
        .max(MAX_USERS, tooMany(MAX_USERS, "shared logins; JupyterHub's own accounts are per person")),
      allowFrom: z.array(cidr, "must be a list of CIDRs").max(MAX_ALLOW_FROM, tooMany(MAX_ALLOW_FROM, "summarise them in wider CIDRs")).default([]),
      realm: z
        .string("must be a string")
        .regex(/^[A-Za-z0-9 ._,:()@+/-]{1,64}$/, "must be 1–64 letters, digits, spaces or . _ , : ( ) @ + / -")
        .default(DEFAULT_REALM),
    },
    { error: "must be an object {users, allowFrom, realm}" },
  )
  .superRefine((block, ctx) => {
    const seen = new Set<string>();
    block.users.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: "custom", path: ["users", i, "name"], message: `${u.name} is listed twice` });
      seen.add(u.name);
    });
    const everyone = everyoneProblem(block.allowFrom, "so no one would be asked for a password; list only the networks to admit, or remove splitAuth");
    if (everyone) ctx.addIssue({ code: "custom", path: ["allowFrom"], message: everyone });
  });

/** Whether CIDRs of one family (as the schema leaves them: address or address/prefix) cover all of it. */
export function coversEverything(cidrs: readonly string[], width: 32 | 128): boolean {
  const ranges = cidrs
    .map((c) => {
      const [address, prefix] = c.split("/");
      const { bits } = addressBits(address);
      const size = 1n << BigInt(width - (prefix === undefined ? width : Number(prefix)));
      return [bits, bits + size - 1n] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let next = 0n; // the lowest address not yet covered
  for (const [start, end] of ranges) {
    if (start > next) return false;
    if (end + 1n > next) next = end + 1n;
  }
  return next === 1n << BigInt(width);
}

export interface SplitAuthRead {
  /** The block for validation, or undefined when split auth is off (no block, or `{}`). */
  raw?: Record<string, unknown>;
  /** Given passwords by user name (secret: never log or echo). */
  passwords: Record<string, string>;
}

/**
 * Parses the block's config text and takes the passwords out. Problems with a password are
 * described by position and rule only: the value is secret.
 */
export function readSplitAuth(text: string, problems: string[]): SplitAuthRead {
  const key = `${CONFIG_NAMESPACE}:splitAuth`;
  const passwords: Record<string, string> = {};
  if (text.trim() === "") return { passwords };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    problems.push(`${key}: is not valid JSON (set it with \`pulumi config set --path 'splitAuth.users[0]' NAME\`)`);
    return { passwords };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { raw: doc as Record<string, unknown>, passwords };
  const block = { ...(doc as Record<string, unknown>) };
  if (Object.keys(block).length === 0) return { passwords };
  if (Array.isArray(block.users)) {
    block.users = block.users.map((entry: unknown, i: number) => {
      if (typeof entry === "string") return { name: entry, passwordGiven: false };
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return entry;
      const { password, ...rest } = entry as Record<string, unknown>;
      if (password === undefined) return { ...rest, passwordGiven: false };
      const where = `${key}.users[${i}].password`;
      if (password === "") problems.push(`${where}: is empty; leave the password field out to have one generated (the splitAuthPassword-<name> stack output), or set one of at least ${MIN_PASSWORD_LENGTH} characters`);
      else if (typeof password !== "string") problems.push(`${where}: must be a string`);
      else if (password.length < MIN_PASSWORD_LENGTH) problems.push(`${where}: must be at least ${MIN_PASSWORD_LENGTH} characters`);
      else if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) problems.push(`${where}: must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`);
      else if (typeof rest.name === "string") passwords[rest.name] = password;
      return { ...rest, passwordGiven: true };
    });
  }
  return { raw: block, passwords };
}
