/**
 * Brute-force protection (model/brute-force.ts), rendered: the login rate limit (nginx limit_req;
 * Apache mod_qos where the platform has it), and the fail2ban jail + filter that read the proxy's
 * own access log. Pure.
 */
import { SiteSpec, hubRoutes } from "../model/site";
import { BruteForceSpec, LOOPBACK } from "../model/brute-force";
import { Node, blank, block, comment, d, quoted } from "./directives";
import { RenderedFile, fileSetPayload } from "./files";
import { managedBanner } from "./tls-policy";
import { hubPagesRegex } from "./split-auth";

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
      d(quoted(`~*^0:POST:${hubRoutes(site).patterns.hub}/+login/*$`), "$binary_remote_addr"),
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

/** mod_qos's event variables (env vars, never sent upstream) and the QS_Cond values that block. */
const qosLogin = "JHE_Login";
const qosBasicFail = "JHE_BasicFail";
const qosBasic = "JHE_Basic";
const qosBasic401 = "JHE_Basic401";

/** The Apache login limit, when it applies: brute-force protection on and a module on this platform. */
export function apacheLoginLimitOn(site: SiteSpec): boolean {
  return site.proxy === "apache" && site.bruteForce !== undefined && site.platform.apache.loginRateLimit.kind === "mod_qos";
}

/**
 * Server-wide (mod_qos allows its event rules only there): per client address, in fixed windows of
 * `windowSeconds`, at most `burst` login POSTs and `burst` refused Basic credentials; beyond that
 * the login POSTs (resp. requests carrying Basic credentials) of that address get 429 until the
 * window ends, its other requests are served. mod_qos counts a login POST when it arrives (so its
 * limit is one more than the burst: the request that reaches it is the first refused) and a Basic
 * failure once refused (401 with credentials, counted at the end: a browser's first request has
 * none). Only requests our hub vhost marks are counted (render: apacheLoginLimitVhost).
 * QS_ErrorResponseCode is server-wide too (mod_qos's default is 500).
 */
export function apacheLoginLimitGlobal(site: SiteSpec): Node[] {
  if (!apacheLoginLimitOn(site)) {
    const rl = site.platform.apache.loginRateLimit;
    return site.bruteForce && rl.kind === "none" ? [...comment(`No login rate limit: ${rl.reason}.`), blank] : [];
  }
  const { burst, windowSeconds } = site.bruteForce!.loginLimit;
  return [
    ...comment(
      "Brute-force protection: the hub's login form and refused Basic credentials, limited per client address",
      `(mod_qos; model/brute-force.ts): ${burst} each within ${windowSeconds} s, then 429 until the window ends`,
      "(a login POST is counted on arrival, so its rule says one more: the one that reaches it is refused).",
    ),
    d("QS_CondClientEventLimitCount", burst + 1, windowSeconds, qosLogin, "^login"),
    d("QS_CondClientEventLimitCount", burst, windowSeconds, qosBasicFail, "basic$"),
    d("QS_ErrorResponseCode", 429),
    blank,
  ];
}

/** `!(-R 'a' || -R 'b')`: the source is none of loopback, splitAuth.allowFrom and trustedSources. */
function notExempt(bf: BruteForceSpec): string {
  return `!(${[...loopback, ...bf.neverBanned].map((c) => `-R '${c}'`).join(" || ")})`;
}

/**
 * In the hub's vhost: mark what the global rules count. A login POST (the normalised path, any
 * letter case, as nginx's `$uri`) from an untrusted source is a login event; with split auth, a
 * request carrying Basic credentials is blocked by the Basic rule once its address has too many
 * failures, and a 401 to such a request is a failure. The limit's short answer replaces Apache's
 * stock 429 page (the hub's own answers pass through unchanged: no ProxyErrorOverride).
 */
export function apacheLoginLimitVhost(site: SiteSpec): Node[] {
  if (!apacheLoginLimitOn(site)) return [];
  const bf = site.bruteForce!;
  const untrusted = notExempt(bf);
  return [
    ...comment("Brute-force protection: what the server-wide mod_qos rules count (splitAuth.allowFrom and trustedSources exempt)."),
    d("ErrorDocument", 429, quoted("Too many login attempts from your address: wait a minute, then try again.")),
    block("LocationMatch", [quoted(`(?i)^${hubRoutes(site).patterns.hub}/+login/*$`)], [
      d("SetEnvIfExpr", quoted(`%{REQUEST_METHOD} == 'POST' && ${untrusted}`), `${qosLogin}=1`, "QS_Cond=login"),
    ]),
    ...(site.splitAuth
      ? [
          block("LocationMatch", [quoted(`(?i)${hubPagesRegex(site)}`)], [
            // Basic credentials only: an API token (`Authorization: token …`) the hub refuses is no password guess.
            d("SetEnvIfExpr", quoted(`%{HTTP:Authorization} =~ /^basic /i && ${untrusted}`), `${qosBasic}=1`, "QS_Cond=basic"),
            d("SetEnvIfExpr", quoted(`-n reqenv('${qosBasic}') && -n reqenv('${qosLogin}')`), "QS_Cond=login+basic"),
            d("QS_SetEnvIfStatus", 401, qosBasic401),
            d("QS_SetEnvIf", qosBasic, qosBasic401, `${qosBasicFail}=1`),
          ]),
        ]
      : []),
  ];
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
  return fileSetPayload(site.platform.fail2ban.service, [renderFail2banFilter(site), renderFail2banJail(site)]);
}
