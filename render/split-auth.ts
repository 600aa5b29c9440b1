/**
 * Split auth, what both proxies share: which paths are the hub's pages (protected) and which are its
 * REST API (left to JupyterHub's token auth), and the htpasswd file. Pure.
 *
 * Why the API needs two tests: the proxies pick a location by the *normalised* path (percent-decoded,
 * dot segments resolved, slashes merged) but pass the *raw* one upstream, where Tornado routes on it
 * as it is. `/hub/user-redirect/..%2Fapi/x` is `/hub/api/x` to nginx but a hub page to JupyterHub.
 * So a request skips the password only when its raw path is plainly under `<base>hub/api/`: no
 * encoded slash or dot, no `//` and no `/.`, which makes the raw and the normalised path the same.
 * Anything else falls through to the password check (fail closed).
 *
 * Why a backslash, in any spelling, takes the password check on every path: the hub's own proxy
 * (configurable-http-proxy, through http-proxy-3) re-parses the raw path as a WHATWG URL before it
 * forwards it, and a WHATWG parser reads `\` as `/`, then resolves the dot segments and drops tabs
 * and newlines. To nginx a backslash is an ordinary byte (and Apache re-encodes it as `%5C` before
 * proxying), so nginx put `/hub\login` and `/user\..\hub/login` in its open location, and the hub
 * saw `/hub/login`. JupyterHub and JupyterLab never put a backslash in a path; a file name holding
 * one is the only honest source, and it gets the password prompt (fail closed).
 */
import { SiteSpec, SplitAuthSpec, hubRoutes } from "../model/site";
import { RenderedFile, fileSetPayload } from "./files";
import { SHA_CRYPT_MIN_ROUNDS } from "./sha-crypt";

/** `<base>hub` then `/` or the end: the hub's pages, matched case-insensitively by the caller. */
export function hubPagesRegex(site: SiteSpec): string {
  return `^${hubRoutes(site).patterns.hub}(?:/|$)`;
}

/** The raw path (as sent, query included) of a plain `<base>hub/api/` request. */
export function rawHubApiRegex(site: SiteSpec): string {
  return `^${hubRoutes(site).patterns.api}${rawPathTail}(?:[?]|$)`;
}

/**
 * A backslash in a regex, as `\x5C`: the same to PCRE and to JavaScript, and still legible after the
 * config files' own quoting, which doubles every `\` (a literal `\\` would come out as `\\\\`).
 */
const backslash = "\\x5C";

/** `%` followed by what makes an encoded backslash: `%5C`, or encoded again (`%255C`, `%25255C`, …). */
const encodedBackslashRest = "(?:25)*5[Cc]";

/**
 * The rest of a path that cannot change meaning under normalisation: no %2E/%2F, no `//`, no `/.`
 * (the lookahead at the start stands for the slash that ends `hub/api/`), no backslash in any
 * spelling (a separator to the hub's proxy). `stops`: bytes that end the path besides `?`.
 */
const pathTail = (stops: string) =>
  `(?![/.])(?:[^?${stops}%/${backslash}]|%(?!2[EeFf]|${encodedBackslashRest})|/(?![/.]))*`;
export const rawPathTail = pathTail("");
/** The same inside a request line (Apache's THE_REQUEST, `GET <path> HTTP/1.1`): a space ends the path too. */
export const rawPathTailInRequestLine = pathTail(" ");

/**
 * A raw request target (nginx's `$request_uri`) whose path, the query aside, holds a backslash in
 * any spelling, or a tab or newline: a URL parser behind the proxy may read it as another path than
 * the proxy did (see above), so it must take the password check wherever it lands. (nginx refuses a
 * raw tab or newline in the request line today; the rule does not rely on that.)
 */
export const rawAmbiguousPathRegex = `^[^?]*(?:${backslash}|%${encodedBackslashRest}|[\\x09\\x0A\\x0D])`;

export function hubApiPrefix(site: SiteSpec): string {
  return hubRoutes(site).api;
}

