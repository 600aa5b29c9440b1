/**
 * Brute-force protection (model/brute-force.ts), rendered: nginx's login rate limit, and the
 * fail2ban jail + filter that read the proxy's own access log. Pure.
 */
import { SiteSpec } from "../model/site";
import { BruteForceSpec, LOOPBACK } from "../model/brute-force";
import { Node, blank, block, comment, d, quoted } from "./directives";
import { RenderedFile, filesPayload } from "./files";
import { managedBanner } from "./tls-policy";
import { literal } from "./split-auth";

/** The jail's (and filter's) name in fail2ban, and the file names under jail.d / filter.d. */
export const JAIL_NAME = "jupyterhub-edge";
const loginZone = "jhe_login";
const trustedVar = "$jhe_trusted_source";
const loginKeyVar = "$jhe_login_limit_key";

const loopback = LOOPBACK;

export function requireBruteForce(site: SiteSpec): BruteForceSpec {
  if (!site.bruteForce) throw new Error("brute-force protection is off for this site");
  return site.bruteForce;
}

/**
 * http{} context: which sources are trusted, the login key (the client's address for a login POST
 * from an untrusted source, else empty: nginx counts no request with an empty key), and the zone.
 * The path is nginx's normalised `$uri` (decoded, slashes merged), in any letter case; spellings
 * only the hub's own proxy normalises (a backslash) take split auth's password check, and every
 * failed login, whatever its spelling, is fail2ban's to count.
 */
export function nginxLoginLimitHttp(site: SiteSpec): Node[] {
  const bf = site.bruteForce;
  if (!bf) return [];
  const { ratePerSecond } = bf.loginLimit;
  return [
    ...comment(
      "Brute-force protection: the hub's login form, limited per client address (model/brute-force.ts);",
      "splitAuth.allowFrom and trustedSources are exempt.",
    ),
    block("geo", [trustedVar], [d("default", 0), ...[...loopback, ...bf.neverBanned].map((c) => d(c, 1))]),
    block("map", [quoted(`${trustedVar}:$request_method:$uri`), loginKeyVar], [
      d("default", quoted("")),
      d(quoted(`~*^0:POST:${literal(site.hub.path)}hub/+login/*$`), "$binary_remote_addr"),
    ]),
    d("limit_req_zone", loginKeyVar, `zone=${loginZone}:4m`, `rate=${ratePerSecond}r/s`),
    blank,
  ];
}

/**
 * In every location that proxies to the hub (the key is empty but for a login POST). 429, not
 * 503: the hub-down page takes 503, and fail2ban counts a refused login as a failure.
 */
export function nginxLoginLimit(site: SiteSpec): Node[] {
  const bf = site.bruteForce;
  if (!bf) return [];
  const { burst, immediate } = bf.loginLimit;
  return [d("limit_req", `zone=${loginZone}`, `burst=${burst}`, immediate >= burst ? "nodelay" : `delay=${immediate}`), d("limit_req_status", 429)];
}

/** The access log fail2ban reads: the one every server/vhost of ours writes (the distro's). */
export function jailLogPath(site: SiteSpec): string {
  return site.proxy === "nginx" ? site.platform.nginx.accessLog : site.platform.apache.accessLogPath;
}

/**
 * The filter: both proxies' access logs of ours have the combined log format's head
 * (`ADDR IDENT USER [TIME] "METHOD TARGET PROTO" STATUS`). Failures:
 * - a Basic password the proxy refused: 401 with a user name (a browser's first request carries
 *   none and gets a 401 too: a whole class would be banned for opening the page);
 * - a login POST JupyterHub refused (403: wrong password, or a missing _xsrf), or the rate limit
 *   refused (429): the raw path as logged is `…/hub/login` (with dot segments the hub's own proxy
 *   resolves); a 403 for any other POST is no failed login (the hub answers 403 to a POST it does
 *   not route, and the host tier's path sweeps send hundreds).
 * `<ADDR>`: an address, never a DNS lookup. `.*?` after the user: fail2ban cuts the time stamp out
 * of the line before matching, or not, depending on its version.
 */
export function renderFail2banFilter(site: SiteSpec): RenderedFile {
  requireBruteForce(site);
  const lines = [
    ...managedBanner.map((l) => `# ${l}`),
    "",
    "[Definition]",
    `failregex = ^<ADDR> \\S+ (?!-\\s)\\S+ .*?"[A-Z]+ [^"]*" 401\\s`,
    `            ^<ADDR> \\S+ \\S+ .*?"POST [^" ?]*/hub/+(?:\\./+)*login(?:[/?][^" ]*)? HTTP/[0-9.]+" (?:403|429)\\s`,
    "ignoreregex =",
    "datepattern = ^[^\\[]*\\[({DATE})",
    "              {^LN-BEG}",
  ];
  return { path: `${site.platform.fail2ban.filterDir}/${JAIL_NAME}.conf`, mode: "0644", content: lines.join("\n") + "\n" };
}

/**
 * The jail: our filter on the proxy's log, bans on the public ports through fail2ban's own
 * nftables table (both address families), never for loopback, allowFrom or trustedSources.
 * `polling`: the inotify backend needs python3-pyinotify, which is not installed; the log is read every second.
 */
export function renderFail2banJail(site: SiteSpec): RenderedFile {
  const bf = requireBruteForce(site);
  const f = site.platform.fail2ban;
  const lines = [
    ...managedBanner.map((l) => `# ${l}`),
    "",
    `[${JAIL_NAME}]`,
    "enabled = true",
    `filter = ${JAIL_NAME}`,
    `logpath = ${jailLogPath(site)}`,
    "backend = polling",
    `port = ${[...new Set([80, site.httpsPort])].join(",")}`,
    "protocol = tcp",
    `banaction = ${f.banaction}`,
    // A TCP reset, not the action's default ICMP port-unreachable: the kernel sends about one ICMP
    // error a second per source (icmp_ratelimit), so a banned client's other SYNs went unanswered and
    // it hung for its own timeout; a reset refuses every request at once, an open connection too.
    'action = %(banaction)s[port="%(port)s", protocol="%(protocol)s", chain="%(chain)s", blocktype="reject with tcp reset"]',
    `maxretry = ${bf.ban.retries}`,
    `findtime = ${bf.ban.findTimeSeconds}`,
    `bantime = ${bf.ban.banTimeSeconds}`,
    "ignoreself = true",
    `ignoreip = ${[...loopback, ...bf.neverBanned].join(" ")}`,
    // The stock sshd jail, made to start (model/platforms.ts sshdJournalMatch): only its log source
    // changes; a jail.local of the admin's is read after this file and wins.
    ...(f.sshdJournalMatch
      ? ["", "# fail2ban starts only if every enabled jail finds its log: sshd's is its journal here.", "[sshd]", "backend = systemd", `journalmatch = ${f.sshdJournalMatch}`]
      : []),
  ];
  return { path: `${f.jailDir}/${JAIL_NAME}.conf`, mode: "0644", content: lines.join("\n") + "\n" };
}

/** The fail2ban-jail step's payload: filter and jail, then test + reload fail2ban. */
export function fail2banJailPayload(site: SiteSpec): string {
  return `after ${site.platform.fail2ban.service}\n` + filesPayload([renderFail2banFilter(site), renderFail2banJail(site)]);
}
