/**
 * How a config problem is worded. Every line names the key (`jupyterhub-edge:hubDomain`, or a path
 * into a list such as `jupyterhub-edge:extraSites[0].root`), the rule, and the value as given —
 * except for secrets, whose value is never shown. Unknown keys and fields get the closest known
 * name ("did you mean `hubDomain`?"), as `cargo` and `terraform validate` do.
 */
import { CONFIG_NAMESPACE, configKeys } from "./keys";
import { looksLikeKeyMaterial, redactSecrets } from "./secrets";

/** Raw-shape names that stand for a config key the user set (the schema sees derived values). */
const derivedFrom: Record<string, string> = {
  sshPrivateKeyGiven: "sshPrivateKey",
  acmeCaBundlePem: "acmeCaBundleFile",
  providedDomains: "providedCertificates",
  acmeCarryOverDomains: "acmeCarryOver",
};

/** Keys whose values never appear in a message: secrets, and contents read from files. */
function isHidden(head: string): boolean {
  const doc = (configKeys as Record<string, { secret?: boolean } | undefined>)[head];
  return doc?.secret === true || head in derivedFrom;
}

/** `jupyterhub-edge:key[0].field` for a path into the raw config. */
export function keyName(path: readonly PropertyKey[]): string {
  const [head, ...rest] = path;
  const key = derivedFrom[String(head)] ?? String(head ?? "(config)");
  const suffix = rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return `${CONFIG_NAMESPACE}:${key}${suffix}`;
}

const MAX_SHOWN = 60;

/**
 * Paths whose values are never shown, even when they are not secret keys: a split-auth user entry
 * may hold a password written in the wrong place or shape (`"tutor:hunter2"`, `["tutor", "pw"]`).
 */
function neverShown(path: readonly PropertyKey[]): boolean {
  return path[0] === "splitAuth" && path[1] === "users";
}

/**
 * A value as the user wrote it: strings quoted (JSON), long ones cut, secrets never — neither the
 * values of secret keys nor anything that looks like key material or a credential in any key
 * (redacted before cutting, so no prefix of a secret is left either).
 */
export function showValue(path: readonly PropertyKey[], value: unknown): string | undefined {
  if (value === undefined || neverShown(path)) return undefined;
  if (isHidden(String(path[0]))) return "a secret value, not shown";
  if (typeof value === "string" && looksLikeKeyMaterial(value) && redactSecrets(value).replace(/\[[^\]]*not shown\]/g, "").trim().length < 4) {
    return undefined; // key material as a whole: the rule says what is wrong, nothing of it is shown
  }
  const text = redactSecrets(typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value));
  if (text.length <= MAX_SHOWN) return text;
  return `${text.slice(0, MAX_SHOWN - 1)}…${typeof value === "string" ? '"' : ""}`;
}

/**
 * The line with every character that could break or forge a line escaped as `\uXXXX`: control
 * characters (JSON.stringify leaves none but U+2028/U+2029 raw, and rules may quote raw values),
 * line and paragraph separators, and bidirectional overrides that reorder what a terminal shows.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The value at a path of the raw config (undefined when absent). */
export function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p as string];
  }
  return v;
}

/**
 * One problem line: `<key>: <rule> (got <value>)`. The value is left out when the rule already
 * quotes it, when there is none (a required key), or for derived values (file contents).
 */
export function problemLine(path: readonly PropertyKey[], rule: string, value: unknown): string {
  const shown = showValue(path, value);
  const quotes = shown !== undefined && (rule.includes(shown) || (typeof value === "string" && value !== "" && rule.includes(value)));
  return oneLine(redactSecrets(`${keyName(path)}: ${rule}${shown === undefined || quotes ? "" : ` (got ${shown})`}`));
}

/** Damerau–Levenshtein distance (adjacent swaps count 1), case-insensitive. */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name closest to `word`, if it is close enough to be a typo: within a third of the
 * word's length (at least 1, at most 3 edits), or a known name that `word` is a prefix/extension
 * of (`certificate` → `certificateMode`).
 */
export function closestName(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(word, k);
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  if (best !== undefined && bestDistance <= limit) return best;
  const lower = word.toLowerCase();
  const extended = known.filter((k) => lower.length >= 4 && (k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())));
  return extended.length === 1 ? extended[0] : undefined;
}

/** `; did you mean \`x\`?`, or "" when nothing is close. */
export function didYouMean(word: string, known: readonly string[]): string {
  const hint = closestName(word, known);
  return hint ? `; did you mean \`${hint}\`?` : "";
}

/** The problem line for a top-level key the program does not know. Its value is never shown. */
export function unknownKeyLine(key: string): string {
  const hint = didYouMean(key, Object.keys(configKeys));
  return `${CONFIG_NAMESPACE}:${key}: unknown config key${hint || " (the keys are listed in Pulumi.yaml and README.md)"}`;
}

/** The problem line for unknown fields inside an object (a list entry such as extraSites[0]). */
export function unknownFieldsLine(path: readonly PropertyKey[], fields: readonly string[], known: readonly string[]): string {
  const hints = fields.map((f) => [f, closestName(f, known)] as const).filter(([, h]) => h);
  const hint =
    fields.length === 1 && hints.length === 1
      ? `; did you mean \`${hints[0][1]}\`?`
      : hints.length
        ? `; did you mean ${hints.map(([f, h]) => `\`${h}\` for ${f}`).join(", ")}?`
        : `; known fields: ${known.join(", ")}`;
  return `${keyName(path)}: unknown field(s) ${fields.join(", ")}${hint}`;
}

/**
 * Keys of the stack config in a namespace that is a typo of this project's
 * (`jupyterhub-egde:hubDomain`): Pulumi keeps them, the program would never read them.
 * Other namespaces (`aws:region`) are someone else's and left alone.
 */
export function misplacedKeyLines(fullKeys: readonly string[]): string[] {
  return fullKeys.flatMap((full) => {
    const [ns, ...rest] = full.split(":");
    const key = rest.join(":");
    if (ns === CONFIG_NAMESPACE || !key || editDistance(ns, CONFIG_NAMESPACE) > 3) return [];
    const known = closestName(key, Object.keys(configKeys)) ?? key;
    return [`${full}: the namespace "${ns}" is not this project's, so the value is never read; did you mean \`${CONFIG_NAMESPACE}:${known}\`?`];
  });
}