export interface HtpasswdEntry {
  user: string;
  /**
   * A password the stack was given (chosen by a person): bcrypt, `$2a$`/`$2b$`/`$2y$`, written as
   * `$2y$` (what `htpasswd -B` writes). A generated one (high entropy, @pulumi/random): `{SHA}`
   * (what the program writes, generatedHash), SHA-256-crypt `$5$rounds=N$…` with N ≥ 1000, or bcrypt.
   */
  hash: string;
}

const bcryptPattern = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
/** SHA-256-crypt with explicit rounds, a 1–16 character salt and the 43-character digest. */
const shaCryptPattern = /^\$5\$rounds=([1-9]\d{3,8})\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}$/;
/** `{SHA}` + base64 of the 20-byte SHA-1 digest (what `htpasswd -s` writes). */
const shaPattern = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;

/**
 * `$2y$` for every bcrypt hash: APR (Apache) verifies `$2y$` and `$2a$` itself and libxcrypt (nginx's
 * crypt(3)) all three; the variants differ only in a bug of old OpenBSD code with > 255-byte input.
 */
export function normaliseBcrypt(hash: string): string {
  if (!bcryptPattern.test(hash)) throw new Error("split auth: refusing a password hash that is not bcrypt");
  return `$2y$${hash.slice(4)}`;
}

/**
 * The hash written for a user. The proxy checks it on every request to the hub's pages, inside a
 * worker that also carries other users' websockets, so its cost is paid per request, not per login.
 *
 * - A password a person chose (given in config) may be guessable: bcrypt only, never anything
 *   weaker, so a leaked file costs an attacker as much per guess as it always did.
 * - A generated password is 24 random letters and digits (~143 bits, @pulumi/random): `{SHA}`, one
 *   SHA-1 of it (~1 µs; the one scheme both proxies verify themselves: nginx's ngx_crypt and
 *   Apache's APR; salted `{SSHA}` is nginx-only). A leaked file gives it away no more than bcrypt
 *   would: a hash's cost and salt only slow down guessing, and 2^143 guesses are out of reach at any
 *   speed; no table covers that space, and SHA-1's known weakness (collisions) does not find a
 *   preimage. SHA-256-crypt (≥ 1000 rounds, the scheme before) and bcrypt are still accepted.
 */
export function htpasswdHash(hash: string, generated: boolean): string {
  if (bcryptPattern.test(hash)) return normaliseBcrypt(hash);
  if (generated && shaPattern.test(hash)) return hash;
  const sha = shaCryptPattern.exec(hash);
  if (generated && sha && Number(sha[1]) >= SHA_CRYPT_MIN_ROUNDS) return hash;
  throw new Error(
    generated
      ? "split auth: refusing a password hash for a generated password that is neither {SHA}, SHA-256-crypt with at least 1000 rounds nor bcrypt"
      : "split auth: refusing a password hash that is not bcrypt (a password given in config is chosen by a person)",
  );
}

/**
 * The htpasswd file, root:<proxy group> 0640: bcrypt for given passwords, `{SHA}` (or SHA-256-crypt,
 * or bcrypt) for generated ones (htpasswdHash).
 */
export function renderHtpasswd(site: SiteSpec, entries: HtpasswdEntry[]): RenderedFile {
  const auth = requireSplitAuth(site);
  const byName = new Map(entries.map((e) => [e.user, e]));
  const lines = auth.users.map(({ name, passwordGiven }) => {
    const e = byName.get(name);
    if (!e) throw new Error(`split auth: no password hash for ${name}`);
    return `${name}:${htpasswdHash(e.hash, !passwordGiven)}`;
  });
  const facts = site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
  return { path: auth.userFile, mode: "0640", group: facts.group, content: lines.join("\n") + "\n" };
}

/** The files-step payload of the htpasswd file (secret: it holds hashes): reload after a change. */
export function htpasswdPayload(site: SiteSpec, entries: HtpasswdEntry[]): string {
  const service = site.proxy === "nginx" ? site.platform.nginx.service : site.platform.apache.service;
  return fileSetPayload(service, [renderHtpasswd(site, entries)]);
}

export function requireSplitAuth(site: SiteSpec): SplitAuthSpec {
  if (!site.splitAuth) throw new Error("split auth is off for this site");
  return site.splitAuth;
}
